"""tools/analysis_tools/eval_scores.py and the score files it reads
(issue 16, "offline and standards-based evaluation"): a test run's numbers
are reproduced exactly from its CSV, at video or frame level, and the ISO
report of the product preset shows in the run's log and JSON."""
import copy
import glob
import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import tempfile
import warnings

import pytest

from mmfas.evaluation.functional import BinaryROC
from mmfas.evaluation.score_files import (evaluate_score_file, parse_target,
                                          read_score_file)
from mmfas.registry import METRICS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
PRESET = osp.join(REPO, 'configs', '_base_', 'presets', 'product.py')
LOADERS = ['train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
           'test_dataloader.num_workers=0']


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


FAS = _load('_fas_metric_samples', 'tests/test_evaluation/test_fas_metric.py')
eval_scores = _load('eval_scores', 'tools/analysis_tools/eval_scores.py')


def _run_metric(samples, tmp=None, **kwargs):
    tmp = tmp or tempfile.mkdtemp(prefix='mmfas_eval_scores_')
    metric = METRICS.build(dict(type='FASMetric', out_dir=tmp, **kwargs))
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        metrics = FAS.evaluate(metric, copy.deepcopy(samples))
    return tmp, {k[len('fas/'):]: v for k, v in metrics.items()}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return fn(*args, **kwargs)


def test_frames_file_and_both_levels(tmp_path):
    """The scores file holds one row per video (a video-level run), so the
    metric also writes every frame score; each level is reproduced."""
    samples = FAS.VAL + FAS.TEST
    tmp, video = _run_metric(samples, str(tmp_path))
    kind, rows = read_score_file(osp.join(tmp, 'fas_scores_fas.csv'))
    assert kind == 'scores' and rows['score'].size == 4 + 5  # videos
    kind, frames = read_score_file(osp.join(tmp, 'fas_frames_fas.csv'))
    assert kind == 'frames' and frames['score'].size == len(samples)
    assert set(frames['video_id'].tolist()) >= {'T/print1', 'A/live1'}
    # the rows as the run evaluated them, and the frames at video level
    assert _quiet(evaluate_score_file,
                  osp.join(tmp, 'fas_scores_fas.csv')) == video
    assert _quiet(evaluate_score_file,
                  osp.join(tmp, 'fas_frames_fas.csv')) == video
    # frame level: what a frame-level run computes
    _, frame = _run_metric(samples, str(tmp_path / 'f'), level='frame')
    assert frame != video
    assert _quiet(evaluate_score_file, osp.join(tmp, 'fas_frames_fas.csv'),
                  level='frame') == frame
    # --level on the scores file reads the frames file next to it
    assert _quiet(evaluate_score_file, osp.join(tmp, 'fas_scores_fas.csv'),
                  level='frame') == frame
    # other policies and the ISO keys
    for kwargs in (dict(threshold_policy='test_eer'),
                   dict(threshold_policy='fixed', threshold=0.6),
                   dict(val_target=dict(type='bpcer', value=0.5)),
                   dict(iso=dict(bootstrap=100, seed=2))):
        _, expected = _run_metric(samples, str(tmp_path / 'p'), **kwargs)
        assert _quiet(evaluate_score_file, osp.join(tmp, 'fas_scores_fas.csv'),
                      **kwargs) == expected, kwargs


def test_frame_level_run_and_modalities(tmp_path):
    samples = FAS.VAL + FAS.TEST + FAS.DEPTH_VAL + FAS.DEPTH_TEST
    tmp, video = _run_metric(samples, str(tmp_path / 'm'))
    # per-modality files reproduce the per-modality keys
    for m in ('rgb', 'depth'):
        sub = _quiet(evaluate_score_file,
                     osp.join(tmp, f'fas_scores_fas_{m}.csv'))
        assert sub == {k[len(m) + 1:]: v for k, v in video.items()
                       if k.startswith(m + '/')}
        from_frames = _quiet(evaluate_score_file,
                             osp.join(tmp, 'fas_frames_fas.csv'),
                             modality=m)
        assert from_frames == sub
    pooled = {k: v for k, v in video.items() if '/' not in k}
    assert _quiet(evaluate_score_file,
                  osp.join(tmp, 'fas_frames_fas.csv')) == pooled
    # a frame-level run: its scores file evaluates as frames
    tmp, frame = _run_metric(FAS.VAL + FAS.TEST, str(tmp_path / 'f'),
                             level='frame')
    metrics, details = _quiet(evaluate_score_file,
                              osp.join(tmp, 'fas_scores_fas.csv'),
                              return_details=True)
    assert metrics == frame and details['unit'] == 'rows = frames of the run'
    # with the ISO report: the bootstrap does not depend on the row order
    # (the file is sorted, the run saw the dataloader's order)
    iso = dict(bootstrap=200, seed=1)
    tmp, frame = _run_metric(FAS.TEST + FAS.VAL, str(tmp_path / 'i'),
                             level='frame', iso=iso)
    assert _quiet(evaluate_score_file, osp.join(tmp, 'fas_scores_fas.csv'),
                  iso=iso) == frame
    assert _quiet(evaluate_score_file, osp.join(tmp, 'fas_frames_fas.csv'),
                  level='frame', iso=iso) == frame


def test_errors_name_the_file(tmp_path):
    tmp, _ = _run_metric(FAS.VAL + FAS.TEST, str(tmp_path / 'run'))
    lone = tmp_path / 'fas_scores_fas.csv'
    shutil.copy(osp.join(tmp, 'fas_scores_fas.csv'), lone)
    with pytest.raises(ValueError, match='fas_frames_'):
        evaluate_score_file(str(lone), level='video')
    bad = tmp_path / 'bad.csv'
    bad.write_text('a,b\n1,2\n')
    with pytest.raises(ValueError, match=r'bad\.csv:1: not a score file'):
        read_score_file(str(bad))
    rows = lone.read_text().splitlines()
    rows[3] = rows[3].replace(rows[3].split(',')[4], 'high')
    broken = tmp_path / 'fas_scores_broken.csv'
    broken.write_text('\n'.join(rows) + '\n')
    with pytest.raises(ValueError, match=r"broken\.csv:4: score 'high'"):
        read_score_file(str(broken))
    with pytest.raises(FileNotFoundError):
        read_score_file(str(tmp_path / 'none.csv'))
    assert parse_target('bpcer=0.05') == dict(type='bpcer', value=0.05)
    assert parse_target('EER') == dict(type='eer')
    for bad_target in ('bpcer', 'far=0.1', 'apcer=2'):
        with pytest.raises(ValueError, match='bpcer=RATE'):
            parse_target(bad_target)


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope='module')
def demo_run(tmp_path_factory):
    """FLIP-IT tiny demo: 4 iterations, then tools/test.py with the
    product preset (ISO report on)."""
    from mmfas.datasets.demo_data import make_demo_dataset
    root = tmp_path_factory.mktemp('evalscores')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=3,
                      frames_per_video=2, seed=0, num_workers=0)
    work = root / 'work'
    _run([osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir',
          str(work), '--cfg-options', 'train_cfg.max_iters=4',
          'train_cfg.val_interval=4', 'default_hooks.checkpoint.interval=4',
          *LOADERS], root)
    product = root / 'product_demo.py'
    product.write_text(f'_base_ = [{CONFIG!r}, {PRESET!r}]\n'
                       'test_evaluator = dict(iso=_base_.iso_report)\n')
    test_dir = root / 'test'
    out = _run([osp.join(REPO, 'tools', 'test.py'), str(product),
                str(work / 'iter_4.pth'), '--work-dir', str(test_dir),
                '--cfg-options', *LOADERS], root)
    run_dir, = glob.glob(str(test_dir / '2*'))
    with open(osp.join(run_dir, osp.basename(run_dir) + '.json')) as f:
        record = json.loads(f.read().splitlines()[-1])
    return dict(root=root, run_dir=run_dir, out=out, record=record)


def test_iso_report_in_the_demo_log_and_json(demo_run):
    record, out = demo_run['record'], demo_run['out']
    for key in ('fas/APCER', 'fas/APCER_print', 'fas/BPCER', 'fas/ACER',
                'fas/BPCER@APCER=1e-2', 'fas/BPCER@APCER=1e-1',
                'fas/APCER@BPCER=1e-2', 'fas/APCER@BPCER=1.5e-1', 'fas/ECE',
                'fas/HTER_CI_low', 'fas/HTER_CI_high', 'fas/AUC_CI_low',
                'fas/APCER_CI_high', 'fas/BPCER_CI_low'):
        assert isinstance(record[key], float), key
    assert 'ISO/IEC 30107-3 (video level)' in out
    assert '95% bootstrap CI (1000 resamples of the videos' in out
    # a demo test set is far too small for TPR@FPR=1e-4: said so
    assert 'TPR@FPR=1e-4 is finer than' in out
    with open(glob.glob(osp.join(demo_run['run_dir'], '*.log'))[0]) as f:
        assert 'fas/HTER_CI_low' in f.read()


def test_eval_scores_reproduces_the_run_exactly(demo_run, tmp_path):
    run_dir, record = demo_run['run_dir'], demo_run['record']
    expected = {k: v for k, v in record.items() if k.startswith('fas/')}
    scores = osp.join(run_dir, 'fas_scores_fas_iter_4.csv')
    frames = osp.join(run_dir, 'fas_frames_fas_iter_4.csv')
    for path in (scores, frames):
        out_json = str(tmp_path / 'metrics.json')
        got = eval_scores.main([path, '--iso', '--out', out_json])
        assert got == expected  # every key, bit for bit
        with open(out_json) as f:
            assert json.load(f) == expected
    # frame level: as many evaluated frames as the test split has
    frame = eval_scores.main([frames, '--level', 'frame'])
    assert frame['fas/num_live'] == 2 * record['fas/num_live']
    # another policy, offline: legacy = the test rows' own EER threshold
    legacy = eval_scores.main([scores, '--threshold-policy', 'test_eer'])
    _, rows = read_score_file(scores)
    test = rows['eval_role'] == 'test'
    assert legacy['fas/threshold'] == BinaryROC(
        rows['score'][test], rows['label'][test]).eer()[1]
    fixed = eval_scores.main([scores, '--threshold', '1.0'])
    assert fixed['fas/BPCER'] == 100.0 and fixed['fas/threshold'] == 1.0


export_tool = _load('export_deploy_checkpoint',
                    'tools/misc/export_deploy_checkpoint.py')


def test_deploy_threshold_at_a_dev_target(demo_run, tmp_path):
    """export_deploy_checkpoint.py --target bpcer=0.05 --dev-scores: the
    threshold is chosen on the dev ('val') rows and stored with its
    policy; --threshold keeps working."""
    from mmfas.utils import safe_torch_load
    ckpt = str(demo_run['root'] / 'work' / 'iter_4.pth')
    scores = osp.join(demo_run['run_dir'], 'fas_scores_fas_iter_4.csv')
    _, rows = read_score_file(scores)
    val = rows['eval_role'] == 'val'
    roc = BinaryROC(rows['score'][val], rows['label'][val],
                    attack_types=rows['attack_type'][val])
    out = str(tmp_path / 'deploy.pth')
    export_tool.main([CONFIG, ckpt, '--target', 'bpcer=0.05',
                      '--dev-scores', scores, '--out', out, '--no-verify'])
    meta = safe_torch_load(out)['meta']
    assert meta['fas_threshold'] == roc.threshold_at_bpcer(0.05)
    assert meta['threshold_policy'] == 'val'
    assert meta['val_target'] == dict(type='bpcer', value=0.05)
    origin = meta['threshold_origin']
    assert origin['dev_scores'] == scores and origin['dev_role'] == 'val'
    assert (origin['num_live'], origin['num_spoof']) == (roc.num_live,
                                                         roc.num_spoof)
    rates = roc.error_rates(meta['fas_threshold'])
    assert origin['BPCER'] == pytest.approx(rates['BPCER'] * 100)
    assert origin['BPCER'] <= 5.
    assert origin['APCER'] == pytest.approx(rates['APCER'] * 100)
    # APCER target on the test rows, frames averaged per video again
    meta = export_tool.export(CONFIG, ckpt, None, out, verify=False,
                              target='apcer=0.1', dev_scores=scores,
                              dev_role='test', level='video')
    test = rows['eval_role'] == 'test'
    assert meta['fas_threshold'] == BinaryROC(
        rows['score'][test], rows['label'][test],
        attack_types=rows['attack_type'][test]).threshold_at_apcer(0.1)
    assert meta['threshold_origin']['dev_scores'].endswith(
        'fas_frames_fas_iter_4.csv')
    # the old flag: a fixed threshold, policy 'fixed'
    meta = export_tool.export(CONFIG, ckpt, 0.3, out, verify=False)
    assert meta['threshold_policy'] == 'fixed' and \
        'threshold_origin' not in meta
    # scores of another checkpoint are refused
    other = tmp_path / 'fas_scores_fas_iter_8.csv'
    shutil.copy(scores, other)
    with pytest.raises(ValueError, match='not named after the checkpoint'):
        export_tool.export(CONFIG, ckpt, None, out, verify=False,
                           target='bpcer=0.05', dev_scores=str(other))
    with pytest.raises(SystemExit):
        export_tool.parse_args([CONFIG, ckpt, '--target', 'bpcer=0.05',
                                '--out', out])
    with pytest.raises(SystemExit):
        export_tool.parse_args([CONFIG, ckpt, '--threshold', '0.5',
                                '--target', 'eer', '--out', out])
