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


# A two-stage toy model (mmfas/testing/toy_models.py: stage "image" =
# image_encoder, stage "text" = class_embed + text_fusion, a frozen stem),
# trainable-only checkpoints, a different lr schedule per stage.
TOY_CONFIG = f"""
_base_ = ['{REPO}/configs/_base_/datasets/demo_abc2d.py',
          '{REPO}/configs/_base_/default_runtime.py']
custom_imports = dict(
    imports=['mmfas.testing.toy_models', 'mmfas.testing.stage_check'],
    allow_failed_imports=False)
# raises if a stage leaves a gradient on, or changes, another stage's
# parameter; logs how many stage steps it checked
custom_hooks = [dict(type='StageIsolationCheckHook')]
model = dict(type='ToyTwoStageClassifier', save_trainable_only=True)
optim_wrapper = dict(
    constructor='StagedOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.05),
    text=dict(optimizer=dict(lr=5e-3)))
param_scheduler = dict(
    image=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0,
                end=4)],
    text=[dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=6,
               eta_min=1e-4)])
train_cfg = dict(type='IterBasedTrainLoop', max_iters=6, val_interval=3)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
"""
TOY_IMAGE = ['image_encoder.0.weight', 'image_encoder.0.bias',
             'image_encoder.4.weight', 'image_encoder.4.bias']
TOY_TEXT = ['class_embed', 'text_fusion.weight', 'text_fusion.bias']


def _train_toy(cwd, work_dir, max_iters, *extra):
    config = cwd / 'toy_two_stage.py'
    config.write_text(TOY_CONFIG)
    return _run([
        sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config),
        '--work-dir', str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_iters={max_iters}', *COMMON
    ], cwd)


def test_two_stage_train_resume_roundtrip(demo_cwd):
    """A two-stage model through tools/train.py: both stages train and log,
    each stage step leaves the other stage's parameters bit-identical with
    grad None (StageIsolationCheckHook, 6 iterations x 2 stages), the
    trainable-only checkpoint holds both stages (not the frozen stem),
    every stage's optimizer and scheduler state is saved, and 3 + resumed 3
    iterations are bit-identical to 6."""
    full = demo_cwd / 'toy_full'
    out = _train_toy(demo_cwd, full, 6)
    for key in ('image.loss_ce', 'image.loss_feat', 'text.loss_sep',
                'image.lr', 'text.lr', 'fas/HTER'):
        assert key in out, key
    assert 'stage isolation checked: 12 stage steps' in out
    ckpt = safe_torch_load(str(full / 'iter_6.pth'), map_location='cpu')
    assert sorted(ckpt['state_dict']) == sorted(TOY_IMAGE + TOY_TEXT)
    assert set(ckpt['optimizer']) == {'image', 'text'}
    assert set(ckpt['param_schedulers']) == {'image', 'text'}
    # each stage's own schedule: linear warm-up done, cosine decaying
    assert ckpt['optimizer']['image']['param_groups'][0]['lr'] == \
        pytest.approx(1e-2)
    assert 1e-4 < ckpt['optimizer']['text']['param_groups'][0]['lr'] < 1e-3

    part = demo_cwd / 'toy_part'
    _train_toy(demo_cwd, part, 3)
    out = _train_toy(demo_cwd, part, 6, '--resume')
    assert 'resumed' in out.lower()
    a = safe_torch_load(str(full / 'iter_6.pth'), map_location='cpu')
    b = safe_torch_load(str(part / 'iter_6.pth'), map_location='cpu')
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k in a['state_dict']:
        assert torch.equal(a['state_dict'][k], b['state_dict'][k]), k
    for stage in ('image', 'text'):
        sa, sb = a['optimizer'][stage]['state'], b['optimizer'][stage]['state']
        assert sa.keys() == sb.keys() and sa
        for i in sa:
            for k in ('exp_avg', 'exp_avg_sq'):
                assert torch.equal(sa[i][k], sb[i][k]), (stage, i, k)
    # both stages trained between iteration 3 and 6
    c = _weights(part / 'iter_3.pth')
    for names in (TOY_IMAGE, TOY_TEXT):
        assert any(not torch.equal(a['state_dict'][k], c[k]) for k in names)


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


def test_dist_train_two_stage_gloo(demo_cwd):
    """tools/dist_train.sh picks StagedDistributedDataParallel for a staged
    config (mmengine's DDP wrapper runs one loss per iteration, and the
    staged optimiser constructor refuses it): both stages train on 2
    processes. A plain list of param schedulers is copied for each stage."""
    config = demo_cwd / 'toy_two_stage_dist.py'
    config.write_text(TOY_CONFIG + (
        "param_scheduler = [dict(type='LinearLR', start_factor=0.5, "
        "by_epoch=False, begin=0, end=2)]\n"))
    work = demo_cwd / 'toy_dist'
    out = _run([
        'bash', osp.join(REPO, 'tools', 'dist_train.sh'), str(config), '2',
        '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2',
        *COMMON
    ], demo_cwd, env_extra=dict(PORT=_free_port()))
    assert 'Distributed training: True' in out
    assert 'StagedDistributedDataParallel' in out
    assert 'image.loss' in out and 'text.loss' in out
    # under DDP too, no stage leaves a gradient on or moves another's
    assert 'stage isolation checked: 4 stage steps' in out
    ckpt = safe_torch_load(str(work / 'iter_2.pth'), map_location='cpu')
    assert {k: len(v) for k, v in ckpt['param_schedulers'].items()} == {
        'image': 1, 'text': 1}
    for stage in ('image', 'text'):  # warm-up done: back to the base lr
        assert ckpt['optimizer'][stage]['param_groups'][0]['lr'] == \
            pytest.approx(1e-2 if stage == 'image' else 5e-3)


# FLIP-MCL's (every multi-view model's) Runner-path test:
# test_views_and_modalities_runner.py
