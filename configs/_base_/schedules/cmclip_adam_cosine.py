# CM-CLIP's frozen-CLIP prompt-learning recipe (docs/methods/cmclip.md):
# Adam lr 2e-3, cosine decay, AMP on a GPU (tools/train.py --amp), equal
# count per (domain, modality, class) in a batch (the dataset base's
# DomainClassBalancedSampler). Only the prompt contexts, the meta-net and the
# adapters train. The length is our choice (the paper's is not public):
# 2000 iterations with a 50-iteration linear warm-up.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=2e-3, weight_decay=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0,
         end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=2000,
         eta_min=1e-6),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=250)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# the lr above is for a batch of 3 per (domain, modality, class) on one
# device: RGB + the target modality of one dataset, 3 x 2 x 2 = 12;
# `tools/train.py --auto-scale-lr` scales it by (devices x batch) / 12
auto_scale_lr = dict(enable=False, base_batch_size=12)
