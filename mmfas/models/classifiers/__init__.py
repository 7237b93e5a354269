from .base import BaseFASClassifier
from .flip import FLIPIT, FLIPMCL, FLIPV

__all__ = ['BaseFASClassifier', 'FLIPV', 'FLIPIT', 'FLIPMCL']
