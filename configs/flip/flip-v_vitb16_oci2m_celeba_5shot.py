_base_ = [
    '../_base_/models/flip-v_vitb16.py',
    '../_base_/datasets/ocim_oci2m_celeba_5shot.py',
    '../_base_/schedules/flip_adam_4k.py',
    '../_base_/default_runtime.py',
]
