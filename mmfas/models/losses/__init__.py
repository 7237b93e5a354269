from .contrastive import InfoNCELoss
from .decorrelation import DecorrelationLoss
from .prototype import PrototypeContrastiveLoss

__all__ = ['InfoNCELoss', 'DecorrelationLoss', 'PrototypeContrastiveLoss']
