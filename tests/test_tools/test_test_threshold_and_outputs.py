"""tools/test.py and tools/train.py --test outputs (issue 11, "silent wrong
results"): a deployment checkpoint is tested at its own threshold, ``--out``
follows the decision rule, both tests of ``train.py --test`` keep their
files, the run JSON has plain numbers and validation scalars carry their
iteration. Tiny CLIP (FLIP-V) on a small demo dataset."""
import argparse
import glob
import importlib.util
import json
import os
import os.path as osp
import pickle
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmfas.datasets.demo_data import make_demo_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-v_tiny_demo.py')
LOADERS = ['train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
           'test_dataloader.num_workers=0']
DEPLOY_THR = 0.4375


def _load_tool(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Two iterations with validation after each, then --test."""
    root = tmp_path_factory.mktemp('thr')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=4,
                      frames_per_video=1, seed=0, num_workers=0)
    work = root / 'work'
    out = _run([
        osp.join(REPO, 'tools', 'train.py'), CONFIG, '--work-dir', str(work),
        '--test', '--cfg-options', 'train_cfg.max_iters=2',
        'train_cfg.val_interval=1', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', *LOADERS
    ], root)
    return dict(root=root, work=work, out=out)


def test_train_test_keeps_both_tests_files(trained):
    work = trained['work']
    best = glob.glob(str(work / 'best_fas_HTER_iter_*.pth'))
    assert len(best) == 1, trained['out'][-3000:]
    best_tag = osp.splitext(osp.basename(best[0]))[0]
    for tag in ('iter_2', best_tag):
        for kind in ('scores', 'roc'):
            files = glob.glob(str(work / '*' / f'fas_{kind}_fas_{tag}.csv'))
            assert len(files) == 1, (kind, tag, os.listdir(work))


def test_run_json_has_plain_numbers(trained):
    """mmengine's LoggerHook dropped np.int64 (``"fas/num_live": null``)."""
    files = [f for f in glob.glob(str(trained['work'] / '*' / '*.json'))
             if osp.basename(f)[:-5] == osp.basename(osp.dirname(f))]
    assert len(files) == 1
    with open(files[0]) as f:
        record = json.loads(f.read().splitlines()[-1])
    assert isinstance(record['fas/num_live'], int) and \
        record['fas/num_live'] > 0
    assert isinstance(record['fas/num_spoof'], int)


def test_validation_scalars_at_their_iteration(trained):
    """Validation metrics were logged at ``"step": 0``."""
    files = glob.glob(str(trained['work'] / '*' / 'vis_data' /
                          'scalars.json'))
    assert len(files) == 1
    with open(files[0]) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    val_steps = [r['step'] for r in rows if 'fas/HTER' in r]
    assert val_steps == [1, 2]


def test_deploy_checkpoint_threshold_and_out(trained, tmp_path):
    """A deployment checkpoint is tested at its own threshold (policy
    'fixed', logged), and --out's pred_label follows it."""
    export = _load_tool('export_deploy_checkpoint',
                        'tools/misc/export_deploy_checkpoint.py')
    deploy = str(tmp_path / 'deploy.pth')
    export.export(CONFIG, str(trained['work'] / 'iter_2.pth'), DEPLOY_THR,
                  deploy)
    preds = str(tmp_path / 'preds.pkl')
    out = _run([
        osp.join(REPO, 'tools', 'test.py'), CONFIG, deploy, '--work-dir',
        str(tmp_path / 'test'), '--out', preds, '--cfg-options', *LOADERS
    ], trained['root'])
    assert re.search(r"threshold_policy='fixed' at threshold=0.4375 from "
                     r'the deployment checkpoint', out), out[-3000:]
    assert re.search(r'fas/threshold: 0\.4375', out)
    with open(preds, 'rb') as f:
        dumped = pickle.load(f)
    assert dumped
    for d in dumped:
        assert d['threshold'] == DEPLOY_THR
        assert d['threshold_policy'] == 'fixed'
        assert d['pred_label'].tolist() == [
            int(d['live_score'].item() >= DEPLOY_THR)]
    # the score files are named by the tested checkpoint
    assert glob.glob(str(tmp_path / 'test' / '*' / 'fas_scores_fas_deploy'
                         '.csv'))


def _args(**kw):
    base = dict(checkpoint='deploy.pth', work_dir=None, amp=False,
                threshold_policy=None, threshold=None, out=None,
                cfg_options=None, launcher='none', config=CONFIG)
    base.update(kw)
    return argparse.Namespace(**base)


def test_threshold_resolution():
    """Flags win, then the deployment checkpoint, then the config."""
    tool = _load_tool('mmfas_test_tool', 'tools/test.py')

    def evaluator(deploy, **kw):
        cfg = tool.merge_args(Config.fromfile(CONFIG), _args(**kw), deploy)
        return cfg.test_evaluator

    ev = evaluator(0.25)
    assert (ev.threshold_policy, ev.threshold) == ('fixed', 0.25)
    assert 'deployment checkpoint' in ev.threshold_origin
    # `--threshold-policy fixed` on a deployment checkpoint failed with
    # "needs threshold"
    ev = evaluator(0.25, threshold_policy='fixed')
    assert (ev.threshold_policy, ev.threshold) == ('fixed', 0.25)
    ev = evaluator(0.25, threshold_policy='val')
    assert ev.threshold_policy == 'val' and 'threshold' not in ev
    ev = evaluator(0.25, threshold=0.75)
    assert (ev.threshold_policy, ev.threshold) == ('fixed', 0.75)
    ev = evaluator(None)
    assert ev.threshold_policy == 'val' and 'threshold' not in ev
    with pytest.raises(ValueError, match='needs --threshold'):
        evaluator(None, threshold_policy='fixed')
    with pytest.raises(ValueError, match='only used by'):
        evaluator(0.25, threshold_policy='val', threshold=0.5)
    # --out goes through the metric, which knows the threshold
    ev = evaluator(None, out='p.pkl')
    assert ev.out_file_path == 'p.pkl'
    assert 'overriding' in tool.resolve_threshold(
        _args(threshold_policy='test_eer'), 0.25)[2]
