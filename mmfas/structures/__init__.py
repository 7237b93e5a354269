"""Data conventions shared by models, metrics and tools."""
from . import score_rule
from .score_rule import (CLASS_ALIASES, CLASSES, DEFAULT_THRESHOLD,
                         LIVE_INDEX, SCORE_KINDS, SPOOF_INDEX,
                         canonical_class, check_class_order,
                         check_score_kind, check_threshold, class_name,
                         decide, is_live, live_score, read_live_score,
                         set_prediction)

__all__ = [
    'score_rule', 'CLASSES', 'SPOOF_INDEX', 'LIVE_INDEX', 'CLASS_ALIASES',
    'SCORE_KINDS', 'DEFAULT_THRESHOLD', 'canonical_class',
    'check_class_order', 'check_score_kind', 'check_threshold',
    'live_score', 'decide', 'is_live', 'class_name', 'set_prediction',
    'read_live_score'
]
