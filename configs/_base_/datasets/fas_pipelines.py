# FLIP's data recipe: face crops at 224 px, HSV saturation x U(0.8, 1.2)
# (p=0.5), horizontal flip; SimCLR views for FLIP-MCL.
img_size = 224

# Normalisation is part of the data recipe, as in mmpretrain: the model takes
# this top-level data_preprocessor (the Runner's setdefault, and
# mmfas.utils.merge_data_preprocessor for every other path). CLIP's own
# mean / std (clean); the legacy preset (../presets/legacy.py) uses ImageNet's.
data_preprocessor = dict(
    type='FASDataPreprocessor',
    mean=[122.7709383, 116.7460125, 104.09373615],
    std=[68.5005327, 66.6321579, 70.32316305])

train_pipeline = [
    dict(type='LoadFASImages'),
    dict(type='FaceCrop', margin=0.0, missing='ignore'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='HSVSaturationJitter', saturation_range=(0.8, 1.2), prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackFASInputs'),
]

test_pipeline = [
    dict(type='LoadFASImages'),
    dict(type='FaceCrop', margin=0.0, missing='ignore'),
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='PackFASInputs'),
]

# Multi-view layout (pipeline -> collate -> data preprocessor -> model):
# mmfas/models/data_preprocessors/multi_view.py; a model declares num_views.
# FLIP-MCL: view 0 = the plain training view (cross-entropy), views 1-2 =
# SimCLR views (RandomResizedCrop 0.08-1, colour jitter 0.4/0.4/0.4/0.1
# p=0.8, grayscale p=0.2, Gaussian blur sigma 0.1-2 p=0.5, flip).
simclr_view = [
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.08, 1.)),
    dict(type='FastColorJitter', brightness=0.4, contrast=0.4,
         saturation=0.4, hue=0.1, prob=0.8),
    dict(type='RandomGrayscale', prob=0.2, keep_channels=True),
    dict(type='GaussianBlur', magnitude_range=(0.1, 2.0), magnitude_std='inf',
         prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
plain_view = [
    dict(type='Resize', scale=(img_size, img_size)),
    dict(type='HSVSaturationJitter', saturation_range=(0.8, 1.2), prob=0.5),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
mcl_train_pipeline = [
    dict(type='LoadFASImages'),
    dict(type='FaceCrop', margin=0.0, missing='ignore'),
    dict(type='MultiView', num_views=[1, 2],
         transforms=[plain_view, simclr_view]),
    dict(type='PackFASInputs'),
]
