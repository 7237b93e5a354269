# Runner hooks of mmfas methods live here.
from .logger_hook import FASLoggerHook

__all__ = ['FASLoggerHook']
