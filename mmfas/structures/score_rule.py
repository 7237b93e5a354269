"""The one score rule of mmfas: class order, liveness score, decision.

Every model's ``predict``, :class:`~mmfas.evaluation.FASMetric`, the
inference API (:mod:`mmfas.apis`), the deployment export and the deployed
threshold go through this module; nothing else knows which column is live.

* **Class order** :data:`CLASSES` = ``('spoof', 'live')``: label 0 = spoof,
  label 1 = live (:data:`SPOOF_INDEX`, :data:`LIVE_INDEX`). Accepted aliases
  (:data:`CLASS_ALIASES`): ``real`` / ``bonafide`` for live, ``attack`` for
  spoof (:func:`canonical_class`, :func:`check_class_order`).
* **Liveness score** in ``[0, 1]``, higher = more live. A model declares its
  ``score_kind`` (:data:`SCORE_KINDS`) and :func:`live_score` turns its raw
  output into the score:

  - ``'logits'``: ``(B, 2)`` logits in class order ``[spoof, live]``;
    score = ``softmax(logits)[:, LIVE_INDEX]`` = P(live).
  - ``'spoof_map'``: a predicted spoof cue map ``(B, ...)`` with values in
    ``[0, 1]`` (1 = spoof cue; SLIP); score = ``1 - mean`` over every
    non-batch dimension. A ``(B, )`` input is already the mean spoofness.
  - ``'distance'``: a one-class distance ``(B, )`` >= 0 to the live class
    (0 = prototypical live); score = ``exp(-d / scale)``, a strictly
    decreasing map of ``[0, inf)`` onto ``(0, 1]`` (``scale`` > 0, default
    1, is the distance at which the score is ``1/e``).

* **Decision rule**: a sample is live iff ``live_score >= threshold``
  (:func:`decide`; an attack exactly at the threshold is accepted, which the
  metric counts as an error). Without a known threshold the uncalibrated
  midpoint :data:`DEFAULT_THRESHOLD` = 0.5 is used; it is never an argmax.
* **Data samples**: :func:`set_prediction` writes ``live_score`` (0-d
  tensor), ``pred_score`` = ``[1 - s, s]`` (class order) and ``pred_label``
  (the decision); :func:`read_live_score` is how consumers read it back.
"""
import math
from typing import Dict, List, Optional, Sequence, Union

import torch

__all__ = [
    'CLASSES', 'SPOOF_INDEX', 'LIVE_INDEX', 'CLASS_ALIASES', 'SCORE_KINDS',
    'DEFAULT_THRESHOLD', 'canonical_class', 'check_class_order',
    'check_score_kind', 'check_threshold', 'live_score', 'decide',
    'is_live', 'class_name', 'set_prediction', 'read_live_score'
]

#: class order of every mmfas model, label and score
CLASSES = ('spoof', 'live')
SPOOF_INDEX = 0
LIVE_INDEX = 1
#: accepted class names -> canonical name
CLASS_ALIASES: Dict[str, str] = {
    'spoof': 'spoof',
    'attack': 'spoof',
    'live': 'live',
    'real': 'live',
    'bonafide': 'live',
}
#: how a model's raw output becomes a liveness score (see module doc)
SCORE_KINDS = ('logits', 'spoof_map', 'distance')
#: the threshold used when none is known (uncalibrated midpoint)
DEFAULT_THRESHOLD = 0.5


def canonical_class(name: str) -> str:
    """``'spoof'`` or ``'live'`` for a class name or alias (case-insensitive).

    Raises:
        ValueError: an unknown name, naming the accepted ones.
    """
    key = str(name).strip().lower()
    if key not in CLASS_ALIASES:
        raise ValueError(
            f'unknown FAS class name {name!r}: mmfas classes are '
            f'{list(CLASSES)} (aliases: ' + ', '.join(
                f'{a!r}->{c!r}' for a, c in CLASS_ALIASES.items()
                if a != c) + ')')
    return CLASS_ALIASES[key]


def check_class_order(names: Sequence[str],
                      what: str = 'class_names') -> List[str]:
    """Check that ``names`` is ``[spoof, live]`` (aliases allowed).

    Args:
        names (Sequence[str]): Class names in label order.
        what (str): What to call ``names`` in the error. Defaults to
            ``'class_names'``.

    Returns:
        list[str]: The canonical names, ``['spoof', 'live']``.

    Raises:
        ValueError: an unknown name, a wrong count or a wrong order (e.g.
            ``['real', 'spoof']``, which would invert every score).
    """
    names = list(names)
    canon = [canonical_class(n) for n in names]
    if canon != list(CLASSES):
        raise ValueError(
            f'{what}={names!r} is not in the mmfas class order '
            f'{list(CLASSES)} (label {SPOOF_INDEX} = spoof, label '
            f'{LIVE_INDEX} = live; aliases real/bonafide = live, attack = '
            'spoof). Reorder them; another order would invert every score.')
    return canon


def check_score_kind(kind: str, owner: str = 'score_kind') -> str:
    if kind not in SCORE_KINDS:
        raise ValueError(f'{owner}={kind!r} is not a score kind; choose from '
                         f'{SCORE_KINDS} (mmfas.structures.score_rule)')
    return kind


def check_threshold(threshold, what: str = 'threshold') -> float:
    """A decision threshold as a float in ``[0, 1]``.

    Raises:
        ValueError: not a finite number in ``[0, 1]``.
    """
    ok = isinstance(threshold, (int, float)) and not isinstance(
        threshold, bool)
    if ok:
        threshold = float(threshold)
        ok = math.isfinite(threshold) and 0.0 <= threshold <= 1.0
    if not ok:
        raise ValueError(f'{what} must be a liveness threshold in [0, 1] '
                         f'(live iff live_score >= threshold), got '
                         f'{threshold!r}')
    return threshold


def live_score(output: torch.Tensor,
               kind: str,
               scale: float = 1.0) -> torch.Tensor:
    """The liveness score ``(B, )`` in ``[0, 1]`` of a model's raw output.

    Args:
        output (Tensor): ``(B, 2)`` logits (``'logits'``), a ``(B, ...)``
            spoof cue map in ``[0, 1]`` (``'spoof_map'``) or ``(B, )``
            distances >= 0 (``'distance'``).
        kind (str): One of :data:`SCORE_KINDS`.
        scale (float): Distance scale of ``'distance'``. Defaults to 1.

    Returns:
        Tensor: ``(B, )`` float32 liveness scores.

    Raises:
        ValueError: an unknown kind, a wrong shape, a spoof map outside
            ``[0, 1]`` or a negative distance.
    """
    check_score_kind(kind)
    if not isinstance(output, torch.Tensor):
        raise TypeError(f'score_kind={kind!r}: the model output must be a '
                        f'tensor, got {type(output).__name__}')
    out = output.detach().float()
    if kind == 'logits':
        if out.dim() != 2 or out.size(1) != len(CLASSES):
            raise ValueError(
                "score_kind='logits' needs (B, 2) logits in class order "
                f'{list(CLASSES)}, got shape {tuple(out.shape)}')
        return out.softmax(dim=1)[:, LIVE_INDEX]
    if out.dim() == 0:
        raise ValueError(f'score_kind={kind!r} needs a batch dimension, got '
                         'a 0-d tensor')
    if kind == 'spoof_map':
        bad = (out < 0) | (out > 1)
        if bool(bad.any()):
            raise ValueError(
                "score_kind='spoof_map' needs spoof cue maps in [0, 1], got "
                f'values in [{float(out.min()):.4g}, {float(out.max()):.4g}]'
                ' (rescale the map, e.g. a 0..255 map by 1/255)')
        spoofness = out.reshape(out.size(0), -1).mean(dim=1)
        return 1.0 - spoofness
    # distance
    if out.dim() != 1:
        raise ValueError("score_kind='distance' needs (B, ) distances, got "
                         f'shape {tuple(out.shape)}')
    if not (isinstance(scale, (int, float)) and scale > 0):
        raise ValueError(f'distance scale must be > 0, got {scale!r}')
    if bool((out < 0).any()):
        raise ValueError("score_kind='distance' needs distances >= 0, got "
                         f'min {float(out.min()):.4g}')
    return torch.exp(-out / float(scale))


def decide(scores: Union[torch.Tensor, float],
           threshold: Optional[float] = None) -> torch.Tensor:
    """Labels by the decision rule: :data:`LIVE_INDEX` iff ``score >=
    threshold``, else :data:`SPOOF_INDEX`.

    Args:
        scores (Tensor | float): Liveness scores.
        threshold (float, optional): None uses :data:`DEFAULT_THRESHOLD`.
            Any real number is allowed (a threshold just above the highest
            score rejects everything); NaN is an error.

    Returns:
        LongTensor: Labels of ``scores``' shape.
    """
    if threshold is None:
        thr = DEFAULT_THRESHOLD
    else:
        thr = float(threshold)
        if math.isnan(thr):
            raise ValueError('the decision threshold is NaN: no decision '
                             'can be made')
    # compare in float64, as the metric does: a float32 comparison would
    # round the threshold and could accept a score just below it
    scores = scores.double() if isinstance(scores, torch.Tensor) else \
        torch.as_tensor(scores, dtype=torch.float64)
    return torch.where(scores >= thr, LIVE_INDEX, SPOOF_INDEX).long()


def is_live(score: float, threshold: Optional[float] = None) -> bool:
    """The decision rule for one score (see :func:`decide`)."""
    return bool(decide(float(score), threshold) == LIVE_INDEX)


def class_name(label: Union[int, torch.Tensor]) -> str:
    """``'spoof'`` or ``'live'`` of a label."""
    label = int(torch.as_tensor(label).reshape(-1)[0])
    if label not in (SPOOF_INDEX, LIVE_INDEX):
        raise ValueError(f'labels are {SPOOF_INDEX} (spoof) or {LIVE_INDEX} '
                         f'(live), got {label}')
    return CLASSES[label]


def set_prediction(sample, score: Union[torch.Tensor, float],
                   threshold: Optional[float] = None):
    """Write one sample's prediction by the score rule.

    Sets ``live_score`` (0-d float tensor), ``pred_score`` = ``[1 - s, s]``
    (class order) and ``pred_label`` = :func:`decide` ``(s, threshold)``.

    Args:
        sample (DataSample): The data sample to fill.
        score (Tensor | float): Its liveness score in ``[0, 1]``.
        threshold (float, optional): The decision threshold; None uses
            :data:`DEFAULT_THRESHOLD`.

    Returns:
        DataSample: ``sample``.
    """
    s = torch.as_tensor(score, dtype=torch.float32).detach().reshape(())
    pred = torch.zeros(len(CLASSES), dtype=s.dtype, device=s.device)
    pred[LIVE_INDEX] = s
    pred[SPOOF_INDEX] = 1.0 - s
    sample.set_field(s, 'live_score')
    sample.set_pred_score(pred)
    sample.set_pred_label(decide(s.cpu(), threshold).reshape(1))
    return sample


def read_live_score(sample) -> float:
    """The liveness score of a data sample (a ``DataSample`` or its
    ``to_dict()``) written by :func:`set_prediction`.

    Raises:
        ValueError: no ``live_score``, or a ``pred_score`` that disagrees
            with it (a ``predict`` that bypassed the score rule).
    """
    get = sample.get
    s = get('live_score')
    if s is None:
        keys = sorted(sample.keys()) if hasattr(sample, 'keys') else []
        raise ValueError(
            'a data sample has no `live_score` (keys: '
            f'{keys}); predictions must be written by the score rule '
            '(BaseFASClassifier.predict, or '
            'mmfas.structures.set_prediction(sample, live_score)).')
    s = float(torch.as_tensor(s).reshape(-1)[0])
    pred = get('pred_score')
    if pred is not None:
        pred = torch.as_tensor(pred).detach().reshape(-1)
        same = pred.numel() == len(CLASSES) and (
            math.isclose(float(pred[LIVE_INDEX]), s, rel_tol=0, abs_tol=1e-5)
            or (math.isnan(s) and math.isnan(float(pred[LIVE_INDEX]))))
        if not same:
            raise ValueError(
                f'a data sample has live_score={s:.6g} but pred_score='
                f'{pred.tolist()}; pred_score must be [1 - s, s] in class '
                f'order {list(CLASSES)} (write both with '
                'mmfas.structures.set_prediction)')
    return s
