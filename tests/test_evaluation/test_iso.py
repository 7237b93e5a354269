"""ISO/IEC 30107-3 reporting of FASMetric (issue 16): operating points,
calibration, bootstrap intervals and the resolution warning, against hand
computed values and scikit-learn."""
import copy
import warnings

import numpy as np
import pytest

from mmfas.evaluation import FASMetric
from mmfas.evaluation import iso as iso_lib
from mmfas.evaluation.functional import BinaryROC
from mmfas.registry import METRICS

# 4 live, 3 print, 2 replay (live = 1)
SCORES = np.array([0.9, 0.8, 0.6, 0.3, 0.7, 0.4, 0.2, 0.5, 0.1])
LABELS = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
TYPES = np.array(['none'] * 4 + ['print'] * 3 + ['replay'] * 2)

NON_ISO_KEYS = [
    'HTER', 'AUC', 'EER', 'ACER', 'APCER', 'BPCER', 'APCER_print',
    'APCER_replay', 'TPR@FPR=1e-2', 'TPR@FPR=1e-3', 'TPR@FPR=1e-4',
    'BPCER@APCER=5e-2', 'threshold', 'num_live', 'num_spoof'
]


def _fas_metric_tests():
    """The samples of test_fas_metric.py (worked out by hand there)."""
    import importlib.util
    import os.path as osp
    path = osp.join(osp.dirname(osp.abspath(__file__)), 'test_fas_metric.py')
    spec = importlib.util.spec_from_file_location('_fas_metric_samples', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _calc(**kwargs):
    kw = dict(scores=SCORES, labels=LABELS, attack_types=TYPES,
              video_ids=[str(i) for i in range(SCORES.size)],
              threshold_policy='fixed', threshold=0.55)
    kw.update(kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', iso_lib.OperatingPointWarning)
        return FASMetric.calculate(**kw)


def test_iso_off_keeps_the_keys():
    assert list(_calc()) == NON_ISO_KEYS
    assert list(_calc(iso=False)) == NON_ISO_KEYS


def test_iso_keys_hand_computed():
    m = _calc(iso=dict(bootstrap=200))
    # at 0.55: live 0.9, 0.8, 0.6 accepted, 0.3 rejected -> BPCER 1/4;
    # print 0.7 accepted of 3, replay none of 2
    assert m['BPCER'] == pytest.approx(25.)
    assert m['APCER_print'] == pytest.approx(100 / 3)
    assert m['APCER_replay'] == 0.
    assert m['APCER'] == pytest.approx(100 / 3)
    assert m['ACER'] == pytest.approx((25. + 100 / 3) / 2)
    # BPCER@APCER=x: lowest threshold with every type's APCER <= x. For
    # x = 1 %, 5 %, 10 % no attack may pass: threshold above 0.7 -> live
    # 0.9, 0.8 accepted -> BPCER 50 %
    for x in ('1e-2', '5e-2', '1e-1'):
        assert m[f'BPCER@APCER={x}'] == pytest.approx(50.)
    # APCER@BPCER=x: highest threshold with BPCER <= x. 1 % and 5 % of 4
    # lives: none rejected -> threshold 0.3 accepts print 0.7, 0.4 (2/3),
    # replay 0.5 (1/2) -> APCER max 2/3. 15 %: same (one reject = 25 %)
    for x in ('1e-2', '5e-2', '1.5e-1'):
        assert m[f'APCER@BPCER={x}'] == pytest.approx(200 / 3)
    # ECE, 15 bins of width 1/15: every score sits alone in its bin
    gaps = np.abs(SCORES - LABELS)
    assert m['ECE'] == pytest.approx(100 * gaps.sum() / SCORES.size)
    for k in iso_lib.CI_KEYS:
        assert m[f'{k}_CI_low'] <= m[f'{k}_CI_high']
    assert set(NON_ISO_KEYS) < set(m)


def test_ece_against_sklearn_binning():
    from sklearn.calibration import calibration_curve
    rng = np.random.default_rng(0)
    s = rng.random(500)
    y = (rng.random(500) < s**2).astype(int)
    bins = 10
    prob_true, prob_pred = calibration_curve(y, s, n_bins=bins,
                                             strategy='uniform')
    ids = np.searchsorted(np.linspace(0, 1, bins + 1)[1:-1], s, side='right')
    counts = np.bincount(ids, minlength=bins)
    counts = counts[counts > 0]
    expected = np.sum(counts / s.size * np.abs(prob_true - prob_pred))
    assert iso_lib.expected_calibration_error(
        s, y, num_bins=bins) == pytest.approx(expected, abs=1e-12)
    # hand computed, 2 bins: |0.1 + 0.2 - 1| + |0.85 + 0.95 - 2| over 4
    assert iso_lib.expected_calibration_error(
        [0.1, 0.2, 0.85, 0.95], [0, 1, 1, 1], num_bins=2) == \
        pytest.approx(0.225)
    # a score of exactly 1 belongs to the last bin
    assert iso_lib.expected_calibration_error([1.0], [1]) == 0.
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        iso_lib.expected_calibration_error([1.5], [1])


def test_weighted_metrics_against_sklearn():
    """One row of bootstrap weights = a weighted sample: AUC equals
    scikit-learn's weighted roc_auc_score, the rates the weighted counts."""
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(1)
    n = 60
    scores = np.round(rng.random(n), 1)  # many ties
    labels = (rng.random(n) < 0.5).astype(int)
    types = np.where(labels == 1, 'none',
                     np.where(rng.random(n) < 0.5, 'print', 'replay'))
    strata = iso_lib._strata(labels == 1, types)
    weights = rng.integers(0, 3, size=(5, n)).astype(float)
    thr = 0.45
    out = iso_lib.weighted_metrics(scores, strata, thr, weights)
    for r, w in enumerate(weights):
        assert out['AUC'][r] == pytest.approx(
            roc_auc_score(labels, scores, sample_weight=w))
        acc = scores >= thr
        live = labels == 1
        bpcer = 1 - w[live & acc].sum() / w[live].sum()
        apcer = max(w[(types == t) & acc].sum() / w[types == t].sum()
                    for t in ('print', 'replay'))
        far = w[~live & acc].sum() / w[~live].sum()
        assert out['BPCER'][r] == pytest.approx(bpcer)
        assert out['APCER'][r] == pytest.approx(apcer)
        assert out['HTER'][r] == pytest.approx((far + bpcer) / 2)
    # unit weights = the plain metrics
    ones = iso_lib.weighted_metrics(scores, strata, thr, np.ones((1, n)))
    roc = BinaryROC(scores, labels, attack_types=types)
    assert ones['AUC'][0] == pytest.approx(roc.auc())
    assert ones['APCER'][0] == pytest.approx(roc.error_rates(thr)['APCER'])


def test_bootstrap_is_stratified_seeded_and_sane():
    strata = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    w = iso_lib.draw_bootstrap_weights(strata, 50,
                                       np.random.default_rng(0))
    assert w.shape == (50, 9)
    for g, size in ((0, 3), (1, 2), (2, 4)):
        assert (w[:, strata == g].sum(1) == size).all()
    assert (w == np.round(w)).all() and (w >= 0).all()
    a = iso_lib.bootstrap_intervals(SCORES, LABELS, 0.55, TYPES,
                                    num_resamples=300, seed=3)
    b = iso_lib.bootstrap_intervals(SCORES, LABELS, 0.55, TYPES,
                                    num_resamples=300, seed=3)
    c = iso_lib.bootstrap_intervals(SCORES, LABELS, 0.55, TYPES,
                                    num_resamples=300, seed=4)
    assert a == b and a != c
    # the order of the samples does not matter (gathered results and the
    # sorted score files come in other orders than the dataloader's)
    perm = np.random.default_rng(0).permutation(SCORES.size)
    assert iso_lib.bootstrap_intervals(SCORES[perm], LABELS[perm], 0.55,
                                       TYPES[perm], num_resamples=300,
                                       seed=3) == a
    roc = BinaryROC(SCORES, LABELS, attack_types=TYPES)
    rates = roc.error_rates(0.55)
    for k, point in (('AUC', roc.auc()), ('HTER', rates['HTER']),
                     ('APCER', rates['APCER']), ('BPCER', rates['BPCER'])):
        lo, hi = a[k]
        assert 0 <= lo <= point <= hi <= 1, (k, lo, point, hi)
    # perfectly separated: every resample has AUC 1 and no error
    sep = iso_lib.bootstrap_intervals([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0],
                                      0.5, num_resamples=100)
    assert sep['AUC'] == (1., 1.) and sep['HTER'] == (0., 0.)
    # one class only: undefined, NaN
    one = iso_lib.bootstrap_intervals([0.9, 0.8], [1, 1], 0.5)
    assert all(np.isnan(v).all() for v in one.values())
    # a chunked run equals an unchunked one for the same draws
    rng = np.random.default_rng(7)
    strata = iso_lib._strata(LABELS == 1, TYPES)
    w = iso_lib.draw_bootstrap_weights(strata, 8, rng)
    whole = iso_lib.weighted_metrics(SCORES, strata, 0.55, w)
    parts = [iso_lib.weighted_metrics(SCORES, strata, 0.55, w[i:i + 3])
             for i in range(0, 8, 3)]
    for k in whole:
        np.testing.assert_allclose(
            whole[k], np.concatenate([p[k] for p in parts]))


def test_bootstrap_is_fast():
    """Vectorised: 1000 resamples of 5000 videos in seconds, not minutes
    (a Python loop over videos would take minutes)."""
    import time
    rng = np.random.default_rng(0)
    n = 5000
    labels = (rng.random(n) < 0.3).astype(int)
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1)
    types = np.where(labels == 1, 'none',
                     np.where(rng.random(n) < 0.5, 'print', 'replay'))
    start = time.perf_counter()
    out = iso_lib.bootstrap_intervals(scores, labels, 0.5, types,
                                      num_resamples=1000)
    assert time.perf_counter() - start < 30
    assert out['AUC'][0] < out['AUC'][1]


def test_operating_point_warning():
    """TPR@FPR=1e-4 from 45 spoof videos is finer than 45 samples
    resolve."""
    rng = np.random.default_rng(0)
    scores = rng.random(145)
    labels = np.r_[np.ones(100, int), np.zeros(45, int)]
    roc = BinaryROC(scores, labels)
    notes = iso_lib.operating_point_notes(roc, tpr_at_fpr=(1e-2, 1e-4),
                                          apcer_at_bpcer=(0.01, 0.05))
    assert len(notes) == 2
    assert notes[0].startswith('TPR@FPR=1e-2 is finer than 45 spoof')
    assert notes[1].startswith('TPR@FPR=1e-4 is finer than 45 spoof')
    # 100 live samples resolve 1 % BPCER
    assert not any('APCER@BPCER' in n for n in notes)
    with pytest.warns(iso_lib.OperatingPointWarning,
                      match=r'TPR@FPR=1e-4 is finer than 45 spoof frames'):
        FASMetric.calculate(scores, labels, threshold_policy='fixed',
                            threshold=0.5, level='frame', iso=True)
    # the smallest attack type decides for BPCER@APCER (max over types)
    types = np.array(['none'] * 100 + ['print'] * 40 + ['mask'] * 5)
    roc = BinaryROC(scores, labels, attack_types=types)
    notes = iso_lib.operating_point_notes(roc, bpcer_at_apcer=(0.1, ))
    assert len(notes) == 1 and '5 mask attack' in notes[0]


def test_metric_config_and_per_modality():
    with pytest.raises(ValueError, match='Unknown FASMetric iso keys'):
        METRICS.build(dict(type='FASMetric', iso=dict(resamples=10)))
    with pytest.raises(ValueError, match='iso.bootstrap'):
        METRICS.build(dict(type='FASMetric', iso=dict(bootstrap=-1)))
    with pytest.raises(ValueError, match='iso.ci'):
        METRICS.build(dict(type='FASMetric', iso=dict(ci=95)))
    metric = METRICS.build(dict(type='FASMetric', iso=True))
    assert metric.eval_cfg['iso']['bootstrap'] == 1000
    assert metric.eval_cfg['bpcer_at_apcer'] == (0.01, 0.05, 0.1)
    # the Runner path: per-modality keys get the ISO keys too
    fas = _fas_metric_tests()
    VAL, TEST, DEPTH_VAL, DEPTH_TEST, evaluate = (
        fas.VAL, fas.TEST, fas.DEPTH_VAL, fas.DEPTH_TEST, fas.evaluate)
    metric = METRICS.build(
        dict(type='FASMetric', iso=dict(bootstrap=50, seed=1)))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        m = evaluate(metric,
                     copy.deepcopy(VAL + TEST + DEPTH_VAL + DEPTH_TEST))
    for prefix in ('fas/', 'fas/rgb/', 'fas/depth/'):
        for key in ('ECE', 'HTER_CI_low', 'AUC_CI_high',
                    'APCER@BPCER=1.5e-1', 'BPCER@APCER=1e-1'):
            assert prefix + key in m, prefix + key
    off = evaluate(METRICS.build(dict(type='FASMetric')),
                   copy.deepcopy(VAL + TEST))
    assert not any('CI' in k or 'ECE' in k or 'APCER@' in k for k in off)
