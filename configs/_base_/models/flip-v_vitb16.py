# Model of FLIP-V on CLIP ViT-B/16 (docs/methods/flip.md), FLIP's recipe:
# Adam lr 1e-6, wd 1e-6, constant lr, 4000 iterations, 3 images per
# (source domain, class) per batch, fp32, everything trainable.
# Normalisation comes with the data recipe (the top-level data_preprocessor
# of the dataset bases): CLIP's mean/std, ImageNet's in the legacy preset
# (configs/_base_/presets/legacy.py) as the reference code does.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='FLIPV',
    backbone={{_base_.clip_backbone}},
    head=dict(type='FLIPVHead', hidden_channels=512, dropout=0.5))
