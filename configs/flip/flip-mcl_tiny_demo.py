# FLIP-MCL on the synthetic demo data with a tiny randomly initialised CLIP
# (3 views per sample: plain + two SimCLR views).
_base_ = ['../_base_/models/flip-mcl_vitb16.py', '../_base_/tiny_demo.py']

model = dict(
    backbone={{_base_.tiny_clip_backbone}},
    projector=dict(hidden_channels=256, out_channels=64))
train_dataloader = dict(dataset=dict(pipeline={{_base_.mcl_train_pipeline}}))
