# FLIP-MCL on the synthetic demo data (tools/misc/make_demo_data.py) with a
# tiny randomly initialised CLIP: trains end to end on a CPU in a few
# minutes. Leave-one-domain-out DemoA, DemoB, DemoC -> DemoD; the threshold
# comes from the sources' dev split (policy 'val').
_base_ = [
    '../_base_/models/flip-mcl_vitb16.py',
    '../_base_/datasets/demo_abc2d.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]

tiny_clip = dict(
    _delete_=True,
    embed_dim=32,
    quick_gelu=True,
    vision_cfg=dict(image_size=224, layers=2, width=64, head_width=32,
                    patch_size=16),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2,
                  layers=2))
model = dict(
    backbone=dict(arch=tiny_clip, pretrained=None, tokenizer='ViT-B-16'),
    projector=dict(hidden_channels=256, out_channels=64))

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

val_dataloader = dict(num_workers=2, batch_size=64)
test_dataloader = dict(num_workers=2, batch_size=64)
train_dataloader = dict(
    num_workers=2, dataset=dict(pipeline={{_base_.mcl_train_pipeline}}))
