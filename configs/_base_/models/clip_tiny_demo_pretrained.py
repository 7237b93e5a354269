# The tiny CLIP of clip_tiny.py, pretrained contrastively on the synthetic
# demo's source domains (DemoA-C) with the captions the generator knows
# (live / spoof, print / replay / mask, texture cues, and the covered region
# and object of partial attacks), so its text tower knows the demo's words,
# as real configs start from OpenAI's CLIP. Make the weights first:
#   python tools/misc/make_demo_data.py --out data/demo
#   python tools/misc/pretrain_demo_clip.py   # -> data/demo/clip_tiny_demo.pth
# A drop-in replacement for clip_tiny.py:
#   model = dict(backbone={{_base_.tiny_clip_backbone}})
_base_ = ['./clip_tiny.py']

tiny_clip_backbone = dict(pretrained='data/demo/clip_tiny_demo.pth')
