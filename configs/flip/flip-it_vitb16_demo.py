# FLIP-IT with a full-size ViT-B/16 on the synthetic demo data: a GPU smoke
# test of the real architecture (tools/misc/gpu_check.sh). Random init, since
# the device machines cannot download weights; pass
# --cfg-options model.backbone.pretrained=/path/ViT-B-16.pt for OpenAI's.
_base_ = [
    '../_base_/models/flip-it_vitb16.py',
    '../_base_/datasets/demo_abc2d.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]

model = dict(backbone=dict(pretrained=None))
train_cfg = dict(max_iters=100, val_interval=50)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=50))
