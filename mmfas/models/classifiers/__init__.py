from .base import BaseFASClassifier
from .cmclip import CMCLIP
from .flip import FLIPIT, FLIPMCL, FLIPV
from .slip import SLIP
from .lpi import LPI

__all__ = [
    'BaseFASClassifier', 'CMCLIP', 'FLIPV', 'FLIPIT', 'FLIPMCL', 'SLIP', 'LPI'
]
