from . import functional
from .metrics import *  # noqa: F401,F403

__all__ = ['functional', 'FASMetric']  # noqa: F405
