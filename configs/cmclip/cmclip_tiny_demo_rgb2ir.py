# CM-CLIP on the synthetic demo's cross-modal few-shot task: RGB of DemoA-C
# + K IR shots per class of DemoD -> DemoD IR (each image one sample of
# one modality; the test reports fas/ir/*, fas/rgb/* and the pooled keys).
# The tiny CLIP starts from the demo CLIP (clip_tiny_demo_pretrained.py: the
# tiny CLIP pretrained on the demo's captions, so its text tower knows the
# words), frozen; the ADC-Adapters, the FGPL contexts and the meta-net train.
# Make the data and the demo CLIP first:
#   python tools/misc/make_demo_data.py --out data/demo \
#       --modalities rgb depth ir
#   python tools/misc/pretrain_demo_clip.py
# K (default 5 videos per class) and the shot seed: KSHOT / KSHOT_SEED in the
# environment (configs/_base_/datasets/demo_abc2d_rgb2ir.py, the same
# shots for every method), e.g.
#   KSHOT=1 python tools/train.py <this config> --test
_base_ = [
    '../_base_/models/cmclip_vitb16.py',
    '../_base_/models/clip_tiny_demo_pretrained.py',
    '../_base_/schedules/cmclip_adam_cosine.py',
    '../_base_/default_runtime.py',
    '../_base_/datasets/demo_abc2d_rgb2ir.py',
]

# the demo CLIP (frozen) with CM-CLIP's ADC-Adapters; the demo's modalities
model = dict(
    backbone=dict(_base_.tiny_clip_backbone, freeze='all',
                  adapters=_base_.cmclip_adapters),
    modalities=('rgb', 'ir'))

# short CPU schedule (the demo's): 400 iterations, lr 2e-3 cosine
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=20),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=20, end=400,
         eta_min=1e-5),
]
train_cfg = dict(max_iters=400, val_interval=100)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=100))
train_dataloader = dict(num_workers=2)
val_dataloader = dict(num_workers=2, batch_size=64)
test_dataloader = dict(num_workers=2, batch_size=64)
