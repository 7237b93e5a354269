"""End-to-end: tools/train.py -> tools/test.py -> --resume, and a 2-process
CPU (gloo) run of tools/dist_train.sh, on the tiny CLIP and demo data."""
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
import torch

from mmfas.datasets.demo_data import make_demo_dataset
from mmfas.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
COMMON = [
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0', 'randomness.seed=0',
    'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1'
]


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('e2e')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=10,
                      frames_per_video=1, seed=0)
    return root


def _run(args, cwd, env_extra=None, timeout=600):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    env.update(env_extra or {})
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _train(cwd, work_dir, max_iters, *extra):
    return _run([
        sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG,
        '--work-dir', str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_iters={max_iters}', *COMMON
    ], cwd)


def _weights(path):
    return safe_torch_load(str(path), map_location='cpu')['state_dict']


def test_train_test_resume_roundtrip(demo_cwd):
    full = demo_cwd / 'full'
    out = _train(demo_cwd, full, 6)
    assert 'fas/HTER' in out and (full / 'iter_6.pth').is_file()

    # test: prints the metrics and names the threshold policy
    out = _run([
        sys.executable, osp.join(REPO, 'tools', 'test.py'), CONFIG,
        str(full / 'iter_6.pth'), '--work-dir', str(demo_cwd / 'test'),
        '--cfg-options', 'test_dataloader.num_workers=0'
    ], demo_cwd)
    assert re.search(r"threshold_policy='val'", out)
    assert re.search(r'fas/HTER: \d', out) and 'fas/AUC' in out
    assert 'fas/TPR@FPR=1e-2' in out
    csvs = [f for _, _, fs in os.walk(demo_cwd / 'test') for f in fs
            if f.startswith('fas_scores')]
    assert csvs

    # interrupted at 3, resumed to 6: same weights as uninterrupted
    part = demo_cwd / 'part'
    _train(demo_cwd, part, 3)
    out = _train(demo_cwd, part, 6, '--resume')
    assert 'resumed' in out.lower()
    a, b = _weights(full / 'iter_6.pth'), _weights(part / 'iter_6.pth')
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    # and training did change them
    c = _weights(part / 'iter_3.pth')
    assert any(not torch.allclose(a[k], c[k]) for k in a
               if a[k].is_floating_point())


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return str(s.getsockname()[1])


def test_dist_train_two_processes_gloo(demo_cwd):
    work = demo_cwd / 'dist'
    out = _run([
        'bash', osp.join(REPO, 'tools', 'dist_train.sh'), CONFIG, '2',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=3',
        *COMMON
    ], demo_cwd, env_extra=dict(PORT=_free_port()))
    assert (work / 'iter_3.pth').is_file()
    assert 'Distributed training: True' in out
    # both ranks evaluated their half of the source dev split and the
    # metric saw every video once: 3 domains x 2 dev subjects x (2 live,
    # 3 attack) videos
    assert re.search(r'fas/num_live: 12\b', out), out[-3000:]
    assert re.search(r'fas/num_spoof: 18\b', out)


def test_train_mcl_three_views_through_the_runner(demo_cwd):
    """FLIP-MCL's 3-view pipeline through the dataloader's collate, the data
    preprocessor and the Runner (not only the model)."""
    work = demo_cwd / 'mcl'
    config = osp.join(REPO, 'configs', 'flip', 'flip-mcl_tiny_demo.py')
    out = _run([
        sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
        '--work-dir', str(work), '--no-validate', '--cfg-options',
        'train_cfg.max_iters=2', 'train_dataloader.num_workers=0',
        'default_hooks.logger.interval=1'
    ], demo_cwd)
    assert 'loss_simclr' in out and 'loss_consistency' in out
    assert (work / 'iter_2.pth').is_file()
