from .fas_preprocessor import (CLIP_MEAN, CLIP_STD, IMAGENET_MEAN,
                               IMAGENET_STD, FASDataPreprocessor)
from .multi_view import (PLAIN_VIEW, collated_views, is_multi_view,
                         pipeline_num_views, plain_view, split_views)

__all__ = [
    'FASDataPreprocessor', 'CLIP_MEAN', 'CLIP_STD', 'IMAGENET_MEAN',
    'IMAGENET_STD', 'PLAIN_VIEW', 'collated_views', 'is_multi_view',
    'pipeline_num_views', 'plain_view', 'split_views'
]
