# The tiny CLIP and the short CPU schedule of the demo configs, without the
# data (tiny_demo.py adds the ABC->D demo; the cross-modal demos add
# datasets/demo_abc2d_rgb2{depth,ir}.py). A child adds a FLIP model and swaps
# its backbone: model = dict(backbone={{_base_.tiny_clip_backbone}})
_base_ = [
    './models/clip_tiny.py',
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
