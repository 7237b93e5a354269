from . import functional
from .metrics import *  # noqa: F401,F403

__all__ = ['functional', 'FASMetric', 'checkpoint_tag',  # noqa: F405
           'set_file_tag']
