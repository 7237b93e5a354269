from .contrastive import InfoNCELoss

__all__ = ['InfoNCELoss']
