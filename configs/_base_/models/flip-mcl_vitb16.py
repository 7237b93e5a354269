# Model of FLIP-MCL on CLIP ViT-B/16 (methods.md section 0), FLIP's recipe:
# Adam lr 1e-6, wd 1e-6, constant lr, 4000 iterations, 3 images per
# (source domain, class) per batch, fp32, everything trainable.
# Normalisation: CLIP's mean/std (the clean preset); the *_legacy configs use
# ImageNet's as the reference code does.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='FLIPMCL',
    backbone={{_base_.clip_backbone}},
    templates=dict(type='TemplateBank'),
    projector=dict(type='SimCLRProjector', hidden_channels=4096,
                   out_channels=256),
    contrastive_loss=dict(type='InfoNCELoss', temperature=0.1),
    data_preprocessor=dict(type='FASDataPreprocessor'))
