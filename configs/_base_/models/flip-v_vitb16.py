# Model of FLIP-V on CLIP ViT-B/16 (methods.md section 0), FLIP's recipe:
# Adam lr 1e-6, wd 1e-6, constant lr, 4000 iterations, 3 images per
# (source domain, class) per batch, fp32, everything trainable.
# Normalisation: CLIP's mean/std (the clean preset); the *_legacy configs use
# ImageNet's as the reference code does.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='FLIPV',
    backbone={{_base_.clip_backbone}},
    head=dict(type='FLIPVHead', hidden_channels=512, dropout=0.5),
    data_preprocessor=dict(type='FASDataPreprocessor'))
