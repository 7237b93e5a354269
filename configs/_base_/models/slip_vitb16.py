# Model of SLIP (docs/methods/slip.md) on CLIP ViT-B/16: both towers train,
# in two stages per batch (image: vision tower + cue decoder D; text: text
# tower + fusion R). The official code uses ViT-B/32 (slip_vitb32.py); the
# decoder adapts to the 14 x 14 grid of B/16. `reference=True` (or a dict of
# single switches) reproduces the official code's computation where mmfas
# fixes it; it is logged at build time.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='SLIP',
    backbone={{_base_.clip_backbone}},
    feature_weight=0.8,
    fd_mode='abs',
    reference=False)
