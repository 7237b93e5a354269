# FLIP-IT on the synthetic demo data with a tiny randomly initialised CLIP:
# trains end to end on a CPU in a few minutes (README command 1).
_base_ = ['../_base_/models/flip-it_vitb16.py', '../_base_/tiny_demo.py']

model = dict(backbone={{_base_.tiny_clip_backbone}})
