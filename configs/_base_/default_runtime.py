# Runtime shared by every mmfas config.
default_scope = 'mmfas'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # FASLoggerHook: LoggerHook writing integer metrics (fas/num_live) as
    # numbers in the run JSON; validation metrics are logged at their
    # iteration (training is iteration-based), not at "step": 0
    logger=dict(type='FASLoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Checkpoint selection uses the SOURCE validation split only (the val
    # dataloader); the best-by-source-val and the last checkpoint are kept.
    checkpoint=dict(
        type='CheckpointHook',
        interval=500,
        by_epoch=False,
        max_keep_ckpts=2,
        save_last=True,
        save_best='fas/HTER',
        rule='less'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # the model's own draws (prompts, template subsets, dropout) come from
    # a generator seeded by (seed, iteration, rank): resume replays them
    draw_seed=dict(type='ModelDrawSeedHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # tools/train.py switches to gloo on machines without CUDA
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False, window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
