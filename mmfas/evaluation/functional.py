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

Everything is computed from one sort of the scores (:class:`BinaryROC`), so
a million scores take a fraction of a second
(``tools/analysis_tools/benchmark_metric.py`` times it against
scikit-learn).
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np

__all__ = [
    'DegenerateInputWarning', 'check_scores_labels', 'BinaryROC', 'roc_curve',
    'roc_auc', 'eer', 'tpr_at_fpr', 'bpcer_at_apcer', 'threshold_at_apcer',
    'threshold_at_bpcer', 'error_rates', 'aggregate_by_video', 'rate_key',
    'encode_values'
]

ArrayLike = Union[np.ndarray, Sequence]

# Relative slack when comparing an integer error count with ``rate * total``,
# so that e.g. 0.29 * 100 = 28.999999999999996 still admits 29 errors.
_RTOL = 1e-9
# encode_values: inputs shorter than this go straight to np.unique; the
# strided sample that proposes the distinct strings; the most distinct
# strings compared one by one before falling back to np.unique.
_FAST_ENCODE_MIN = 1024
_ENCODE_SAMPLE = 2048
_FAST_ENCODE_MAX = 16
# ... and the longest strings (in 8-character words) sorted as integers
_PACK_MAX_WORDS = 16
# BinaryROC sorts each class separately up to this many classes
_MAX_GROUP_SORTS = 256


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


def encode_values(values: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """``np.unique(values, return_inverse=True)`` (sorted distinct values and
    the flat code of every element), without sorting the whole array when
    few distinct values occur.

    Attack types, eval roles and domains take a handful of values over a
    million frames: strings are then compared with each distinct value
    (found on an evenly spaced sample; values the sample missed are found
    and added exactly); integers in a range not much wider than the input
    are counted with ``np.bincount``; many distinct strings of characters
    below U+0100 (video ids, paths) are sorted as packed integers. Other
    input (floats, objects, other characters) falls back to ``np.unique``.
    The result is identical in every case.

    Args:
        values (array-like): ``(N, )`` values (flattened).

    Returns:
        tuple: ``(uniques, codes)`` with ``uniques[codes]`` equal to the
        values and ``uniques`` sorted as ``np.unique`` sorts them.
    """
    arr = np.asarray(values).reshape(-1)
    n = arr.size
    kind = arr.dtype.kind
    if n >= _FAST_ENCODE_MIN and (kind == 'b' or kind in 'iu'
                                  and arr.dtype != np.uint64):
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo <= 2 * n:
            shifted = arr.astype(np.intp)
            if lo:
                shifted -= lo
            present = np.flatnonzero(
                np.bincount(shifted, minlength=hi - lo + 1))
            lut = np.empty(hi - lo + 1, dtype=np.intp)
            lut[present] = np.arange(present.size)
            return (present + lo).astype(arr.dtype), lut[shifted]
    if n >= _FAST_ENCODE_MIN and kind in 'US':
        cands, freq = np.unique(
            arr[::max(1, n // _ENCODE_SAMPLE)], return_counts=True)
        if cands.size <= _FAST_ENCODE_MAX:
            # few large temporaries: one byte per element for the codes
            cands = cands[np.argsort(-freq, kind='stable')]
            codes = np.zeros(n, dtype=np.uint8)
            left = arr != cands[0]
            for j in range(1, cands.size):
                hit = arr == cands[j]
                np.copyto(codes, np.uint8(j), where=hit)
                left &= ~hit
            if left.any():  # values the sample missed
                rest = np.flatnonzero(left)
                extra, inv = np.unique(arr[rest], return_inverse=True)
                if cands.size + extra.size > 255:
                    codes = codes.astype(np.intp)
                codes[rest] = cands.size + inv.reshape(-1)
                cands = np.concatenate([cands, extra])
            order = np.argsort(cands, kind='stable')
            rank = np.empty(cands.size, dtype=np.intp)
            rank[order] = np.arange(cands.size)
            return cands[order], rank[codes]
    if n >= _FAST_ENCODE_MIN and kind == 'U':
        packed = _encode_latin1(arr)
        if packed is not None:
            return packed
    uniques, codes = np.unique(arr, return_inverse=True)
    return uniques, codes.reshape(-1)


def _encode_latin1(arr: np.ndarray) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """:func:`encode_values` of a unicode array whose characters are all
    below U+0100 (ids, paths): each string packed big-endian into 64-bit
    words, whose numeric order is the strings' order, then sorted as
    integers (many times faster than sorting strings). None if a character
    does not fit in a byte or the strings are long."""
    width = arr.itemsize // 4
    if width == 0 or width > 8 * _PACK_MAX_WORDS:
        return None
    arr = np.ascontiguousarray(arr)
    chars = arr.view(np.uint32).reshape(arr.size, width)
    if chars.max() > 0xFF:
        return None
    num_words = -(-width // 8)
    packed = np.zeros((arr.size, num_words * 8), dtype=np.uint8)
    packed[:, :width] = chars
    words = packed.view('>u8').astype(np.uint64)
    if num_words == 1:
        order = np.argsort(words[:, 0])
        ordered = words[order, 0]
        new = np.empty(arr.size, dtype=bool)
        new[1:] = ordered[1:] != ordered[:-1]
    else:
        order = np.lexsort(words.T[::-1])
        ordered = words[order]
        new = np.empty(arr.size, dtype=bool)
        new[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    new[0] = True
    codes = np.empty(arr.size, dtype=np.intp)
    codes[order] = np.cumsum(new) - 1
    return arr[order[np.flatnonzero(new)]], codes


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
    # comparisons instead of sorting; np.unique decides (e.g. NaN labels)
    first_spoof = int(np.argmin(is_live))
    if not is_live[first_spoof] and np.any(
            (labels != labels[first_spoof]) > is_live):
        others = np.unique(labels[~is_live])
        if others.size > 1:
            raise ValueError(
                f'Labels must be binary: pos_label={pos_label!r} (live) and '
                f'one spoof label, got spoof labels {others.tolist()}.')
    return scores, is_live


def _sort_key(scores: np.ndarray) -> np.ndarray:
    """The scores as float32 when that is exact (softmax outputs of a model
    are float32): float32 sorts about twice as fast and in the same order."""
    as32 = scores.astype(np.float32)
    return as32 if np.array_equal(as32, scores) else scores


def _rates(threshold: float, live_acc: int, num_live: int, spoof_acc: int,
           num_spoof: int, type_acc: Optional[np.ndarray],
           type_num: Optional[np.ndarray],
           type_names: Optional[np.ndarray]) -> Dict[str, Union[float, dict]]:
    """The dict of :func:`error_rates` from counts of accepted samples."""
    nan = float('nan')
    out = dict(
        APCER=nan, APCER_per_type={}, FAR=nan, BPCER=nan, ACER=nan, HTER=nan)
    if np.isnan(threshold):
        _warn('The threshold is nan (it could not be determined); every '
              'error rate is nan.')
        return out
    if num_live:
        out['BPCER'] = 1. - live_acc / num_live
    else:
        _warn('BPCER is undefined without live samples; reporting nan.')
    if num_spoof:
        out['FAR'] = float(spoof_acc / num_spoof)
        if type_names is not None:
            rates = type_acc / type_num
            out['APCER_per_type'] = {
                t: float(r)
                for t, r in zip(type_names.tolist(), rates)
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


class BinaryROC:
    """The ROC of liveness scores, from a single sort.

    The curve has one point per "accept the samples with ``score >= t``" for
    ``t`` running over the distinct scores in descending order, preceded by
    the point that accepts nothing. Every metric of this module that needs
    the curve is a method, so one sort serves AUC, EER, TPR@FPR, BPCER@APCER,
    the thresholds at a target rate and the error rates (per attack type) at
    any threshold.

    Each point also has a *decision threshold* that reproduces it under the
    rule ``score >= threshold`` and lies on the actual score values: the
    midpoint between the two neighbouring distinct scores; the minimum score
    for the accept-all point; the float just above the maximum score for the
    accept-nothing point.

    How: the scores are grouped by class (live, then each attack type; radix
    sort of the small group codes), each group is sorted (as float32 when
    that is exact), and one stable merge of the sorted groups gives the
    curve. The sorted groups stay: a rate per attack type at a threshold is
    a binary search, not a pass over the samples.

    Args:
        scores (array-like): ``(N, )`` liveness scores.
        labels (array-like): ``(N, )`` labels.
        pos_label (int): The live label. Defaults to 1.
        attack_types (array-like, optional): ``(N, )`` attack type (PAI
            species) of each sample, used to make APCER the maximum over the
            types in :meth:`threshold_at_apcer` and :meth:`error_rates`.
            Values of live samples are ignored. Defaults to None (APCER
            pooled over all attacks).

    Attributes:
        num_live, num_spoof (int): Class sizes.
        scores (ndarray): ``(K, )`` distinct scores, descending.
        tps, fps (ndarray): ``(K + 1, )`` live / spoof samples accepted at
            each point (the first point accepts nothing).
        thresholds (ndarray): ``(K + 1, )`` decision thresholds (above).
        type_names (ndarray | None): The attack types, sorted (None
            without ``attack_types``); see also :attr:`type_counts`.
    """

    def __init__(self,
                 scores: ArrayLike,
                 labels: ArrayLike,
                 pos_label: int = 1,
                 attack_types: Optional[ArrayLike] = None) -> None:
        scores, is_live = check_scores_labels(scores, labels, pos_label)
        n = scores.size
        self.num_live = int(np.count_nonzero(is_live))
        self.num_spoof = int(n - self.num_live)
        # group 0: live; 1..T: the attack types (or 1: every attack)
        if attack_types is not None:
            attack_types = np.asarray(attack_types).reshape(-1)
            if attack_types.shape != scores.shape:
                raise ValueError(f'Got {scores.size} scores but '
                                 f'{attack_types.size} attack types.')
            spoof = np.flatnonzero(~is_live)  # (index arrays beat masks)
            self.type_names, type_codes = encode_values(attack_types[spoof])
            num_groups = self.type_names.size + 1
            groups = np.zeros(n, dtype=np.min_scalar_type(num_groups))
            groups[spoof] = type_codes + 1
        else:
            self.type_names = None
            num_groups = 2
            groups = (~is_live).view(np.uint8)
        counts = np.bincount(groups, minlength=num_groups)
        bounds = np.concatenate([[0], np.cumsum(counts)])
        key = _sort_key(scores)
        if num_groups <= _MAX_GROUP_SORTS:
            # radix sort of the <= 16-bit group codes, then each group
            grouped = key[np.argsort(groups, kind='stable')]
            for a, b in zip(bounds[:-1], bounds[1:]):
                grouped[a:b].sort()
        else:
            grouped = key[np.lexsort((key, groups))]
        grouped = grouped.astype(np.float64, copy=False)
        # stable merge of the sorted runs: ascending scores
        merge = np.argsort(grouped, kind='stable')
        merged = grouped[merge]
        self._grouped, self._bounds = grouped, bounds
        # first index of every group of equal scores, ascending (in place
        # where possible: fresh large arrays cost page faults)
        starts = np.concatenate([[-1], np.flatnonzero(merged[1:] !=
                                                      merged[:-1])])
        starts += 1
        is_live_sorted = merge < counts[0]
        live_below = np.cumsum(is_live_sorted)[starts]
        live_below -= is_live_sorted[starts]
        # distinct scores, descending (+ 0. turns -0. into 0.)
        self.scores = merged[starts[::-1]]
        self.scores += 0.
        # (K + 1, ) counts of accepted live / spoof samples per point
        num_points = starts.size + 1
        self.tps = np.zeros(num_points, dtype=np.int64)
        np.subtract(self.num_live, live_below[::-1], out=self.tps[1:])
        self.fps = np.zeros(num_points, dtype=np.int64)
        np.subtract(n, starts[::-1], out=self.fps[1:])
        self.fps[1:] -= self.tps[1:]
        self._eer = None
        self._thresholds = None

    @property
    def thresholds(self) -> np.ndarray:
        """``(K + 1, )`` decision thresholds of the points (see above)."""
        if self._thresholds is None:
            hi, lo = self.scores[:-1], self.scores[1:]
            mid = 0.5 * hi + 0.5 * lo
            # adjacent floats: the rounded midpoint may fall on the lower
            # score, which would accept it; the higher score gives the same
            # decisions.
            mid = np.where(mid > lo, mid, hi)
            self._thresholds = np.concatenate(
                [[np.nextafter(self.scores[0], np.inf)], mid,
                 self.scores[-1:]])
        return self._thresholds

    def _threshold(self, idx: int) -> float:
        """``self.thresholds[idx]`` without computing all of them."""
        k = self.scores.size
        if idx == 0:
            return float(np.nextafter(self.scores[0], np.inf))
        if idx == k:
            return float(self.scores[-1])
        hi, lo = self.scores[idx - 1], self.scores[idx]
        mid = 0.5 * hi + 0.5 * lo
        return float(mid if mid > lo else hi)

    @property
    def type_counts(self) -> np.ndarray:
        """``(T, )`` number of attacks of each type, in the order of
        ``type_names`` (one entry, all attacks, without attack types)."""
        return np.diff(self._bounds)[1:]

    def _group(self, g: int) -> np.ndarray:
        """Sorted scores of group ``g`` (0: live, then the attack types)."""
        return self._grouped[self._bounds[g]:self._bounds[g + 1]]

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
        if self._eer is None:
            P, N = self.num_live, self.num_spoof
            frr_cnt = P - self.tps
            # |FAR - FRR| * P * N in exact integers; argmin picks the first
            # minimum, i.e. the highest threshold.
            idx = int(np.argmin(np.abs(self.fps * P - frr_cnt * N)))
            far, frr = self.fps[idx] / N, frr_cnt[idx] / P
            self._eer = (float((far + frr) / 2.), self._threshold(idx))
        return self._eer

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
        if per_type and self.type_names is not None:
            # Type t accepts at most m_t = floor(apcer * N_t (1 + rtol)) of
            # its N_t attacks iff the threshold is above its (m_t + 1)-th
            # highest score; the points above the highest such score of all
            # types are allowed.
            bound = -np.inf
            for g in range(1, self._bounds.size - 1):
                scores_t = self._group(g)
                num_t = scores_t.size
                allowed_t = int(np.floor(apcer * num_t * (1 + _RTOL)))
                if allowed_t < num_t:
                    bound = max(bound, scores_t[num_t - allowed_t - 1])
            # number of distinct scores above ``bound`` (descending array)
            return int(
                np.searchsorted(-self.scores, -bound, side='left'))
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
        return self._threshold(idx)

    def threshold_at_bpcer(self, bpcer: float) -> float:
        """Highest threshold (so lowest APCER) whose BPCER is ``<= bpcer``.
        ``nan`` (with a warning) without live samples."""
        bpcer = _check_rate(bpcer, 'bpcer')
        if not self._need(True, False, 'The threshold at a target BPCER'):
            return float('nan')
        P = self.num_live
        allowed = P - self.tps <= bpcer * P * (1 + _RTOL)
        return self._threshold(int(np.argmax(allowed)))

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

    def error_rates(self, threshold: float) -> Dict[str, Union[float, dict]]:
        """:func:`error_rates` of these samples at ``threshold`` (one binary
        search per class): the same dict, ``APCER_per_type`` keyed by the
        attack types."""
        threshold = float(threshold)
        if np.isnan(threshold):
            return _rates(threshold, 0, 0, 0, 0, None, None, None)

        def accepted(g):
            scores_g = self._group(g)
            return scores_g.size - int(
                np.searchsorted(scores_g, threshold, side='left'))

        groups = range(1, self._bounds.size - 1)
        type_acc = np.array([accepted(g) for g in groups], dtype=np.float64)
        return _rates(threshold, accepted(0), self.num_live,
                      int(type_acc.sum()), self.num_spoof, type_acc,
                      self.type_counts, self.type_names)


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
    threshold = float(threshold)
    num_live = int(np.count_nonzero(is_live))
    num_spoof = scores.size - num_live
    if np.isnan(threshold):
        return _rates(threshold, 0, num_live, 0, num_spoof, None, None, None)
    accepted = scores >= threshold
    live_acc = int(np.count_nonzero(accepted & is_live))
    spoof_acc = int(np.count_nonzero(accepted > is_live))
    type_acc = type_num = type_names = None
    if attack_types is not None:
        attack_types = np.asarray(attack_types).reshape(-1)
        if attack_types.shape != scores.shape:
            raise ValueError(f'Got {scores.size} scores but '
                             f'{attack_types.size} attack types.')
        if num_spoof:
            spoof = np.flatnonzero(~is_live)
            type_names, inv = encode_values(attack_types[spoof])
            type_num = np.bincount(inv, minlength=type_names.size)
            type_acc = np.bincount(
                inv, weights=accepted[spoof],
                minlength=type_names.size).astype(np.float64)
    return _rates(threshold, live_acc, num_live, spoof_acc, num_spoof,
                  type_acc, type_num, type_names)


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
    uniq, inv = encode_values(ids)
    # some frame of each video: the fields are checked to agree below
    first = np.empty(uniq.size, dtype=np.intp)
    first[inv] = np.arange(inv.size)
    # bincount adds in input order: ascending scores within every video
    # (equal scores are interchangeable), whatever the order of the frames
    order = np.argsort(_sort_key(scores))
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
