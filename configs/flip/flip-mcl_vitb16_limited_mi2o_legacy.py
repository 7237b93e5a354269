_base_ = [
    '../_base_/models/flip-mcl_vitb16.py',
    '../_base_/datasets/limited_mi2o_legacy.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(dataset=dict(pipeline={{_base_.mcl_train_pipeline}}))

# Legacy preset: ImageNet normalisation (as the reference code),
# threshold at the target test EER (test_eer).
model = dict(data_preprocessor=dict(
    mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]))
