# FLIP-IT on the demo's cross-modal few-shot task (flip-it_tiny_demo_rgb2ir.py:
# RGB of DemoA-C + K ir shots per class of DemoD -> DemoD ir; KSHOT /
# KSHOT_SEED in the environment) starting from the demo CLIP, as CM-CLIP's
# demo does: the FLIP-IT baseline of configs/cmclip/README.md. First:
#   python tools/misc/make_demo_data.py --out data/demo --modalities rgb depth ir
#   python tools/misc/pretrain_demo_clip.py
_base_ = ['./flip-it_tiny_demo_rgb2ir.py']

model = dict(backbone=dict(pretrained='data/demo/clip_tiny_demo.pth'))
