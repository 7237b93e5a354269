# Runner hooks of mmfas methods live here.
from .draw_seed_hook import ModelDrawSeedHook, draw_seed
from .logger_hook import FASLoggerHook

__all__ = ['FASLoggerHook', 'ModelDrawSeedHook', 'draw_seed']
