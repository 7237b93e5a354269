# FLIP-V on the synthetic demo data with a tiny randomly initialised CLIP.
_base_ = ['../_base_/models/flip-v_vitb16.py', '../_base_/tiny_demo.py']

model = dict(backbone={{_base_.tiny_clip_backbone}})
