# FLIP's recipe: Adam lr 1e-6, weight decay 1e-6, constant lr, 4000 iters.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-6, weight_decay=1e-6))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The lr above is FLIP's for its balanced batch of 3 images per (source
# domain, class) over 3 sources, 3 x 2 x 3 = 18, on one device.
# `tools/train.py --auto-scale-lr` multiplies it by (devices x batch) / 18.
auto_scale_lr = dict(enable=False, base_batch_size=18)
