from .base import BaseFASClassifier
from .flip import FLIPIT, FLIPMCL, FLIPV
from .slip import SLIP

__all__ = ['BaseFASClassifier', 'FLIPV', 'FLIPIT', 'FLIPMCL', 'SLIP']
