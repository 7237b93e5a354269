"""ISO/IEC 30107-3 style reporting for :class:`~mmfas.evaluation.FASMetric`
(``iso=True`` or ``iso=dict(...)``; ``configs/_base_/presets/product.py``).

On top of the metric's keys (APCER per PAI species and its maximum, BPCER,
ACER at the chosen threshold), the report adds:

* ``BPCER@APCER=x`` for x in ``bpcer_at_apcer`` (default 1 %, 5 %, 10 %):
  BPCER at the lowest threshold whose APCER (max over PAI species) is
  ``<= x``;
* ``APCER@BPCER=x`` for x in ``apcer_at_bpcer`` (default 1 %, 5 %, 15 %;
  iBeta's levels ask APCER 0-1 % at BPCER <= 15 %): APCER (max over
  species) at the highest threshold whose BPCER is ``<= x``;
* ``ECE``: the expected calibration error of the liveness score read as
  P(live) (:func:`expected_calibration_error`);
* ``<key>_CI_low`` / ``<key>_CI_high`` for HTER, AUC, APCER and BPCER: a
  percentile bootstrap interval (:func:`bootstrap_intervals`);
* a warning (:class:`OperatingPointWarning`, and in the log) for every
  operating point finer than its sample count can resolve
  (:func:`operating_point_notes`), e.g. TPR@FPR=1e-4 from 45 spoof videos.

Every rate is a fraction here; the metric converts to percent.
"""
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .functional import BinaryROC, rate_key

__all__ = [
    'ISO_DEFAULTS', 'OperatingPointWarning', 'check_iso_cfg',
    'expected_calibration_error', 'apcer_at_bpcer', 'operating_point_notes',
    'draw_bootstrap_weights', 'weighted_metrics', 'bootstrap_intervals',
    'iso_report'
]

#: the settings ``iso=True`` stands for
ISO_DEFAULTS = dict(
    bootstrap=1000,
    seed=0,
    ci=0.95,
    ece_bins=15,
    bpcer_at_apcer=(0.01, 0.05, 0.10),
    apcer_at_bpcer=(0.01, 0.05, 0.15))
#: the keys that get bootstrap intervals
CI_KEYS = ('HTER', 'AUC', 'APCER', 'BPCER')
# bootstrap: resamples per chunk are chosen so that a chunk's weight matrix
# holds about this many entries
_CHUNK_ENTRIES = 1 << 22


class OperatingPointWarning(UserWarning):
    """A rate is reported at an operating point finer than the number of
    samples of its class can resolve."""


def check_iso_cfg(iso: Union[None, bool, dict],
                  hint: str = '') -> Optional[dict]:
    """The ISO settings: None when off, else :data:`ISO_DEFAULTS` updated
    with ``iso`` (a dict), each checked.

    Raises:
        ValueError: an unknown key or a bad value, naming it.
    """
    if iso is None or iso is False:
        return None
    if iso is True:
        iso = {}
    if not isinstance(iso, dict):
        raise ValueError(f'FASMetric iso must be True, False or a dict of '
                         f'{sorted(ISO_DEFAULTS)}, got {iso!r}. {hint}')
    unknown = set(iso) - set(ISO_DEFAULTS)
    if unknown:
        raise ValueError(f'Unknown FASMetric iso keys {sorted(unknown)}; '
                         f'expected some of {sorted(ISO_DEFAULTS)}. {hint}')
    cfg = dict(ISO_DEFAULTS, **iso)
    n = cfg['bootstrap']
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError('FASMetric iso.bootstrap (number of resamples) '
                         f'must be an int >= 0 (0: no intervals), got {n!r}.'
                         f' {hint}')
    if isinstance(cfg['seed'], bool) or not isinstance(cfg['seed'], int):
        raise ValueError(f'FASMetric iso.seed must be an int, got '
                         f'{cfg["seed"]!r}. {hint}')
    if not isinstance(cfg['ci'], (int, float)) or not 0. < cfg['ci'] < 1.:
        raise ValueError(f'FASMetric iso.ci must be in (0, 1) (e.g. 0.95), '
                         f'got {cfg["ci"]!r}. {hint}')
    bins = cfg['ece_bins']
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f'FASMetric iso.ece_bins must be an int >= 1, got '
                         f'{bins!r}. {hint}')
    for name in ('bpcer_at_apcer', 'apcer_at_bpcer'):
        values = tuple(float(v) for v in np.atleast_1d(cfg[name]).tolist())
        if not all(0. < v <= 1. for v in values):
            raise ValueError(f'FASMetric iso.{name} must hold rates in (0, '
                             f'1], got {cfg[name]!r}. {hint}')
        cfg[name] = values
    cfg['ci'] = float(cfg['ci'])
    return cfg


def expected_calibration_error(scores: Sequence[float],
                               labels: Sequence[int],
                               pos_label: int = 1,
                               num_bins: int = 15) -> float:
    """Expected calibration error of liveness scores read as P(live).

    The scores are put in ``num_bins`` equal-width bins of ``[0, 1]`` (bin
    ``k`` holds ``k / B <= s < (k + 1) / B``, the last bin also ``s = 1``);
    ``ECE = sum_k (n_k / N) * |mean score in k - share of live in k|``.

    Args:
        scores (array-like): ``(N, )`` liveness scores in ``[0, 1]``.
        labels (array-like): ``(N, )`` labels, ``pos_label`` = live.
        pos_label (int): The live label. Defaults to 1.
        num_bins (int): Defaults to 15.

    Returns:
        float: The ECE, a fraction in ``[0, 1]``.
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    is_live = (np.asarray(labels).reshape(-1) == pos_label).astype(np.float64)
    if scores.size == 0:
        raise ValueError('Empty input: no scores to calibrate.')
    if scores.min() < 0 or scores.max() > 1:
        raise ValueError('ECE needs liveness scores in [0, 1], got values in '
                         f'[{scores.min():.4g}, {scores.max():.4g}].')
    order = np.argsort(scores, kind='stable')  # sums independent of order
    scores, is_live = scores[order], is_live[order]
    bins = np.minimum((scores * num_bins).astype(np.intp), num_bins - 1)
    gap = np.bincount(bins, weights=scores, minlength=num_bins) - \
        np.bincount(bins, weights=is_live, minlength=num_bins)
    return float(np.abs(gap).sum() / scores.size)


def apcer_at_bpcer(roc: BinaryROC,
                   bpcer: Union[float, Sequence[float]]) -> np.ndarray:
    """APCER (max over the attack types of ``roc``) at the highest threshold
    whose BPCER is ``<= bpcer`` (:meth:`BinaryROC.threshold_at_bpcer`).

    Returns:
        ndarray: One APCER per target, ``nan`` without both classes.
    """
    out = []
    for x in np.atleast_1d(bpcer).tolist():
        if roc.num_live == 0 or roc.num_spoof == 0:
            out.append(float('nan'))
            continue
        out.append(roc.error_rates(roc.threshold_at_bpcer(x))['APCER'])
    return np.asarray(out, dtype=np.float64)


def operating_point_notes(roc: BinaryROC,
                          tpr_at_fpr: Sequence[float] = (),
                          bpcer_at_apcer: Sequence[float] = (),
                          apcer_at_bpcer: Sequence[float] = (),
                          unit: str = 'videos',
                          type_names: Optional[Sequence[str]] = None
                          ) -> List[str]:
    """One note per operating point finer than its sample count resolves.

    A rate over ``n`` samples moves in steps of ``1 / n``: a target ``x <
    1 / n`` (``x * n < 1``) can only be met by zero errors, so the reported
    value is the rate at zero errors, not at ``x``. The denominators:
    the spoof samples for ``TPR@FPR`` (pooled FPR), the smallest attack type
    for ``BPCER@APCER`` (APCER is the max over types) and the live samples
    for ``APCER@BPCER``. ``type_names[t]`` names attack type ``t`` of
    ``roc`` when its attack types are integer codes.

    Returns:
        list[str]: Human-readable notes (empty when every point is
        supported).
    """
    notes = []
    type_counts = np.diff(roc._bounds)[1:]
    if roc.type_names is not None and type_counts.size:
        j = int(np.argmin(type_counts))
        name = roc.type_names[j]
        if type_names is not None:
            name = type_names[int(name)]
        smallest = (int(type_counts[j]), f'{name!s} attack')
    else:
        smallest = (roc.num_spoof, 'spoof')
    checks = [('TPR@FPR', x, roc.num_spoof, 'spoof') for x in tpr_at_fpr]
    checks += [('BPCER@APCER', x, *smallest) for x in bpcer_at_apcer]
    checks += [('APCER@BPCER', x, roc.num_live, 'live')
               for x in apcer_at_bpcer]
    for name, x, n, what in checks:
        if n and x * n < 1:
            notes.append(
                f'{rate_key(name, x)} is finer than {n} {what} {unit} can '
                f'resolve (steps of 1/{n}): it is the rate at zero errors. '
                f'Resolving {x:g} takes >= {math.ceil(1 / x)} {what} {unit}, '
                f'claiming a rate <= {x:g} at 95 % confidence >= '
                f'{math.ceil(3 / x)} (rule of three).')
    return notes


def _strata(is_live: np.ndarray,
            attack_types: Optional[Sequence]) -> np.ndarray:
    """Stratum of each sample: 0 live, 1 + attack type index for attacks."""
    strata = np.zeros(is_live.size, dtype=np.intp)
    spoof = np.flatnonzero(~is_live)
    if attack_types is None:
        strata[spoof] = 1
    elif spoof.size:
        types = np.asarray(attack_types).reshape(-1)
        if types.size != is_live.size:
            raise ValueError(f'Got {is_live.size} scores but {types.size} '
                             'attack types.')
        strata[spoof] = 1 + np.unique(
            types[spoof], return_inverse=True)[1].reshape(-1)
    return strata


def draw_bootstrap_weights(strata: np.ndarray, num_resamples: int,
                           rng: np.random.Generator) -> np.ndarray:
    """``(num_resamples, N)`` stratified bootstrap weights: how often each
    sample is drawn when every stratum draws as many samples as it holds,
    with replacement (so a row's weights sum to each stratum's size)."""
    n = strata.size
    w = np.zeros((num_resamples, n))
    rows = np.arange(num_resamples)[:, None]
    for g in range(int(strata.max()) + 1 if n else 0):
        idx = np.flatnonzero(strata == g)
        if idx.size:
            draws = rng.integers(0, idx.size, size=(num_resamples, idx.size))
            # counts per member, one bincount of row-offset indices
            w[:, idx] = np.bincount(
                (draws + rows * idx.size).ravel(),
                minlength=num_resamples * idx.size).reshape(
                    num_resamples, idx.size)
    return w


def weighted_metrics(scores: np.ndarray, strata: np.ndarray,
                     threshold: float,
                     weights: np.ndarray) -> Dict[str, np.ndarray]:
    """HTER, AUC, APCER (max over attack strata), BPCER for every row of
    ``weights`` (``(R, N)`` sample weights), as fractions ``(R, )``.

    Array operations on one sort of the scores: weighted accept counts per
    stratum at ``threshold`` (live iff ``score >= threshold``) and the
    weighted Mann-Whitney AUC over the groups of equal scores (a tie
    between a live and a spoof sample counts one half).
    """
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    order = np.argsort(scores, kind='stable')
    s_sorted = np.asarray(scores, dtype=np.float64)[order]
    st = strata[order]
    w = weights[:, order]
    num_strata = int(strata.max()) + 1
    onehot = np.zeros((st.size, num_strata))
    onehot[np.arange(st.size), st] = 1.
    totals = w @ onehot  # (R, G) weight of each stratum
    live = st == 0
    w_spoof = np.where(live, 0., w)
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    g_spoof = np.add.reduceat(w_spoof, starts, axis=1)
    g_live = np.add.reduceat(w - w_spoof, starts, axis=1)
    below = np.cumsum(g_spoof, axis=1) - g_spoof
    n_live, n_spoof = totals[:, 0], totals[:, 1:].sum(1)
    with np.errstate(invalid='ignore', divide='ignore'):
        out = dict(AUC=(g_live * (below + 0.5 * g_spoof)).sum(1) /
                   (n_live * n_spoof))
        if np.isnan(threshold):
            nan = np.full(w.shape[0], np.nan)
            out.update(HTER=nan, APCER=nan, BPCER=nan)
            return out
        accepted = w @ (onehot * (s_sorted >= threshold)[:, None])
        bpcer = 1. - accepted[:, 0] / n_live
        share = accepted[:, 1:] / totals[:, 1:]  # nan for an absent type
        apcer = np.where(np.isnan(share), -np.inf, share).max(1)
        apcer[np.isinf(apcer)] = np.nan
        far = accepted[:, 1:].sum(1) / n_spoof
    out.update(HTER=(far + bpcer) / 2., APCER=apcer, BPCER=bpcer)
    return out


def bootstrap_intervals(scores: Sequence[float],
                        labels: Sequence[int],
                        threshold: float,
                        attack_types: Optional[Sequence] = None,
                        pos_label: int = 1,
                        num_resamples: int = 1000,
                        seed: int = 0,
                        ci: float = 0.95) -> Dict[str, Tuple[float, float]]:
    """Percentile bootstrap intervals of HTER, AUC, APCER and BPCER.

    Each resample draws, with replacement, as many samples from each
    stratum (the live samples, and each attack type) as it holds
    (stratified, so every resample keeps the class and attack type counts
    and every metric stays defined); the threshold is held at
    ``threshold``. A resample is a row of integer weights
    (:func:`draw_bootstrap_weights`) and a chunk of rows is evaluated at
    once by :func:`weighted_metrics`; chunks are sized by the number of
    samples only and the samples are put in one canonical order first, so
    the same scores (in any order), seed and ``num_resamples`` always give
    the same intervals.

    Args:
        scores, labels: ``(N, )`` liveness scores and labels.
        threshold (float): The decision threshold (live iff ``score >=
            threshold``); NaN gives NaN intervals for the rates.
        attack_types (array-like, optional): ``(N, )`` attack types (APCER
            is the max over them); None: one pooled type.
        pos_label (int): The live label. Defaults to 1.
        num_resamples (int): Defaults to 1000.
        seed (int): Seed of ``numpy.random.default_rng``. Defaults to 0.
        ci (float): Coverage of the interval. Defaults to 0.95.

    Returns:
        dict: ``{key: (low, high)}`` fractions for HTER, AUC, APCER, BPCER
        (NaN without both classes).
    """
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    is_live = np.asarray(labels).reshape(-1) == pos_label
    nan = (float('nan'), float('nan'))
    if num_resamples <= 0 or is_live.all() or not is_live.any():
        return {k: nan for k in CI_KEYS}
    strata = _strata(is_live, attack_types)
    # canonical order (stratum, score): the draws, and so the intervals, do
    # not depend on the order the samples came in (samples with the same
    # stratum and score are interchangeable)
    order = np.lexsort((scores, strata))
    scores, strata = scores[order], strata[order]
    rng = np.random.default_rng(seed)
    chunk = max(1, min(num_resamples, _CHUNK_ENTRIES // scores.size))
    values = {k: [] for k in CI_KEYS}
    done = 0
    while done < num_resamples:
        b = min(chunk, num_resamples - done)
        done += b
        w = draw_bootstrap_weights(strata, b, rng)
        for k, v in weighted_metrics(scores, strata, threshold, w).items():
            values[k].append(v)
    q = [50. * (1. - ci), 50. * (1. + ci)]
    out = {}
    for k in CI_KEYS:
        v = np.concatenate(values[k])
        out[k] = nan if np.isnan(v).all() else tuple(
            float(x) for x in np.nanpercentile(v, q))
    return out


def iso_report(roc: BinaryROC,
               scores: np.ndarray,
               labels: np.ndarray,
               attack_codes: Optional[np.ndarray],
               threshold: float,
               cfg: dict,
               tpr_at_fpr: Sequence[float],
               pos_label: int = 1,
               unit: str = 'videos',
               type_names: Optional[Sequence[str]] = None
               ) -> Tuple[Dict[str, float], List[str]]:
    """The ISO keys (fractions) and the operating-point notes of the
    evaluated samples; see the module docstring. ``bpcer_at_apcer`` keys are
    left to the metric (which reports the union with its own)."""
    metrics = {}
    for x, v in zip(cfg['apcer_at_bpcer'],
                    apcer_at_bpcer(roc, cfg['apcer_at_bpcer'])):
        metrics[rate_key('APCER@BPCER', x)] = float(v)
    metrics['ECE'] = expected_calibration_error(scores, labels, pos_label,
                                                cfg['ece_bins'])
    if cfg['bootstrap']:
        cis = bootstrap_intervals(scores, labels, threshold, attack_codes,
                                  pos_label, cfg['bootstrap'], cfg['seed'],
                                  cfg['ci'])
        for k in CI_KEYS:
            metrics[f'{k}_CI_low'], metrics[f'{k}_CI_high'] = cis[k]
    notes = operating_point_notes(roc, tpr_at_fpr, cfg['bpcer_at_apcer'],
                                  cfg['apcer_at_bpcer'], unit, type_names)
    for note in notes:
        warnings.warn(note, OperatingPointWarning, stacklevel=3)
    return metrics, notes
