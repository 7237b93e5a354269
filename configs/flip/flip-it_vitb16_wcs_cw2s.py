_base_ = [
    '../_base_/models/flip-it_vitb16.py',
    '../_base_/datasets/wcs_cw2s.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]
