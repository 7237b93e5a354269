"""issue 14 (LPI): configs/lpi/lpi_tiny_demo.py trains through
tools/train.py, its trainable-only checkpoint holds the EMA prototypes, and
a resumed run restores them (same weights and prototypes as the
uninterrupted run)."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmfas.datasets.demo_data import make_demo_dataset
from mmfas.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'lpi', 'lpi_tiny_demo.py')
COMMON = [
    # the demo CLIP's weights are made by tools/misc/pretrain_demo_clip.py;
    # a random tiny CLIP is enough to check the training path
    'model.backbone.pretrained=None',
    'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=1',
    'default_hooks.checkpoint.max_keep_ckpts=3',
    'default_hooks.logger.interval=1', 'randomness.seed=0',
    'train_dataloader.num_workers=0'
]


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('lpi_e2e')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=4,
                      frames_per_video=1, seed=0, num_workers=0)
    return root


def _train(cwd, work_dir, *extra):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, osp.join(REPO, 'tools', 'train.py'), CONFIG,
        '--work-dir', str(work_dir), '--no-validate', *extra,
        '--cfg-options', *COMMON
    ], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def _state(path):
    return safe_torch_load(str(path), map_location='cpu')['state_dict']


def test_lpi_demo_trains_and_resumes_with_prototypes(demo_cwd):
    full = demo_cwd / 'full'
    out = _train(demo_cwd, full)
    assert 'loss_pcl' in out and 'loss_ce' in out
    a = _state(full / 'iter_2.pth')
    assert a['prototype_loss.seen'].all()
    assert torch.isfinite(a['prototype_loss.prototypes']).all()
    assert not torch.equal(a['prototype_loss.prototypes'],
                           _state(full / 'iter_1.pth')[
                               'prototype_loss.prototypes'])
    assert any(k.startswith('guidance.') for k in a)

    part = demo_cwd / 'part'
    out = _train(demo_cwd, part, '--resume', str(full / 'iter_1.pth'))
    assert 'resumed' in out.lower()
    b = _state(part / 'iter_2.pth')
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k
