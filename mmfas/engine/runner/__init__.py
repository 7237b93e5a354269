from .fas_runner import FASRunner

__all__ = ['FASRunner']
