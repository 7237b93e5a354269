from . import functional, iso, score_files
from .metrics import *  # noqa: F401,F403

__all__ = ['functional', 'iso', 'score_files',  # noqa: F405
           'FASMetric', 'checkpoint_tag', 'set_file_tag']
