# FLIP-V on the synthetic demo data (flip-v_tiny_demo.py) starting from the
# demo CLIP (configs/_base_/models/clip_tiny_demo_pretrained.py: the tiny
# CLIP pretrained with the demo's captions) instead of a random one: the
# FLIP-V row next to LPI's demo results. First:
#   python tools/misc/make_demo_data.py --out data/demo
#   python tools/misc/pretrain_demo_clip.py
_base_ = ['./flip-v_tiny_demo.py']

model = dict(backbone=dict(pretrained='data/demo/clip_tiny_demo.pth'))
