from .annotation import (CLASSES, LABELS, AnnotationError, load_annotations,
                         make_record, validate_annotations, write_annotations)
from .fas_dataset import FASDataset, select_kshot_videos
from .samplers import *  # noqa: F401,F403
from .transforms import *  # noqa: F401,F403

__all__ = [
    'FASDataset', 'select_kshot_videos', 'load_annotations',
    'validate_annotations', 'make_record', 'write_annotations',
    'AnnotationError', 'LABELS', 'CLASSES'
]
