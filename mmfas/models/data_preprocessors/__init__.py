from .fas_preprocessor import (CLIP_MEAN, CLIP_STD, IMAGENET_MEAN,
                               IMAGENET_STD, FASDataPreprocessor)

__all__ = [
    'FASDataPreprocessor', 'CLIP_MEAN', 'CLIP_STD', 'IMAGENET_MEAN',
    'IMAGENET_STD'
]
