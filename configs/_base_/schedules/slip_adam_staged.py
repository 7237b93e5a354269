# SLIP's recipe: Adam lr 5e-5, betas (0.9, 0.98), eps 1e-6, weight decay 0.2,
# one optimizer per stage (image, text) through the staged constructor
# (docs/staged_training.md); each stage's parameters move only in its step.
# The official code trains 50 epochs of batch 8 on the live frames; on the
# OCIM one-class protocols (about 800 live source frames, two per video) that
# is about 5000 iterations.
optim_wrapper = dict(
    constructor='StagedOptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=5e-5, betas=(0.9, 0.98), eps=1e-6,
                   weight_decay=0.2))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=5000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=8)
