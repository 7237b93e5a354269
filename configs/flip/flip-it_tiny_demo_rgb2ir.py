# FLIP-IT with the tiny randomly initialised CLIP on the demo's cross-modal
# few-shot task: RGB of DemoA-C + K IR shots per class of DemoD (KSHOT,
# default 5) -> DemoD IR (each image one sample of one modality; the test
# reports fas/ir/*, fas/rgb/* and the pooled keys). Make the data first:
# python tools/misc/make_demo_data.py --out data/demo --modalities rgb depth ir
# The baseline of CM-CLIP's demo (configs/cmclip/README.md).
_base_ = [
    '../_base_/models/flip-it_vitb16.py', '../_base_/tiny_demo_schedule.py',
    '../_base_/datasets/demo_abc2d_rgb2ir.py'
]

model = dict(backbone={{_base_.tiny_clip_backbone}})
train_dataloader = dict(num_workers=2)
val_dataloader = dict(num_workers=2, batch_size=64)
test_dataloader = dict(num_workers=2, batch_size=64)
