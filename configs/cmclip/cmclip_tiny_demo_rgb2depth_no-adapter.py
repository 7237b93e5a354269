# Ablation of cmclip_tiny_demo_rgb2depth.py: no adapter; the image encoder
# is the frozen CLIP as it is, only the prompts (and the meta-net) train.
_base_ = ['./cmclip_tiny_demo_rgb2depth.py']

model = dict(backbone=dict(adapters=None))
