from .fas_metric import FASMetric

__all__ = ['FASMetric']
