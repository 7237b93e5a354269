_base_ = [
    '../_base_/models/flip-mcl_vitb16.py',
    '../_base_/datasets/wcs_sw2c.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(dataset=dict(pipeline={{_base_.mcl_train_pipeline}}))
