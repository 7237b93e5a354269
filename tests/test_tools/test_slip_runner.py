"""SLIP through tools/train.py: both stages run per iteration, each stage
leaves the other stage's parameters bit-identical with grad None, the
trainable-only checkpoint holds both stages, resume is bit-identical, and
--test scores the target with the spoof-map score rule."""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from mmfas.datasets.demo_data import make_demo_dataset
from mmfas.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'slip', 'slip_tiny_demo.py')
COMMON = [
    'model.backbone.pretrained=None', 'model.save_trainable_only=True',
    'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
    'test_dataloader.num_workers=0', 'randomness.seed=0',
    'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
    'default_hooks.checkpoint.max_keep_ckpts=5',
    'default_hooks.logger.interval=1',
]
CHILD = f'''_base_ = [{CONFIG!r}]
custom_imports = dict(imports=['mmfas.testing.stage_check'])
custom_hooks = [dict(type='StageIsolationCheckHook')]
'''


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('slip')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=6,
                      frames_per_video=1, seed=0)
    return root


def _train(cwd, work_dir, max_iters, *extra):
    config = cwd / 'slip_checked.py'
    config.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([
        sys.executable, osp.join(REPO, 'tools', 'train.py'), str(config),
        '--work-dir', str(work_dir), *extra, '--cfg-options',
        f'train_cfg.max_iters={max_iters}', *COMMON
    ], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_slip_trains_tests_and_resumes(demo_cwd):
    full = demo_cwd / 'full'
    out = _train(demo_cwd, full, 4, '--test')
    for key in ('image.loss_live', 'image.loss_align', 'text.loss_fusion',
                'text.loss_disentangle', 'image.lr', 'text.lr'):
        assert key in out, key
    assert 'stage isolation checked: 8 stage steps' in out
    # one-class: sources are live only; the test reaches every attack
    assert "{'DemoA/live'" in out and 'APCER_print' in out
    assert 'Testing the LAST checkpoint' in out
    ckpt = safe_torch_load(str(full / 'iter_4.pth'), map_location='cpu')
    keys = set(ckpt['state_dict'])
    assert any(k.startswith('decoder.') for k in keys)
    assert any(k.startswith('fusion.') for k in keys)
    assert 'backbone.clip.visual.proj' in keys
    assert 'backbone.clip.token_embedding.weight' in keys
    assert set(ckpt['optimizer']) == {'image', 'text'}

    part = demo_cwd / 'part'
    _train(demo_cwd, part, 2)
    out = _train(demo_cwd, part, 4, '--resume')
    assert 'resumed' in out.lower()
    a = ckpt['state_dict']
    b = safe_torch_load(str(part / 'iter_4.pth'),
                        map_location='cpu')['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_oneclass_baseline_scores_the_protocol(demo_cwd, monkeypatch):
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        'oneclass_baseline',
        osp.join(REPO, 'tools', 'analysis_tools', 'oneclass_baseline.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.chdir(demo_cwd)
    out = demo_cwd / 'baseline.json'
    metrics = mod.main([CONFIG, '--out', str(out), '--cfg-options',
                        'model.backbone.pretrained=None'])
    # live-only validation: threshold at 5 % BPCER of the source live
    # videos; the test set holds both classes, so AUC is defined
    assert 0 <= metrics['AUC'] <= 100 and metrics['num_spoof'] > 0
    assert metrics['num_live'] > 0 and out.is_file()


def _tool(name):
    import importlib.util
    path = osp.join(REPO, 'tools', 'analysis_tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_summarise_cue_maps_by_hand():
    mod = _tool('slip_cue_maps')
    sums = {'live': (2, torch.full((2, 2), 0.2)),       # mean 0.1
            'print': (1, torch.full((2, 2), 0.5)),      # mean 0.5
            'replay': (3, torch.full((2, 2), 0.3))}     # mean 0.1
    res = mod.summarise(sums)
    assert res['live'] == dict(frames=2, mean=pytest.approx(0.1))
    assert res['print']['mean'] == pytest.approx(0.5)
    assert res['replay']['mean'] == pytest.approx(0.1)
    # all attacks pooled by frame: (0.5 + 3 * 0.1) / 4
    assert res['spoof (all attacks)'] == dict(frames=4,
                                              mean=pytest.approx(0.2))
    assert res['gap'] == pytest.approx(0.1)
    with pytest.raises(ValueError, match='live and spoof'):
        mod.summarise({'live': sums['live']})


def test_cue_map_tool_on_a_trained_checkpoint(demo_cwd, monkeypatch,
                                              tmp_path):
    ckpt = demo_cwd / 'full' / 'iter_4.pth'
    if not ckpt.is_file():
        _train(demo_cwd, demo_cwd / 'full', 4)
    mod = _tool('slip_cue_maps')
    monkeypatch.chdir(demo_cwd)
    opts = ['--cfg-options', 'model.backbone.pretrained=None',
            'model.save_trainable_only=True']
    summary = mod.main([CONFIG, str(ckpt), str(ckpt), '--out',
                        str(tmp_path)] + opts)
    a, b = (r['groups'] for r in summary['runs'])
    assert a == b and summary['gap_std'] == 0.0
    assert summary['gap_mean'] == pytest.approx(
        a['spoof (all attacks)']['mean'] - a['live']['mean'])
    # every test frame is counted once, in its group
    from mmfas.registry import DATASETS
    from mmfas.utils import load_config, register_all_modules
    register_all_modules(init_default_scope=True)
    cfg = load_config(CONFIG)
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    n_live = sum(int(ds.get_data_info(i)['gt_label']) == 1
                 for i in range(len(ds)))
    assert a['live']['frames'] == n_live
    assert a['spoof (all attacks)']['frames'] == len(ds) - n_live
    assert {'print', 'replay', 'mask', 'partial'} <= set(a)
    assert (tmp_path / 'cue_maps.json').is_file()
    maps = __import__('numpy').load(tmp_path / 'mean_maps.npz')
    assert maps['0_live'].shape == (32, 32)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        mod.main([CONFIG, str(tmp_path / 'missing.pth')] + opts)
