import copy
import csv
import os.path as osp
import tempfile
import uuid
from unittest import TestCase

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample

from mmfas.evaluation import FASMetric
from mmfas.evaluation.functional import DegenerateInputWarning
from mmfas.registry import METRICS
from mmfas.structures import set_prediction

DEFAULT_ARGS = dict(type='FASMetric')


def sample(score,
           label,
           video_id=None,
           attack_type=None,
           domain='D',
           eval_role='test',
           modality=None):
    """A ``DataSample`` as the model returns it (written by the score rule),
    as a dict (what mmengine hands to ``process``). ``score`` is the
    liveness score."""
    meta = dict(domain=domain)
    if modality is not None:
        meta['modality'] = modality
    if video_id is not None:
        meta['video_id'] = video_id
    if attack_type is None:
        attack_type = 'none' if label == 1 else 'print'
    meta['attack_type'] = attack_type
    if eval_role is not None:
        meta['eval_role'] = eval_role
    ds = DataSample(metainfo=meta).set_gt_label(label)
    return set_prediction(ds, score).to_dict()


# Scores are binary fractions so that means and midpoints are exact.
# val (source domains A, B): live videos 0.875, 0.75; spoof 0.25, 0.125
# -> EER 0 at threshold 0.5.
VAL = [
    sample(0.875, 1, 'A/live1', domain='A', eval_role='val'),
    sample(0.75, 1, 'A/live2', domain='A', eval_role='val'),
    sample(0.25, 0, 'B/spoof1', domain='B', eval_role='val'),
    sample(0.125, 0, 'B/spoof2', domain='B', eval_role='val'),
]
# test (target domain T), video means: live 0.875 (2 frames), 0.4375 (1);
# print 0.625 (3 frames); replay 0.125 (1), 0.5 (2, exactly at threshold).
TEST = [
    sample(0.75, 1, 'T/live1', domain='T'),
    sample(1.0, 1, 'T/live1', domain='T'),
    sample(0.4375, 1, 'T/live2', domain='T'),
    sample(0.5, 0, 'T/print1', 'print', domain='T'),
    sample(0.625, 0, 'T/print1', 'print', domain='T'),
    sample(0.75, 0, 'T/print1', 'print', domain='T'),
    sample(0.125, 0, 'T/replay1', 'replay', domain='T'),
    sample(0.25, 0, 'T/replay2', 'replay', domain='T'),
    sample(0.75, 0, 'T/replay2', 'replay', domain='T'),
]


def build(**kwargs):
    cfg = dict(DEFAULT_ARGS, **kwargs)
    return METRICS.build(cfg)


def evaluate(metric, samples, batch_size=4):
    for i in range(0, len(samples), batch_size):
        metric.process(None, copy.deepcopy(samples[i:i + batch_size]))
    return metric.evaluate(len(samples))


class TestFASMetric(TestCase):

    def test_val_policy_hand_computed(self):
        metrics = evaluate(build(), VAL + TEST)
        self.assertEqual(metrics['fas/threshold'], 0.5)
        # live2 (0.4375) rejected; print1 (0.625) and replay2 (0.5, at the
        # threshold) accepted
        self.assertEqual(metrics['fas/BPCER'], 50.)
        self.assertEqual(metrics['fas/APCER_print'], 100.)
        self.assertEqual(metrics['fas/APCER_replay'], 50.)
        self.assertEqual(metrics['fas/APCER'], 100.)  # max, not pooled 2/3
        self.assertEqual(metrics['fas/ACER'], 75.)
        self.assertAlmostEqual(metrics['fas/HTER'], (200 / 3 + 50) / 2)
        # AUC: 0.875 beats all 3 attacks, 0.4375 beats 0.125 only
        self.assertAlmostEqual(metrics['fas/AUC'], 400 / 6)
        self.assertEqual(metrics['fas/num_live'], 2)
        self.assertEqual(metrics['fas/num_spoof'], 3)
        self.assertEqual(
            set(metrics), {
                'fas/' + k
                for k in ('HTER', 'AUC', 'EER', 'ACER', 'APCER', 'BPCER',
                          'APCER_print', 'APCER_replay', 'TPR@FPR=1e-2',
                          'TPR@FPR=1e-3', 'TPR@FPR=1e-4', 'BPCER@APCER=5e-2',
                          'threshold', 'num_live', 'num_spoof')
            })
        # no attack accepted only above 0.625: TPR 1/2
        self.assertEqual(metrics['fas/TPR@FPR=1e-2'], 50.)
        self.assertEqual(metrics['fas/BPCER@APCER=5e-2'], 50.)

    def test_calculate_without_runner(self):
        scores = [s['live_score'].item() for s in VAL + TEST]
        labels = [s['gt_label'].item() for s in VAL + TEST]
        meta = {
            k: [s[k] for s in VAL + TEST]
            for k in ('video_id', 'attack_type', 'domain', 'eval_role')
        }
        metrics, details = FASMetric.calculate(
            scores,
            labels,
            video_ids=meta['video_id'],
            attack_types=meta['attack_type'],
            domains=meta['domain'],
            eval_roles=meta['eval_role'],
            return_details=True)
        runner_free = {'fas/' + k: v for k, v in metrics.items()}
        self.assertEqual(runner_free, evaluate(build(), VAL + TEST))
        self.assertEqual(details['threshold_source'], 'val')
        msg = details['message']
        for part in ("threshold_policy='val'", 'threshold=0.5',
                     'EER of the source validation split', 'domains=A,B',
                     'applied to test', 'domains=T', '2 live / 3 spoof videos',
                     'video level'):
            self.assertIn(part, msg)
        # documented example
        self.assertEqual(
            FASMetric.calculate([0.9, 0.8, 0.3, 0.6], [1, 1, 0, 0],
                                threshold_policy='fixed',
                                threshold=0.5,
                                level='frame')['HTER'], 25.)

    def test_shuffled_and_chunked_results(self):
        """Gathered results are not in dataset order (multi-process
        collection): any order or batch split gives identical metrics."""
        rng = np.random.default_rng(0)
        samples = []
        for v in range(60):
            label = int(v % 3 == 0)
            role = 'val' if v < 20 else 'test'
            kind = 'none' if label else ('print' if v % 2 else 'replay')
            for _ in range(int(rng.integers(1, 5))):
                score = float(
                    np.clip(rng.normal(0.3 + 0.4 * label, 0.25), 0, 1))
                samples.append(
                    sample(score, label, f'v{v}', kind, eval_role=role))
        for level in ('video', 'frame'):
            ref = evaluate(build(level=level), samples, batch_size=7)
            for seed in range(3):
                perm = np.random.default_rng(seed).permutation(len(samples))
                shuffled = [samples[i] for i in perm]
                got = evaluate(
                    build(level=level), shuffled, batch_size=seed + 2)
                self.assertEqual(got, ref)
            # compute_metrics on a permuted results list
            metric = build(level=level)
            metric.process(None, copy.deepcopy(samples))
            results = metric.results
            a = metric.compute_metrics(results)
            b = metric.compute_metrics(results[::-1])
            self.assertEqual(a, b)

    def test_val_self_when_no_test_samples(self):
        metric = build()
        metric.process(None, copy.deepcopy(VAL))
        _, details = FASMetric.calculate([0.875, 0.75, 0.25, 0.125],
                                         [1, 1, 0, 0],
                                         video_ids=['a', 'b', 'c', 'd'],
                                         eval_roles=['val'] * 4,
                                         return_details=True)
        self.assertEqual(details['threshold_source'], 'val (self)')
        self.assertIn("threshold_source='val (self)'", details['message'])
        metrics = metric.evaluate(len(VAL))
        self.assertEqual(metrics['fas/threshold'], 0.5)
        self.assertEqual(metrics['fas/HTER'], 0.)
        self.assertEqual(metrics['fas/num_live'], 2)

    def test_val_policy_without_val_split(self):
        with pytest.raises(ValueError, match="eval_role='val'.*test_eer"):
            evaluate(build(), TEST)

    def test_val_targets(self):
        # apcer target on val: lowest threshold with APCER <= 0: above 0.25
        m = evaluate(
            build(val_target=dict(type='apcer', value=0.)), VAL + TEST)
        self.assertEqual(m['fas/threshold'], 0.5)
        m = evaluate(
            build(val_target=dict(type='bpcer', value=0.5)), VAL + TEST)
        self.assertEqual(m['fas/threshold'], (0.875 + 0.75) / 2)
        # a live-only (one-class) validation split works with 'bpcer' ...
        live_val = VAL[:2]
        m = evaluate(
            build(val_target=dict(type='bpcer', value=0.)), live_val + TEST)
        self.assertEqual(m['fas/threshold'], 0.75)
        # ... and not with 'eer', which says so
        with pytest.raises(ValueError, match="type='bpcer'"):
            with pytest.warns(DegenerateInputWarning):
                evaluate(build(), live_val + TEST)

    def test_test_eer_is_legacy(self):
        metric = build(threshold_policy='test_eer')
        metrics = evaluate(metric, VAL + TEST)
        scores = np.array([0.875, 0.4375, 0.625, 0.125, 0.5])
        labels = np.array([1, 1, 0, 0, 0])
        _, details = FASMetric.calculate(
            scores,
            labels,
            video_ids=list('abcde'),
            threshold_policy='test_eer',
            return_details=True)
        self.assertTrue(details['message'].startswith('LEGACY'))
        self.assertIn('LEGACY', details['threshold_source'])
        self.assertEqual(
            metrics['fas/threshold'],
            FASMetric.calculate(
                scores, labels, list('abcde'),
                threshold_policy='test_eer')['threshold'])
        self.assertEqual(
            metrics['fas/EER'],
            FASMetric.calculate(
                scores, labels, list('abcde'),
                threshold_policy='test_eer')['EER'])

    def test_fixed_policy(self):
        m = evaluate(build(threshold_policy='fixed', threshold=0.45), TEST)
        self.assertEqual(m['fas/threshold'], 0.45)
        self.assertEqual(m['fas/BPCER'], 50.)
        for bad in (None, 1.5, -0.1, '0.5'):
            with pytest.raises(ValueError, match='threshold'):
                build(threshold_policy='fixed', threshold=bad)
        with pytest.raises(ValueError, match='only used by'):
            build(threshold=0.5)

    def test_bad_config(self):
        with pytest.raises(ValueError, match="threshold_policy='best'"):
            build(threshold_policy='best')
        with pytest.raises(ValueError, match="level='clip'"):
            build(level='clip')
        with pytest.raises(ValueError, match='value'):
            build(val_target=dict(type='apcer'))
        with pytest.raises(ValueError, match='val_target.type'):
            build(val_target=dict(type='auc'))
        with pytest.raises(ValueError, match='per_modality'):
            build(per_modality='yes')
        with pytest.raises(ValueError, match='.pkl'):
            build(out_file_path='preds.json')

    def test_frame_level(self):
        m = evaluate(
            build(level='frame', threshold_policy='fixed', threshold=0.5),
            TEST)
        # frames: live 0.75 1.0 0.4375 -> 1/3 rejected
        self.assertAlmostEqual(m['fas/BPCER'], 100 / 3)
        self.assertEqual(m['fas/num_live'], 3)
        self.assertEqual(m['fas/num_spoof'], 6)
        # print frames 0.5 0.625 0.75 all accepted; replay 0.75 of 3
        self.assertEqual(m['fas/APCER_print'], 100.)
        self.assertAlmostEqual(m['fas/APCER_replay'], 100 / 3)

    def test_reads_the_score_rule_live_score(self):
        """issue 12: the metric reads ``live_score`` written by the score
        rule; no column guessing (``score_index`` / ``score_type`` are
        gone), and a prediction that bypassed the rule is refused."""
        for old in (dict(score_index=0), dict(score_type='spoofness')):
            with pytest.raises(TypeError):
                build(**old)
        ref = evaluate(build(), VAL + TEST)
        # the live score decides, whatever the order of other fields
        no_pred = copy.deepcopy(VAL + TEST)
        for s in no_pred:
            del s['pred_score']
        self.assertEqual(evaluate(build(), no_pred), ref)
        # only pred_score (a predict outside the score rule): refused
        only_pred = copy.deepcopy(TEST[:2])
        for s in only_pred:
            del s['live_score']
        with pytest.raises(ValueError, match='no `live_score`'):
            build().process(None, only_pred)
        # pred_score in another class order than live_score says: refused
        swapped = copy.deepcopy(TEST[:1])
        swapped[0]['pred_score'] = swapped[0]['pred_score'].flip(0)
        with pytest.raises(ValueError, match=r'\[1 - s, s\]'):
            build().process(None, swapped)

    def test_custom_rates(self):
        m = evaluate(
            build(
                tpr_at_fpr=(0.5, ), bpcer_at_apcer=(0.1, 0.5),
                prefix='target'), VAL + TEST)
        self.assertIn('target/TPR@FPR=5e-1', m)
        self.assertIn('target/BPCER@APCER=1e-1', m)
        self.assertIn('target/BPCER@APCER=5e-1', m)
        self.assertNotIn('target/TPR@FPR=1e-2', m)

    def test_missing_eval_role_is_test(self):
        no_role = [
            sample(
                s['live_score'].item(),
                s['gt_label'].item(),
                s['video_id'],
                s['attack_type'],
                eval_role=None) for s in TEST
        ]
        self.assertNotIn('eval_role', no_role[0])
        self.assertEqual(
            evaluate(build(threshold_policy='fixed', threshold=0.5), no_role),
            evaluate(build(threshold_policy='fixed', threshold=0.5), TEST))

    def test_evaluator(self):
        evaluator = Evaluator(metrics=build(threshold_policy='test_eer'))
        evaluator.process([
            set_prediction(
                DataSample(metainfo=dict(
                    video_id=f'v{i}', attack_type=t,
                    domain='D')).set_gt_label(y), s)
            for i, (s, y,
                    t) in enumerate([(0.9, 1,
                                      'none'), (0.2, 0,
                                                'a'), (0.4, 0,
                                                       'b'), (0.7, 1, 'none')])
        ])
        m = evaluator.evaluate(4)
        self.assertEqual(m['fas/EER'], 0.)
        self.assertEqual(m['fas/AUC'], 100.)


class TestDegenerateInput(TestCase):

    def test_empty(self):
        with pytest.raises(ValueError, match='no results'):
            build().compute_metrics([])
        with pytest.raises(ValueError, match='Empty input'):
            FASMetric.calculate([], [], level='frame')

    def test_nan_scores(self):
        bad = copy.deepcopy(TEST)
        for i in (0, 4):  # what predict writes for NaN logits
            bad[i]['live_score'] = torch.tensor(float('nan'))
            bad[i]['pred_score'][:] = float('nan')
        with pytest.raises(ValueError, match='2 of 9 scores are NaN'):
            evaluate(build(threshold_policy='fixed', threshold=0.5), bad)

    def test_one_class_is_nan_not_0_or_1(self):
        live_only = [s for s in TEST if s['gt_label'].item() == 1]
        with pytest.warns(DegenerateInputWarning):
            m = evaluate(
                build(threshold_policy='fixed', threshold=0.5), live_only)
        for k in ('AUC', 'EER', 'APCER', 'ACER', 'HTER', 'TPR@FPR=1e-2',
                  'BPCER@APCER=5e-2'):
            self.assertTrue(np.isnan(m[f'fas/{k}']), k)
        self.assertEqual(m['fas/BPCER'], 50.)
        self.assertEqual(m['fas/num_spoof'], 0)
        with pytest.warns(DegenerateInputWarning):
            m = evaluate(build(threshold_policy='test_eer'), live_only)
        self.assertTrue(np.isnan(m['fas/threshold']))
        self.assertTrue(np.isnan(m['fas/BPCER']))

    def test_video_level_needs_consistent_videos(self):
        bad = copy.deepcopy(TEST)
        bad[1]['gt_label'][:] = 0
        with pytest.raises(ValueError, match="'T/live1'.*label"):
            evaluate(build(threshold_policy='fixed', threshold=0.5), bad)
        bad = copy.deepcopy(TEST)
        bad[4]['attack_type'] = 'replay'
        with pytest.raises(ValueError, match="'T/print1'.*attack_type"):
            evaluate(build(threshold_policy='fixed', threshold=0.5), bad)

    def test_missing_video_id(self):
        no_id = [sample(0.5, 1), sample(0.25, 0)]
        with pytest.raises(ValueError, match="2 of 2.*video_id.*'frame'"):
            evaluate(build(threshold_policy='fixed', threshold=0.5), no_id)
        m = evaluate(
            build(threshold_policy='fixed', threshold=0.5, level='frame'),
            no_id)
        self.assertEqual(m['fas/HTER'], 0.)

    def test_single_frame_videos(self):
        m = evaluate(
            build(threshold_policy='fixed', threshold=0.5),
            [sample(0.75, 1, 'a'), sample(0.5, 0, 'b')])
        self.assertEqual(m['fas/APCER'], 100.)  # at the threshold
        self.assertEqual(m['fas/BPCER'], 0.)
        self.assertEqual(m['fas/AUC'], 100.)


class TestOutputFiles(TestCase):

    def _read(self, path):
        with open(path, newline='') as f:
            return list(csv.reader(f))

    def test_out_dir(self):
        with tempfile.TemporaryDirectory() as tmp:
            evaluate(build(out_dir=tmp, prefix='ocim'), VAL + TEST)
            rows = self._read(osp.join(tmp, 'fas_scores_ocim.csv'))
            self.assertEqual(
                rows[0],
                ['id', 'domain', 'attack_type', 'label', 'score', 'eval_role'])
            self.assertEqual(len(rows), 1 + 4 + 5)  # videos of both roles
            self.assertIn(['T/live1', 'T', 'none', '1', '0.875', 'test'], rows)
            roc = self._read(osp.join(tmp, 'fas_roc_ocim.csv'))
            self.assertEqual(roc[0], ['fpr', 'tpr', 'threshold'])
            self.assertEqual(roc[1], ['0.0', '0.0', 'inf'])
            self.assertEqual(roc[-1][:2], ['1.0', '1.0'])

    def test_log_file_dir(self):
        name = f'test_fas_metric_{uuid.uuid4().hex}'
        with tempfile.TemporaryDirectory() as tmp:
            logger = MMLogger.get_instance(
                name, log_file=osp.join(tmp, 'run.log'))
            try:
                evaluate(build(), VAL + TEST)
                self.assertTrue(
                    osp.isfile(osp.join(tmp, 'fas_scores_fas.csv')))
                self.assertTrue(osp.isfile(osp.join(tmp, 'fas_roc_fas.csv')))
                for h in logger.handlers:
                    h.flush()
                with open(osp.join(tmp, 'run.log')) as f:
                    log = f.read()
                self.assertIn("threshold_policy='val'", log)
                self.assertIn('threshold=0.5', log)
            finally:
                for h in list(logger.handlers):
                    h.close()
                    logger.removeHandler(h)
                # leave no current logger pointing at a deleted directory
                MMLogger._instance_dict.pop(name, None)


# depth samples: val live 0.375, 0.3125, spoof 0.125, 0.0625 -> own EER
# threshold 0.21875; test: the video ids of RGB test videos, other scores
DEPTH_VAL = [
    sample(0.375, 1, 'A/live1', domain='A', eval_role='val',
           modality='depth'),
    sample(0.3125, 1, 'A/live2', domain='A', eval_role='val',
           modality='depth'),
    sample(0.125, 0, 'B/spoof1', domain='B', eval_role='val',
           modality='depth'),
    sample(0.0625, 0, 'B/spoof2', domain='B', eval_role='val',
           modality='depth'),
]
DEPTH_TEST = [
    sample(0.25, 1, 'T/live1', domain='T', modality='depth'),
    sample(0.1875, 0, 'T/print1', 'print', domain='T', modality='depth'),
]


class TestPerModality(TestCase):
    """issue 12 section 3: per-modality metrics, the threshold policy
    applied within each modality."""

    def test_modality_rides_along_default_rgb(self):
        metric = build()
        metric.process(None, copy.deepcopy(TEST[:1] + DEPTH_TEST[:1]))
        self.assertEqual([r['modality'] for r in metric.results],
                         ['rgb', 'depth'])

    def test_val_policy_per_modality(self):
        ref = evaluate(build(), VAL + TEST)
        m = evaluate(build(), VAL + TEST + DEPTH_VAL + DEPTH_TEST)
        # RGB alone: exactly the single-modality metrics
        for k, v in ref.items():
            self.assertEqual(m['fas/rgb/' + k[len('fas/'):]], v, k)
        # depth at its own val threshold: live 0.25 accepted, print 0.1875
        # rejected
        self.assertEqual(m['fas/depth/threshold'], 0.21875)
        self.assertEqual(m['fas/depth/HTER'], 0.)
        self.assertEqual(m['fas/depth/num_live'], 1)
        self.assertEqual(m['fas/depth/num_spoof'], 1)
        # pooled: all val (separable, lowest live 0.3125, highest spoof
        # 0.25); the same video id in two modalities is two videos
        self.assertEqual(m['fas/threshold'], 0.28125)
        self.assertEqual(m['fas/num_live'], 3)
        self.assertEqual(m['fas/num_spoof'], 4)

    def test_cross_modal_val_from_all_modalities(self):
        """RGB source validation, depth target test: depth takes the
        threshold of the (RGB) validation samples."""
        m = evaluate(build(), VAL + DEPTH_TEST)
        self.assertEqual(m['fas/depth/threshold'], 0.5)
        self.assertEqual(m['fas/depth/BPCER'], 100.)  # 0.25 < 0.5
        self.assertEqual(m['fas/depth/APCER'], 0.)
        self.assertEqual(m['fas/depth/num_live'], 1)
        # RGB has validation samples only: evaluated at its own threshold
        self.assertEqual(m['fas/rgb/threshold'], 0.5)
        self.assertEqual(m['fas/rgb/num_live'], 2)

    def test_other_policies_and_switch(self):
        m = evaluate(build(threshold_policy='test_eer'),
                     VAL + TEST + DEPTH_TEST)
        # depth: the EER of its own two scores (separable)
        self.assertEqual(m['fas/depth/EER'], 0.)
        self.assertEqual(m['fas/depth/threshold'], 0.21875)
        m = evaluate(build(threshold_policy='fixed', threshold=0.2),
                     VAL + TEST + DEPTH_TEST)
        self.assertEqual(m['fas/depth/threshold'], 0.2)
        self.assertEqual(m['fas/depth/APCER'], 0.)
        self.assertEqual(m['fas/depth/BPCER'], 0.)
        self.assertFalse(any(
            '/depth/' in k
            for k in evaluate(build(per_modality=False), VAL + TEST +
                              DEPTH_TEST)))
        one = evaluate(build(per_modality=True), VAL + TEST)
        self.assertEqual(one['fas/rgb/HTER'], one['fas/HTER'])
        self.assertNotIn('fas/depth/HTER', one)

    def test_per_modality_csv(self):
        with tempfile.TemporaryDirectory() as tmp:
            evaluate(build(out_dir=tmp), VAL + TEST + DEPTH_TEST)
            for f in ('fas_scores_fas.csv', 'fas_scores_fas_rgb.csv',
                      'fas_scores_fas_depth.csv', 'fas_roc_fas_depth.csv'):
                self.assertTrue(osp.isfile(osp.join(tmp, f)), f)
            with open(osp.join(tmp, 'fas_scores_fas_depth.csv')) as f:
                rows = list(csv.reader(f))
            self.assertIn(['depth:T/live1', 'T', 'none', '1', '0.25', 'test'],
                          rows)


class TestDecisionsAndFiles(TestCase):

    def test_dump_follows_the_threshold(self):
        """issue 11: ``--out`` stored ``pred_label`` by argmax although the
        decision rule is ``live_score >= threshold``."""
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'preds.pkl')
            evaluate(build(threshold_policy='fixed', threshold=0.7,
                           out_file_path=out), VAL + TEST)
            import pickle
            with open(out, 'rb') as f:
                dumped = pickle.load(f)
        self.assertEqual(len(dumped), len(VAL + TEST))
        argmax_differs = 0
        for d in dumped:
            s = d['live_score'].item()
            self.assertEqual(d['pred_label'].tolist(), [int(s >= 0.7)])
            self.assertEqual(d['threshold'], 0.7)
            self.assertEqual(d['threshold_policy'], 'fixed')
            argmax_differs += int(d['pred_score'].argmax()) != int(s >= 0.7)
        self.assertGreater(argmax_differs, 0)

    def test_dump_val_threshold_per_modality(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = osp.join(tmp, 'preds.pkl')
            m = evaluate(build(out_file_path=out),
                         VAL + TEST + DEPTH_VAL + DEPTH_TEST)
            import pickle
            with open(out, 'rb') as f:
                dumped = pickle.load(f)
        for d in dumped:
            mod = d.get('modality', 'rgb')
            thr = m[f'fas/{mod}/threshold']
            self.assertEqual(d['threshold'], thr)
            self.assertEqual(d['pred_label'].tolist(),
                             [int(d['live_score'].item() >= thr)])

    def test_file_tag_keeps_both_tests(self):
        """issue 11: the best checkpoint's test overwrote the last one's
        fas_scores_*.csv / fas_roc_*.csv."""
        from mmfas.evaluation import checkpoint_tag, set_file_tag
        self.assertEqual(checkpoint_tag('w/best_fas_HTER_iter_6.pth'),
                         'best_fas_HTER_iter_6')
        with tempfile.TemporaryDirectory() as tmp:
            metric = build(out_dir=tmp)
            self.assertEqual(set_file_tag([metric, object()], 'iter_6'), 1)
            evaluate(metric, VAL + TEST)
            set_file_tag(metric, 'best_fas_HTER_iter_3')
            evaluate(metric, VAL + TEST[:5])
            for tag in ('iter_6', 'best_fas_HTER_iter_3'):
                for kind in ('scores', 'roc'):
                    self.assertTrue(osp.isfile(
                        osp.join(tmp, f'fas_{kind}_fas_{tag}.csv')))
            with open(osp.join(tmp, 'fas_scores_fas_iter_6.csv')) as f:
                self.assertEqual(len(list(csv.reader(f))), 1 + 4 + 5)
