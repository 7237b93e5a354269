# What the three FLIP demo configs share: the synthetic demo data
# (tools/misc/make_demo_data.py; leave-one-domain-out DemoA, DemoB, DemoC ->
# DemoD, threshold from the sources' dev split), the tiny CLIP, and a short
# CPU schedule. A child adds a FLIP model and swaps its backbone:
#   model = dict(backbone={{_base_.tiny_clip_backbone}})
_base_ = ['./tiny_demo_schedule.py', './datasets/demo_abc2d.py']

train_dataloader = dict(num_workers=2)
val_dataloader = dict(num_workers=2, batch_size=64)
test_dataloader = dict(num_workers=2, batch_size=64)
