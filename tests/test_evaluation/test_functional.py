import warnings
from unittest import TestCase

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from mmfas.evaluation import functional as F
from mmfas.evaluation.functional import DegenerateInputWarning


def random_data(seed, n=500, levels=20, pos_label=1, neg_label=0):
    """Scores on a coarse grid, so there are many ties within and across
    classes."""
    rng = np.random.default_rng(seed)
    labels = np.where(rng.random(n) < 0.4, pos_label, neg_label)
    raw = rng.normal(0.4 + 0.2 * (labels == pos_label), 0.2)
    scores = np.clip(np.round(raw * levels) / levels, 0, 1)
    return scores, labels


def ref_eer(scores, labels):
    """Loop reference: every candidate threshold (midpoints between distinct
    scores, the minimum, above the maximum); the closest FAR/FRR pair, ties to
    the higher threshold."""
    u = np.unique(scores)
    cands = [np.nextafter(u[-1], np.inf)] + [
        (u[i] + u[i + 1]) / 2 for i in range(len(u) - 2, -1, -1)
    ] + [u[0]]
    live, spoof = scores[labels == 1], scores[labels == 0]
    best = None
    for t in cands:  # descending
        far = np.mean(spoof >= t)
        frr = np.mean(live < t)
        d = abs(far - frr)
        if best is None or d < best[0] - 1e-15:
            best = (d, (far + frr) / 2, t)
    return best[1], best[2]


def ref_tpr_at_fpr(scores, labels, x, pos_label=1):
    fpr, tpr, _ = sk_roc_curve(
        labels, scores, pos_label=pos_label, drop_intermediate=False)
    return tpr[fpr <= x + 1e-12].max()


class TestAgainstSklearn(TestCase):

    def test_roc_curve_and_auc(self):
        for seed in range(10):
            scores, labels = random_data(seed)
            fpr, tpr, thr = F.roc_curve(scores, labels)
            sk_fpr, sk_tpr, sk_thr = sk_roc_curve(
                labels, scores, drop_intermediate=False)
            np.testing.assert_allclose(fpr, sk_fpr)
            np.testing.assert_allclose(tpr, sk_tpr)
            np.testing.assert_array_equal(thr, sk_thr)
            self.assertAlmostEqual(
                F.roc_auc(scores, labels),
                roc_auc_score(labels, scores),
                places=12)

    def test_pos_label(self):
        # live = 0 here: the other label convention, made explicit
        scores, labels = random_data(3, pos_label=0, neg_label=1)
        self.assertAlmostEqual(
            F.roc_auc(scores, labels, pos_label=0),
            roc_auc_score(labels == 0, scores),
            places=12)
        self.assertAlmostEqual(
            F.roc_auc(scores, labels, pos_label=0),
            F.roc_auc(scores, (labels == 0).astype(int)),
            places=15)

    def test_tpr_at_fpr(self):
        for seed in range(10):
            scores, labels = random_data(seed, n=2000, levels=200)
            xs = (1e-2, 5e-2, 0.1, 0.3)
            got = F.tpr_at_fpr(scores, labels, xs)
            want = [ref_tpr_at_fpr(scores, labels, x) for x in xs]
            np.testing.assert_allclose(got, want)
        self.assertIsInstance(F.tpr_at_fpr(scores, labels, 0.1), float)

    def test_eer_against_loop_reference(self):
        for seed in range(20):
            scores, labels = random_data(seed, n=200, levels=10)
            value, thr = F.eer(scores, labels)
            ref_value, ref_thr = ref_eer(scores, labels)
            self.assertAlmostEqual(value, ref_value, places=12)
            self.assertAlmostEqual(thr, ref_thr, places=12)


class TestHandCases(TestCase):

    def test_auc_ties_count_half(self):
        self.assertEqual(F.roc_auc([0.5, 0.5], [1, 0]), 0.5)
        # live 0.9 > all; live 0.5 ties one spoof, beats one: (2 + 1.5) / 4
        self.assertEqual(F.roc_auc([0.9, 0.5, 0.5, 0.1], [1, 1, 0, 0]), 0.875)

    def test_eer_hand(self):
        # separable: threshold midway, EER 0
        self.assertEqual(F.eer([0.8, 0.9, 0.1, 0.2], [1, 1, 0, 0]), (0.0, 0.5))
        # FAR = FRR = 1/2 at the midpoint of 0.625 and 0.375
        self.assertEqual(
            F.eer([0.375, 0.875, 0.125, 0.625], [1, 1, 0, 0]), (0.5, 0.5))
        # |FAR - FRR| = 1/2 at 0.75 (0.875 / 0.625) and at 0.375
        # (0.5 / 0.25): the tie goes to the higher threshold
        value, thr = F.eer([0.25, 0.875, 0.625], [1, 1, 0])
        self.assertEqual((value, thr), (0.25, 0.75))

    def test_eer_single_distinct_score(self):
        # accept-all and reject-all tie: the higher threshold, EER = 1/2
        value, thr = F.eer([0.6, 0.6, 0.6], [1, 0, 0])
        self.assertEqual(value, 0.5)
        self.assertGreater(thr, 0.6)

    def test_attack_at_threshold_is_accepted(self):
        rates = F.error_rates([0.5, 0.5, 0.2], [1, 0, 0], threshold=0.5)
        self.assertEqual(rates['BPCER'], 0.)  # live at threshold: accepted
        self.assertEqual(rates['APCER'], 0.5)  # attack at threshold: error
        self.assertEqual(rates['ACER'], 0.25)
        self.assertEqual(rates['HTER'], 0.25)

    def test_apcer_max_vs_pooled(self):
        scores = [0.9, 0.6, 0.1, 0.1, 0.7, 0.2, 0.2, 0.2, 0.2, 0.9, 0.3]
        labels = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        types = [
            'none', 'none', 'print', 'print', 'print', 'print', 'replay',
            'replay', 'replay', 'replay', 'mask'
        ]
        rates = F.error_rates(scores, labels, 0.5, types)
        self.assertEqual(rates['APCER_per_type'],
                         dict(print=0.25, replay=0.25, mask=0.))
        self.assertEqual(rates['APCER'], 0.25)
        self.assertAlmostEqual(rates['FAR'], 2 / 9)
        self.assertEqual(rates['BPCER'], 0.)
        self.assertAlmostEqual(rates['HTER'], 1 / 9)
        self.assertEqual(rates['ACER'], 0.125)
        # without types APCER is the pooled rate
        self.assertAlmostEqual(
            F.error_rates(scores, labels, 0.5)['APCER'], 2 / 9)

    def test_threshold_at_apcer_per_type(self):
        # replay: 0.9 0.6 ; print: 0.8 0.2 0.1 0.05 ; live: 0.95 0.7 0.5
        scores = [0.9, 0.6, 0.8, 0.2, 0.1, 0.05, 0.95, 0.7, 0.5]
        labels = [0, 0, 0, 0, 0, 0, 1, 1, 1]
        types = ['replay'] * 2 + ['print'] * 4 + ['none'] * 3
        # pooled: 1 of 6 accepted is allowed -> accept >= 0.9
        self.assertEqual(
            F.threshold_at_apcer(scores, labels, 1 / 6), (0.9 + 0.8) / 2)
        # per type, APCER <= 1/2: replay may accept 0.9 only, so 0.6 must
        # be rejected: threshold between 0.7 and 0.6
        thr = F.threshold_at_apcer(scores, labels, 0.5, types)
        self.assertEqual(thr, (0.7 + 0.6) / 2)
        rates = F.error_rates(scores, labels, thr, types)
        self.assertEqual(rates['APCER'], 0.5)
        self.assertEqual(rates['APCER_per_type'], dict(replay=0.5, print=0.25))
        # BPCER there: 0.5 rejected -> 1/3
        self.assertAlmostEqual(
            F.bpcer_at_apcer(scores, labels, 0.5, types), 1 / 3)
        # pooled APCER <= 1/2 allows 3 of 6 attacks: threshold between 0.5
        # and 0.2, every live sample accepted
        self.assertEqual(
            F.threshold_at_apcer(scores, labels, 0.5), (0.5 + 0.2) / 2)
        self.assertEqual(F.bpcer_at_apcer(scores, labels, 0.5), 0.)

    def test_threshold_at_bpcer(self):
        scores = [0.9, 0.8, 0.7, 0.6, 0.1]
        labels = [1, 1, 1, 1, 0]
        # live only is enough (one-class validation split)
        self.assertEqual(
            F.threshold_at_bpcer(scores, labels, 0.25), (0.7 + 0.6) / 2)
        self.assertEqual(F.threshold_at_bpcer(scores[:4], labels[:4], 0.), 0.6)
        self.assertEqual(
            F.threshold_at_bpcer(scores, labels, 0.), (0.6 + 0.1) / 2)

    def test_target_thresholds_random(self):
        for seed in range(5):
            scores, labels = random_data(seed, n=1000, levels=50)
            for x in (0.01, 0.05, 0.2):
                t = F.threshold_at_apcer(scores, labels, x)
                r = F.error_rates(scores, labels, t)
                self.assertLessEqual(r['APCER'], x)
                self.assertAlmostEqual(r['BPCER'],
                                       F.bpcer_at_apcer(scores, labels, x))
                # the next lower distinct score would break the target
                lower = scores[scores < t]
                if lower.size:
                    r2 = F.error_rates(scores, labels, lower.max())
                    self.assertGreater(r2['APCER'], x)
                t = F.threshold_at_bpcer(scores, labels, x)
                self.assertLessEqual(
                    F.error_rates(scores, labels, t)['BPCER'], x)
                higher = scores[scores >= t]
                self.assertGreater(
                    F.error_rates(scores, labels,
                                  np.nextafter(higher.min(), 2))['BPCER'], x)

    def test_percent_rate_rounding(self):
        # 0.29 * 100 = 28.999999999999996: 29 false accepts must count
        scores = np.r_[np.linspace(0.99, 0.7, 29), np.zeros(71), np.ones(1)]
        labels = np.r_[np.zeros(100, int), 1]
        self.assertEqual(F.tpr_at_fpr(scores, labels, 0.29), 1.)

    def test_rate_key(self):
        self.assertEqual(F.rate_key('TPR@FPR', 1e-2), 'TPR@FPR=1e-2')
        self.assertEqual(F.rate_key('TPR@FPR', 1e-4), 'TPR@FPR=1e-4')
        self.assertEqual(F.rate_key('BPCER@APCER', 0.05), 'BPCER@APCER=5e-2')


class TestDegenerate(TestCase):

    def test_empty(self):
        with pytest.raises(ValueError, match='Empty input'):
            F.roc_auc([], [])
        with pytest.raises(ValueError, match='Empty input'):
            F.aggregate_by_video([], [], [])

    def test_nan_scores(self):
        with pytest.raises(ValueError, match='2 of 5 scores are NaN'):
            F.eer([0.1, np.nan, 0.3, np.nan, 0.5], [1, 0, 1, 0, 1])
        with pytest.raises(ValueError, match='1 of 2 frame scores are NaN'):
            F.aggregate_by_video(['a', 'a'], [np.nan, 0.5], [1, 1])
        with pytest.raises(ValueError, match='1 are infinite'):
            F.roc_auc([np.inf, 0.5], [1, 0])

    def test_one_class_is_nan_with_warning(self):
        scores, labels = [0.2, 0.9, 0.4], [1, 1, 1]
        for fn in (F.roc_auc, lambda s, y: F.eer(s, y)[0],
                   lambda s, y: F.tpr_at_fpr(s, y, 0.01),
                   lambda s, y: F.bpcer_at_apcer(s, y, 0.05),
                   lambda s, y: F.threshold_at_apcer(s, y, 0.05)):
            with pytest.warns(DegenerateInputWarning, match='spoof'):
                self.assertTrue(np.isnan(fn(scores, labels)))
        with pytest.warns(DegenerateInputWarning, match='live'):
            self.assertTrue(np.isnan(F.roc_auc(scores, [0, 0, 0])))
        with pytest.warns(DegenerateInputWarning, match='APCER'):
            rates = F.error_rates(scores, labels, 0.5)
        self.assertAlmostEqual(rates['BPCER'], 2 / 3)
        self.assertTrue(np.isnan(rates['APCER']))
        self.assertTrue(np.isnan(rates['HTER']))
        self.assertTrue(np.isnan(rates['ACER']))

    def test_nan_threshold(self):
        with pytest.warns(DegenerateInputWarning, match='threshold is nan'):
            rates = F.error_rates([0.2, 0.9], [1, 0], float('nan'))
        self.assertTrue(all(np.isnan(rates[k]) for k in ('BPCER', 'APCER')))

    def test_bad_labels_and_lengths(self):
        with pytest.raises(ValueError, match='binary'):
            F.roc_auc([0.1, 0.2, 0.3], [0, 1, 2])
        with pytest.raises(ValueError, match='3 scores but 2 labels'):
            F.roc_auc([0.1, 0.2, 0.3], [0, 1])
        with pytest.raises(ValueError, match=r'\[0, 1\]'):
            F.tpr_at_fpr([0.1, 0.2], [0, 1], 2.)


class TestAggregateByVideo(TestCase):

    def test_unequal_frame_counts_and_single_frames(self):
        out = F.aggregate_by_video(
            ['v2', 'v1', 'v2', 'v3', 'v2'], [0.25, 0.5, 0.5, 0.125, 0.75],
            [0, 1, 0, 1, 0],
            attack_type=['print', 'none', 'print', 'none', 'print'])
        np.testing.assert_array_equal(out['video_id'], ['v1', 'v2', 'v3'])
        np.testing.assert_array_equal(out['score'], [0.5, 0.5, 0.125])
        np.testing.assert_array_equal(out['num_frames'], [1, 3, 1])
        np.testing.assert_array_equal(out['label'], [1, 0, 1])
        np.testing.assert_array_equal(out['attack_type'],
                                      ['none', 'print', 'none'])

    def test_order_invariant_bitwise(self):
        rng = np.random.default_rng(0)
        n = 5000
        ids = rng.integers(0, 300, n).astype(str)
        labels = (np.char.str_len(ids) % 2).astype(int)
        scores = rng.random(n)
        ref = F.aggregate_by_video(ids, scores, labels)
        for seed in range(3):
            p = np.random.default_rng(seed).permutation(n)
            out = F.aggregate_by_video(ids[p], scores[p], labels[p])
            np.testing.assert_array_equal(out['score'], ref['score'])
            np.testing.assert_array_equal(out['video_id'], ref['video_id'])

    def test_inconsistent_label_names_video(self):
        with pytest.raises(ValueError, match="'vid_b'.*different \"label\""):
            F.aggregate_by_video(['vid_a', 'vid_b', 'vid_b'], [0.1, 0.2, 0.3],
                                 [1, 1, 0])
        with pytest.raises(ValueError, match="'x'.*different \"attack_type\""):
            F.aggregate_by_video(['x', 'x'], [0.1, 0.2], [0, 0],
                                 attack_type=['print', 'replay'])


def test_million_scores_run():
    """Exercised at scale (timings: tools/analysis_tools/benchmark_metric.py,
    no timing assert here)."""
    rng = np.random.default_rng(0)
    n = 10**6
    labels = rng.integers(0, 2, n)
    scores = rng.random(n).astype(np.float32).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        roc = F.BinaryROC(scores, labels)
        assert abs(roc.auc() - roc_auc_score(labels, scores)) < 1e-12
        assert 0.45 < roc.eer()[0] < 0.55


class TestOneSort(TestCase):
    """The single-sort internals: value encoding, the float32 sort path,
    per-type thresholds and rates from the sorted classes."""

    def test_encode_values_matches_np_unique(self):
        rng = np.random.default_rng(0)
        n = 3000  # above the fast-path minimum
        ids = rng.integers(0, n, n).astype(str)
        # a value the strided sample misses
        rare = rng.choice(['print', 'replay'], n)
        rare[7] = 'mask'
        cases = [
            ids, ids[::2],
            np.char.add('OULU/Train_files/', ids),
            np.char.add(ids, '\u00e9'),  # latin-1: packed
            np.char.add(ids, '\u65e5'),  # beyond latin-1: np.unique
            np.where(rng.random(n) < 0.1, '', ids),
            np.char.add('x' * 130, ids),  # too long to pack
            rare,
            rng.choice(['a', 'b', '', '\u65e5'], n),
            rng.integers(-5, 5, n).astype(np.int8),
            rng.integers(0, 2**40, n),
            rng.integers(0, 3, n).astype(np.uint64),
            rng.random(n) < 0.5,
            rng.integers(0, 3, n).astype(float),
            rng.choice(['a', 'b'], n).astype(object),
            ['print', 'none', 'print'],  # short: np.unique directly
        ]
        for arr in cases:
            want_u, want_c = np.unique(arr, return_inverse=True)
            got_u, got_c = F.encode_values(arr)
            self.assertEqual(got_u.dtype, want_u.dtype)
            np.testing.assert_array_equal(got_u, want_u)
            np.testing.assert_array_equal(got_c, want_c.reshape(-1))

    def test_float32_and_float64_sort_paths(self):
        # float32-exact scores are sorted as float32; both paths must match
        # scikit-learn, ties across classes included
        rng = np.random.default_rng(1)
        labels = rng.integers(0, 2, 4000)
        raw = rng.normal(0.4 + 0.2 * labels, 0.2)
        for scores in (np.round(raw * 64) / 64,  # float32-exact, many ties
                       raw.astype(np.float32).astype(np.float64),
                       raw):  # float64 only
            roc = F.BinaryROC(scores, labels)
            fpr, tpr, thr = roc.curve()
            sk_fpr, sk_tpr, sk_thr = sk_roc_curve(
                labels, scores, drop_intermediate=False)
            np.testing.assert_allclose(fpr, sk_fpr)
            np.testing.assert_allclose(tpr, sk_tpr)
            np.testing.assert_array_equal(thr, sk_thr)
            self.assertAlmostEqual(
                roc.auc(), roc_auc_score(labels, scores), places=12)

    def test_per_type_threshold_against_loop(self):
        """Lowest threshold whose APCER (max over types) is <= x, by trying
        every candidate threshold."""

        def loop(scores, labels, types, x):
            roc = F.BinaryROC(scores, labels)
            for t in roc.thresholds[::-1]:  # ascending
                spoof = labels == 0
                worst = max((scores[spoof & (types == a)] >= t).mean()
                            for a in np.unique(types[spoof]))
                if worst <= x + 1e-12:
                    return t

        num_types = 300  # above _MAX_GROUP_SORTS: the lexsort path too
        for seed, k in ((0, 3), (1, 5), (2, num_types)):
            rng = np.random.default_rng(seed)
            n = 600 if k < 10 else 3000
            labels = rng.integers(0, 2, n)
            scores = np.round(rng.normal(0.4 + 0.2 * labels, 0.2) * 30) / 30
            types = np.where(labels == 1, 'live',
                             rng.integers(0, k, n).astype(str))
            roc = F.BinaryROC(scores, labels, 1, types)
            for x in (0., 0.1, 0.25, 0.5, 1.):
                self.assertEqual(
                    roc.threshold_at_apcer(x), loop(scores, labels, types, x))

    def test_roc_error_rates_match_error_rates(self):
        rng = np.random.default_rng(2)
        labels = rng.integers(0, 2, 2000)
        scores = np.round(rng.normal(0.4 + 0.2 * labels, 0.2) * 40) / 40
        types = np.where(labels == 1, 'none',
                         rng.choice(['print', 'replay', 'mask'], 2000))
        for attack_types in (None, types):
            roc = F.BinaryROC(scores, labels, 1, attack_types)
            for thr in (*scores[:20], 0.5, -1., 2., roc.eer()[1]):
                want = F.error_rates(scores, labels, thr, attack_types)
                self.assertEqual(roc.error_rates(thr), want)
                # and by hand
                live, spoof = scores[labels == 1], scores[labels == 0]
                self.assertEqual(want['BPCER'], 1. - np.mean(live >= thr))
                self.assertEqual(want['FAR'], np.mean(spoof >= thr))
        with pytest.warns(DegenerateInputWarning, match='threshold is nan'):
            rates = roc.error_rates(float('nan'))
        self.assertTrue(np.isnan(rates['HTER']))

    def test_negative_zero_is_one_score(self):
        roc = F.BinaryROC([-0., 0., 0.5], [1, 0, 1])
        np.testing.assert_array_equal(roc.scores, [0.5, 0.])
        self.assertFalse(np.signbit(roc.scores[-1]))
        self.assertEqual(roc.auc(), 0.75)

    def test_aggregate_by_video_float32_order_invariant(self):
        rng = np.random.default_rng(3)
        n = 4000
        ids = rng.integers(0, 200, n).astype(str)
        labels = (np.char.str_len(ids) % 2).astype(int)
        scores = rng.random(n).astype(np.float32).astype(np.float64)
        ref = F.aggregate_by_video(ids, scores, labels)
        for seed in range(3):
            p = np.random.default_rng(seed).permutation(n)
            out = F.aggregate_by_video(ids[p], scores[p], labels[p])
            np.testing.assert_array_equal(out['score'], ref['score'])
        # ascending-score sums, as documented
        v = ref['video_id'][0]
        want = 0.
        for s in np.sort(scores[ids == v]):
            want += s
        self.assertEqual(ref['score'][0], want / np.sum(ids == v))


def test_type_counts():
    roc = F.BinaryROC([0.1, 0.2, 0.3, 0.4, 0.9], [0, 0, 0, 0, 1], 1,
                      ['replay', 'print', 'print', 'mask', 'none'])
    np.testing.assert_array_equal(roc.type_names, ['mask', 'print', 'replay'])
    np.testing.assert_array_equal(roc.type_counts, [1, 2, 1])
    np.testing.assert_array_equal(
        F.BinaryROC([0.1, 0.2, 0.9], [0, 0, 1]).type_counts, [2])
