from .formatting import PackFASInputs
from .loading import LoadFASImages
from .processing import FaceCrop, FastColorJitter, HSVSaturationJitter

__all__ = [
    'LoadFASImages', 'FaceCrop', 'HSVSaturationJitter', 'FastColorJitter',
    'PackFASInputs'
]
