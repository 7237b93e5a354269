"""Vectorised numpy implementations of the face anti-spoofing metrics.

The contract is ``docs/evaluation.md`` of the project; in short:

* labels: ``pos_label`` (default 1) is bona fide / live, any other value is an
  attack / spoof (mmfas uses ``live = 1`` and ``spoof = 0``);
* scores are **liveness** scores: a sample is accepted as live iff
  ``score >= threshold``, so an attack exactly at the threshold is an error;
* rates are returned as fractions in ``[0, 1]`` (the metric converts to
  percent);
* degenerate input never yields a silent 0 or 1: empty input and NaN / inf
  scores raise a ``ValueError``; a rate whose denominator class is absent (one
  class only) is ``nan`` and a :class:`DegenerateInputWarning` is issued.

Everything is computed from one ``argsort`` of the scores
(:class:`BinaryROC`), so a million scores take a fraction of a second.
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'DegenerateInputWarning', 'check_scores_labels', 'BinaryROC', 'roc_curve',
    'roc_auc', 'eer', 'tpr_at_fpr', 'bpcer_at_apcer', 'threshold_at_apcer',
    'threshold_at_bpcer', 'error_rates', 'aggregate_by_video', 'rate_key'
]

ArrayLike = Union[np.ndarray, Sequence]

# Relative slack when comparing an integer error count with ``rate * total``,
# so that e.g. 0.29 * 100 = 28.999999999999996 still admits 29 errors.
_RTOL = 1e-9


class DegenerateInputWarning(UserWarning):
    """A metric is undefined for the given input (e.g. one class only) and is
    reported as ``nan``."""


def _warn(msg: str) -> None:
    warnings.warn(msg, DegenerateInputWarning, stacklevel=3)


def rate_key(name: str, value: float) -> str:
    """Name of an operating-point metric, e.g. ``rate_key('TPR@FPR', 0.01)``
    -> ``'TPR@FPR=1e-2'`` and ``rate_key('BPCER@APCER', 0.05)`` ->
    ``'BPCER@APCER=5e-2'``."""
    return f'{name}=' + np.format_float_scientific(
        float(value), trim='-', exp_digits=1)


def _check_rate(value: float, name: str) -> float:
    value = float(value)
    if not 0. <= value <= 1.:
        raise ValueError(f'{name} must be a rate in [0, 1], got {value!r}.')
    return value


def _check_scores(scores: ArrayLike, what: str = 'scores') -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        scores = scores.reshape(-1)
    if scores.size == 0:
        raise ValueError(f'Empty input: no {what} to evaluate.')
    finite = np.isfinite(scores)
    if not finite.all():
        num_nan = int(np.isnan(scores).sum())
        num_inf = int((~finite).sum()) - num_nan
        raise ValueError(
            f'{num_nan} of {scores.size} {what} are NaN and {num_inf} are '
            'infinite; the model output is broken (check for overflow, a '
            'diverged training run or an empty face crop).')
    return scores


def check_scores_labels(scores: ArrayLike,
                        labels: ArrayLike,
                        pos_label: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """Validate scores and labels.

    Args:
        scores (array-like): ``(N, )`` liveness scores.
        labels (array-like): ``(N, )`` labels; ``pos_label`` is live.
        pos_label (int): The live (bona fide) label. Defaults to 1.

    Returns:
        tuple: ``scores`` as float64 and ``is_live`` as a boolean array.

    Raises:
        ValueError: Empty input, NaN/inf scores (the message says how many),
            mismatched lengths or more than two label values.
    """
    scores = _check_scores(scores)
    labels = np.asarray(labels).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f'Got {scores.size} scores but {labels.size} '
                         'labels.')
    is_live = labels == pos_label
    others = np.unique(labels[~is_live])
    if others.size > 1:
        raise ValueError(
            f'Labels must be binary: pos_label={pos_label!r} (live) and one '
            f'spoof label, got spoof labels {others.tolist()}.')
    return scores, is_live


class BinaryROC:
    """The ROC of liveness scores, from a single ``argsort``.

    The curve has one point per "accept the samples with ``score >= t``" for
    ``t`` running over the distinct scores in descending order, preceded by
    the point that accepts nothing. Every metric of this module that needs
    the curve is a method, so one sort serves AUC, EER, TPR@FPR, BPCER@APCER
    and the thresholds at a target rate.

    Each point also has a *decision threshold* that reproduces it under the
    rule ``score >= threshold`` and lies on the actual score values: the
    midpoint between the two neighbouring distinct scores; the minimum score
    for the accept-all point; the float just above the maximum score for the
    accept-nothing point.

    Args:
        scores (array-like): ``(N, )`` liveness scores.
        labels (array-like): ``(N, )`` labels.
        pos_label (int): The live label. Defaults to 1.
        attack_types (array-like, optional): ``(N, )`` attack type (PAI
            species) of each sample, used to make APCER the maximum over the
            types in :meth:`threshold_at_apcer`. Values of live samples are
            ignored. Defaults to None (APCER pooled over all attacks).
    """

    def __init__(self,
                 scores: ArrayLike,
                 labels: ArrayLike,
                 pos_label: int = 1,
                 attack_types: Optional[ArrayLike] = None) -> None:
        scores, is_live = check_scores_labels(scores, labels, pos_label)
        self.num_live = int(is_live.sum())
        self.num_spoof = int(is_live.size - self.num_live)
        order = np.argsort(-scores)  # descending
        sorted_scores = scores[order]
        # last index of every group of equal scores in the sorted array
        ends = np.append(
            np.flatnonzero(np.diff(sorted_scores)), scores.size - 1)
        self._order, self._ends = order, ends
        # distinct scores, descending
        self.scores = sorted_scores[ends]
        # (K + 1, ) counts of accepted live / spoof samples per point
        self.tps = np.append(0, np.cumsum(is_live[order])[ends])
        self.fps = np.append(0, ends + 1 - self.tps[1:])
        self._is_live = is_live
        self._attack_types = (None if attack_types is None else
                              np.asarray(attack_types).reshape(-1))
        if (self._attack_types is not None
                and self._attack_types.shape != scores.shape):
            raise ValueError(f'Got {scores.size} scores but '
                             f'{self._attack_types.size} attack types.')

        hi, lo = self.scores[:-1], self.scores[1:]
        mid = 0.5 * hi + 0.5 * lo
        # adjacent floats: the rounded midpoint may fall on the lower score,
        # which would accept it; the higher score gives the same decisions.
        mid = np.where(mid > lo, mid, hi)
        self.thresholds = np.concatenate(
            [[np.nextafter(self.scores[0], np.inf)], mid, self.scores[-1:]])

    # -- curve -----------------------------------------------------------
    def _need(self, live: bool, spoof: bool, what: str) -> bool:
        missing = []
        if live and self.num_live == 0:
            missing.append('live (bona fide)')
        if spoof and self.num_spoof == 0:
            missing.append('spoof (attack)')
        if missing:
            _warn(f'{what} is undefined without {" and ".join(missing)} '
                  f'samples (got {self.num_live} live, {self.num_spoof} '
                  'spoof); reporting nan.')
            return False
        return True

    def _div(self, num, den):
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.asarray(num, dtype=np.float64) / den if den else \
                np.full(np.shape(num), np.nan)

    def curve(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(fpr, tpr, thresholds)`` as :func:`sklearn.metrics.roc_curve`
        with ``drop_intermediate=False``: the first point has threshold
        ``inf``, the others the distinct scores (accept iff ``>=``)."""
        self._need(True, True, 'The ROC curve')
        fpr = self._div(self.fps, self.num_spoof)
        tpr = self._div(self.tps, self.num_live)
        return fpr, tpr, np.append(np.inf, self.scores)

    def auc(self) -> float:
        """Exact area under the ROC curve (Mann-Whitney U / (P * N), a tie
        between a live and a spoof score counts one half)."""
        if not self._need(True, True, 'AUC'):
            return float('nan')
        dx = np.diff(self.fps).astype(np.float64)
        ysum = (self.tps[1:] + self.tps[:-1]).astype(np.float64)
        return float(np.dot(dx, ysum) / 2. / self.num_live / self.num_spoof)

    def eer(self) -> Tuple[float, float]:
        """Equal error rate and its threshold.

        The threshold is searched over the points of the curve (midpoints
        between distinct scores): the one where FAR (spoof accepted) and FRR
        (live rejected) are closest; among equally close points the higher
        threshold wins. The EER is ``(FAR + FRR) / 2`` there.

        Returns:
            tuple: ``(eer, threshold)``, both ``nan`` for one class only.
        """
        if not self._need(True, True, 'EER'):
            return float('nan'), float('nan')
        P, N = self.num_live, self.num_spoof
        frr_cnt = P - self.tps
        # |FAR - FRR| * P * N in exact integers; argmin picks the first
        # minimum, i.e. the highest threshold.
        idx = int(np.argmin(np.abs(self.fps * P - frr_cnt * N)))
        far, frr = self.fps[idx] / N, frr_cnt[idx] / P
        return float((far + frr) / 2.), float(self.thresholds[idx])

    def tpr_at_fpr(self, fpr: Union[float, Sequence[float]]):
        """Largest TPR (live accepted) whose FPR (spoof accepted) is
        ``<= fpr``. Returns a float, or an array for a sequence."""
        fprs = np.asarray([_check_rate(x, 'fpr') for x in np.atleast_1d(fpr)])
        if not self._need(True, True, 'TPR@FPR'):
            out = np.full(fprs.shape, np.nan)
        else:
            idx = np.searchsorted(
                self.fps, fprs * self.num_spoof *
                (1 + _RTOL), side='right') - 1
            out = self.tps[idx] / self.num_live
        return float(out[0]) if np.ndim(fpr) == 0 else out

    def _threshold_index_at_apcer(self, apcer: float,
                                  per_type: bool) -> Optional[int]:
        apcer = _check_rate(apcer, 'apcer')
        if self.num_spoof == 0:
            return None
        if per_type and self._attack_types is not None:
            allowed = np.ones(self.fps.shape, dtype=bool)
            spoof = ~self._is_live
            types = self._attack_types[self._order]
            spoof_sorted = spoof[self._order]
            for t in np.unique(self._attack_types[spoof]):
                hit = spoof_sorted & (types == t)
                fps_t = np.append(0, np.cumsum(hit)[self._ends])
                allowed &= fps_t <= apcer * fps_t[-1] * (1 + _RTOL)
        else:
            allowed = self.fps <= apcer * self.num_spoof * (1 + _RTOL)
        # counts only grow along the curve: ``allowed`` is a prefix
        return int(allowed.sum()) - 1

    def threshold_at_apcer(self, apcer: float, per_type: bool = True) -> float:
        """Lowest threshold (so lowest BPCER) whose APCER is ``<= apcer``.

        APCER is the maximum over attack types when ``attack_types`` were
        given and ``per_type`` is True, else the pooled rate. ``nan`` (with a
        warning) without spoof samples."""
        idx = self._threshold_index_at_apcer(apcer, per_type)
        if idx is None:
            self._need(False, True, 'The threshold at a target APCER')
            return float('nan')
        return float(self.thresholds[idx])

    def threshold_at_bpcer(self, bpcer: float) -> float:
        """Highest threshold (so lowest APCER) whose BPCER is ``<= bpcer``.
        ``nan`` (with a warning) without live samples."""
        bpcer = _check_rate(bpcer, 'bpcer')
        if not self._need(True, False, 'The threshold at a target BPCER'):
            return float('nan')
        P = self.num_live
        allowed = P - self.tps <= bpcer * P * (1 + _RTOL)
        return float(self.thresholds[int(np.argmax(allowed))])

    def bpcer_at_apcer(self,
                       apcer: Union[float, Sequence[float]],
                       per_type: bool = True):
        """BPCER at the threshold of :meth:`threshold_at_apcer` (e.g.
        BPCER20 = ``bpcer_at_apcer(0.05)``). A float, or an array for a
        sequence."""
        apcers = np.atleast_1d(apcer)
        if not self._need(True, True, 'BPCER@APCER'):
            out = np.full(apcers.shape, np.nan)
        else:
            idx = [self._threshold_index_at_apcer(a, per_type) for a in apcers]
            out = 1. - self.tps[idx] / self.num_live
        return float(out[0]) if np.ndim(apcer) == 0 else out


def roc_curve(scores: ArrayLike,
              labels: ArrayLike,
              pos_label: int = 1) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC points ``(fpr, tpr, thresholds)``, live positive; see
    :meth:`BinaryROC.curve`."""
    return BinaryROC(scores, labels, pos_label).curve()


def roc_auc(scores: ArrayLike, labels: ArrayLike, pos_label: int = 1) -> float:
    """Exact ROC AUC (Mann-Whitney, ties count one half)."""
    return BinaryROC(scores, labels, pos_label).auc()


def eer(scores: ArrayLike,
        labels: ArrayLike,
        pos_label: int = 1) -> Tuple[float, float]:
    """``(eer, threshold)``; see :meth:`BinaryROC.eer`."""
    return BinaryROC(scores, labels, pos_label).eer()


def tpr_at_fpr(scores: ArrayLike,
               labels: ArrayLike,
               fpr: Union[float, Sequence[float]] = (1e-2, 1e-3, 1e-4),
               pos_label: int = 1):
    """Largest TPR with FPR ``<= fpr`` (live positive, the FLIP
    convention)."""
    return BinaryROC(scores, labels, pos_label).tpr_at_fpr(fpr)


def bpcer_at_apcer(scores: ArrayLike,
                   labels: ArrayLike,
                   apcer: Union[float, Sequence[float]] = 0.05,
                   attack_types: Optional[ArrayLike] = None,
                   pos_label: int = 1):
    """BPCER at the lowest threshold whose APCER (max over ``attack_types``
    if given, else pooled) is ``<= apcer``."""
    return BinaryROC(scores, labels, pos_label,
                     attack_types).bpcer_at_apcer(apcer)


def threshold_at_apcer(scores: ArrayLike,
                       labels: ArrayLike,
                       apcer: float,
                       attack_types: Optional[ArrayLike] = None,
                       pos_label: int = 1) -> float:
    """Lowest threshold whose APCER (max over ``attack_types`` if given,
    else pooled) is ``<= apcer``."""
    return BinaryROC(scores, labels, pos_label,
                     attack_types).threshold_at_apcer(apcer)


def threshold_at_bpcer(scores: ArrayLike,
                       labels: ArrayLike,
                       bpcer: float,
                       pos_label: int = 1) -> float:
    """Highest threshold whose BPCER is ``<= bpcer`` (needs live samples
    only, e.g. a one-class validation split)."""
    return BinaryROC(scores, labels, pos_label).threshold_at_bpcer(bpcer)


def error_rates(scores: ArrayLike,
                labels: ArrayLike,
                threshold: float,
                attack_types: Optional[ArrayLike] = None,
                pos_label: int = 1) -> Dict[str, Union[float, dict]]:
    """Error rates at a threshold; a sample is accepted as live iff
    ``score >= threshold``.

    Args:
        scores (array-like): ``(N, )`` liveness scores.
        labels (array-like): ``(N, )`` labels.
        threshold (float): The decision threshold.
        attack_types (array-like, optional): ``(N, )`` attack type of each
            sample (ignored for live ones). Defaults to None: one type.
        pos_label (int): The live label. Defaults to 1.

    Returns:
        dict: Fractions ``APCER`` (max over attack types),
        ``APCER_per_type`` (dict attack type value -> rate, empty without
        ``attack_types``), ``FAR`` (APCER pooled over all attacks),
        ``BPCER`` (= FRR), ``ACER`` = (APCER + BPCER) / 2 and ``HTER`` =
        (FAR + BPCER) / 2. A rate whose class is absent, or every rate for a
        ``nan`` threshold, is ``nan`` with a
        :class:`DegenerateInputWarning`.
    """
    scores, is_live = check_scores_labels(scores, labels, pos_label)
    nan = float('nan')
    out = dict(
        APCER=nan, APCER_per_type={}, FAR=nan, BPCER=nan, ACER=nan, HTER=nan)
    threshold = float(threshold)
    if np.isnan(threshold):
        _warn('The threshold is nan (it could not be determined); every '
              'error rate is nan.')
        return out
    accepted = scores >= threshold
    num_live = int(is_live.sum())
    if num_live:
        out['BPCER'] = 1. - accepted[is_live].sum() / num_live
    else:
        _warn('BPCER is undefined without live samples; reporting nan.')
    spoof = ~is_live
    if spoof.any():
        acc_spoof = accepted[spoof]
        out['FAR'] = float(acc_spoof.mean())
        if attack_types is not None:
            attack_types = np.asarray(attack_types).reshape(-1)
            if attack_types.shape != scores.shape:
                raise ValueError(f'Got {scores.size} scores but '
                                 f'{attack_types.size} attack types.')
            types, inv = np.unique(attack_types[spoof], return_inverse=True)
            rates = (
                np.bincount(inv, weights=acc_spoof, minlength=types.size) /
                np.bincount(inv, minlength=types.size))
            out['APCER_per_type'] = {
                t: float(r)
                for t, r in zip(types.tolist(), rates)
            }
            out['APCER'] = float(rates.max())
        else:
            out['APCER'] = out['FAR']
    else:
        _warn('APCER and FAR are undefined without spoof samples; '
              'reporting nan.')
    out['ACER'] = (out['APCER'] + out['BPCER']) / 2.
    out['HTER'] = (out['FAR'] + out['BPCER']) / 2.
    return out


def aggregate_by_video(video_ids: ArrayLike, scores: ArrayLike,
                       labels: ArrayLike, **meta: ArrayLike) -> dict:
    """Video-level scores: the mean of the frame liveness probabilities of
    each video id.

    The result does not depend on the order of the frames: each video's
    frames are summed in ascending score order.

    Args:
        video_ids (array-like): ``(N, )`` video id of each frame.
        scores (array-like): ``(N, )`` frame liveness probabilities.
        labels (array-like): ``(N, )`` frame labels.
        **meta (array-like): Further ``(N, )`` per-frame fields that must be
            constant within a video (e.g. ``attack_type``, ``domain``).

    Returns:
        dict: ``video_id``, ``score``, ``label``, ``num_frames`` and each
        ``meta`` field, one entry per video, sorted by video id.

    Raises:
        ValueError: Empty input, NaN scores, mismatched lengths, or a video
            whose frames disagree on the label or a ``meta`` field (the
            message names the videos).
    """
    scores = _check_scores(scores, 'frame scores')
    ids = np.asarray(video_ids).reshape(-1)
    fields = dict(label=np.asarray(labels).reshape(-1))
    fields.update({k: np.asarray(v).reshape(-1) for k, v in meta.items()})
    for name, arr in (('video_id', ids), *fields.items()):
        if arr.shape != scores.shape:
            raise ValueError(f'Got {scores.size} frame scores but '
                             f'{arr.size} values of "{name}".')
    uniq, first, inv = np.unique(ids, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.lexsort((scores, inv))
    counts = np.bincount(inv, minlength=uniq.size)
    sums = np.bincount(inv[order], weights=scores[order], minlength=uniq.size)
    out = dict(video_id=uniq, score=sums / counts, num_frames=counts)
    for name, arr in fields.items():
        per_video = arr[first]
        bad = arr != per_video[inv]
        if bad.any():
            bad_videos = uniq[np.unique(inv[bad])]
            shown = ', '.join(repr(str(v)) for v in bad_videos[:5])
            more = (f' and {bad_videos.size - 5} more'
                    if bad_videos.size > 5 else '')
            raise ValueError(
                f'Video-level aggregation: the frames of video {shown}{more} '
                f'have different "{name}" values; a video must have one '
                f'{name}. Fix the annotation (video ids must be unique over '
                'all datasets) or evaluate at level="frame".')
        out[name] = per_video
    return out
