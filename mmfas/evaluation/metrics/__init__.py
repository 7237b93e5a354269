from .fas_metric import FASMetric, checkpoint_tag, set_file_tag

__all__ = ['FASMetric', 'checkpoint_tag', 'set_file_tag']
