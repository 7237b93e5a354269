# LPI on the synthetic demo data (leave-one-domain-out DemoA-C -> DemoD),
# starting from the demo CLIP: the tiny CLIP pretrained with the demo's
# captions (configs/_base_/models/clip_tiny_demo_pretrained.py), kept frozen
# as LPI keeps OpenAI's CLIP frozen. Make data and weights first:
#   python tools/misc/make_demo_data.py --out data/demo
#   python tools/misc/pretrain_demo_clip.py   # -> data/demo/clip_tiny_demo.pth
# then: python tools/train.py configs/lpi/lpi_tiny_demo.py --test
# The tiny CLIP has 2 blocks: the default layers (3, 6, 9) of 12 scale to
# (0, 1), i.e. interaction before both blocks.
_base_ = ['../_base_/models/lpi_vitb16.py', '../_base_/tiny_demo.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='OpenCLIPBackbone',
        arch={{_base_.tiny_clip_backbone.arch}},
        pretrained='data/demo/clip_tiny_demo.pth',
        tokenizer='ViT-B-16',
        freeze='all'))

# prompts on a frozen CLIP: the demo schedule of tiny_demo.py (400 iters,
# warm-up + cosine) with a prompt-learning lr and little weight decay
optim_wrapper = dict(optimizer=dict(lr=2e-3, weight_decay=1e-4))
