"""A ``LoggerHook`` whose run JSON keeps every numeric metric."""
import numpy as np
from mmengine.hooks import LoggerHook

from mmfas.registry import HOOKS


@HOOKS.register_module()
class FASLoggerHook(LoggerHook):
    """mmengine's ``LoggerHook`` with numpy scalars written as plain
    numbers in the test JSON (``<timestamp>/<timestamp>.json``).

    The message hub keeps each scalar in a numpy array, so an ``int`` metric
    such as ``fas/num_live`` comes back as ``np.int64``, which
    ``LoggerHook._process_tags`` drops (``null`` in the JSON). Here numpy
    scalars become Python ``int`` / ``float`` / ``bool``; everything else
    is as in ``LoggerHook`` (all its arguments apply, e.g.
    ``log_metric_by_epoch=False`` to log validation metrics at their
    iteration in ``vis_data/scalars.json``).
    """

    @staticmethod
    def _process_tags(tags: dict):

        def plain(value):
            if isinstance(value, np.generic):
                return value.item()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, (list, tuple)):
                return type(value)(plain(v) for v in value)
            return value

        return LoggerHook._process_tags(plain(tags))
