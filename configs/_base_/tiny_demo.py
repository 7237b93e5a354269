# What the three FLIP demo configs share: the synthetic demo data
# (tools/misc/make_demo_data.py; leave-one-domain-out DemoA, DemoB, DemoC ->
# DemoD, threshold from the sources' dev split), the tiny CLIP, and a short
# CPU schedule. A child adds a FLIP model and swaps its backbone:
#   model = dict(backbone={{_base_.tiny_clip_backbone}})
_base_ = [
    './models/clip_tiny.py',
    './datasets/demo_abc2d.py',
    './schedules/flip_adam_4k.py',
    './default_runtime.py',
]

# a randomly initialised model needs a much larger lr than fine-tuning CLIP
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=400,
         eta_min=1e-5),
]
train_cfg = dict(max_iters=400, val_interval=100)
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=100))

train_dataloader = dict(num_workers=2)
val_dataloader = dict(num_workers=2, batch_size=64)
test_dataloader = dict(num_workers=2, batch_size=64)
