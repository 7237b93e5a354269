# LPI's schedule (docs/methods/lpi.md, our design: the paper gives none
# beyond "Adam / AdamW with a cosine schedule"): AdamW for the prompts,
# projections, cross-attention and gates on a frozen CLIP, lr 2e-3 with a
# 200-iteration linear warm-up, then cosine to 1e-6 at 4000 iterations.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=1e-4))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=200),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=200, end=4000,
         eta_min=1e-6),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The lr above is for the balanced batch of 3 images per (source domain,
# class) over 3 sources, 3 x 2 x 3 = 18, on one device.
# `tools/train.py --auto-scale-lr` multiplies it by (devices x batch) / 18.
auto_scale_lr = dict(enable=False, base_batch_size=18)
