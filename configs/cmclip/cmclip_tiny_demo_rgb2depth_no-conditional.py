# Ablation of cmclip_tiny_demo_rgb2depth.py: no input-conditional token (no
# CoCoOp meta-net; the prompts are the same for every image).
_base_ = ['./cmclip_tiny_demo_rgb2depth.py']

model = dict(conditional=False)
