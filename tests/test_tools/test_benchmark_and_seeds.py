"""tools/analysis_tools/benchmark.py and tools/multi_seed.py on the tiny
random CLIP (subprocesses, OMP_NUM_THREADS=1, PYTHONPATH=repo)."""
import importlib.util
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

from mmfas.datasets.demo_data import make_demo_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
MCL_CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-mcl_tiny_demo.py')
BENCH = osp.join(REPO, 'tools', 'analysis_tools', 'benchmark.py')
MULTI = osp.join(REPO, 'tools', 'multi_seed.py')
SHORT = [
    '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
    'default_hooks.checkpoint.interval=2', 'train_dataloader.num_workers=0',
    'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0'
]


def _run(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_benchmark_prints_all_numbers(tmp_path):
    out_json = tmp_path / 'bench.json'
    rc, out = _run([
        BENCH, CONFIG, '--batch-size', '2', '--iters', '1', '--warmup', '1',
        '--repeats', '2', '--device', 'cpu', '--no-pretrained', '--json',
        str(out_json)
    ], cwd=tmp_path)
    assert rc == 0, out[-4000:]
    for label in ('device:', 'cpu - ', '(a) train bare PyTorch loop:',
                  '(b) train mmengine train_step:',
                  'mmengine overhead per iter (b) over (a):',
                  '(c) inference batch 1   text cache ON:',
                  '(c) inference batch 1   text cache OFF:',
                  '(c) inference batch 2   text cache ON:',
                  '(c) inference batch 2   text cache OFF:',
                  'speed-up from caching at batch 1:',
                  'speed-up from caching at batch 2:',
                  '(d) peak memory inference:', '(d) peak memory train',
                  'images/s'):
        assert label in out, (label, out[-3000:])
    res = json.loads(out_json.read_text())
    assert res['model'] == 'FLIPIT' and res['device'] == 'cpu'
    for key in ('bare', 'mmengine'):
        assert res['train'][key]['images_per_s'] > 0
    assert math.isfinite(res['train']['overhead_pct'])
    for b in ('batch_1', 'batch_2'):
        inf = res['inference'][b]
        assert inf['cached']['images_per_s'] > 0
        assert inf['uncached']['images_per_s'] > 0
        assert inf['cache_speedup'] > 0
        assert inf['cache_speedup_of_medians'] > 0
        # the uncached variant really recomputes the text features
        assert inf['text_recomputed_per_call'] == 1
        # ... and empties the cache, which is warmed again before every
        # cached block: the second repeat's cached block runs right after
        # an uncached one and still computes nothing
        assert inf['text_computed_in_cached_blocks'] == 0
    assert 'cache warmed before each ON block' in out
    assert 'median of paired (OFF, ON) block ratios' in out
    assert res['memory']['train']['peak_rss_delta_mb'] >= 0


def test_benchmark_multi_view_amp_in_process(capsys):
    """FLIP-MCL: 3 views per training sample, --amp (BF16AmpOptimWrapper on
    a CPU); in-process to keep the test short."""
    bench = _load('mmfas_benchmark', BENCH)
    res = bench.main([
        MCL_CONFIG, '--batch-size', '2', '--iters', '1', '--warmup', '1',
        '--repeats', '1', '--device', 'cpu', '--amp', '--skip-inference'
    ])
    out = capsys.readouterr().out
    assert res['train_views'] == 3 and res['model'] == 'FLIPMCL'
    # mmengine's AmpOptimWrapper needs a GPU; on a CPU --amp is bf16
    assert res['train']['optim_wrapper'] == 'BF16AmpOptimWrapper'
    assert res['train']['mmengine']['images_per_s'] > 0
    assert 'x3 views per sample' in out


TOY_STAGED = """
custom_imports = dict(imports=['mmfas.testing.toy_models'],
                      allow_failed_imports=False)
default_scope = 'mmfas'
model = dict(type='ToyTwoStageClassifier')
optim_wrapper = dict(
    constructor='StagedOptimWrapperConstructor',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
"""


def test_benchmark_two_stage_model_in_process(tmp_path, capsys,
                                              monkeypatch):
    """A staged model: a training iteration runs every stage, in the bare
    loop (each stage with its own optimizer) and through train_step."""
    from mmfas.testing.toy_models import ToyTwoStageClassifier
    config = tmp_path / 'toy_staged.py'
    config.write_text(TOY_STAGED)
    calls = []
    orig = ToyTwoStageClassifier.loss

    def loss(self, inputs, data_samples, stage=None):
        calls.append(stage)
        return orig(self, inputs, data_samples, stage=stage)

    monkeypatch.setattr(ToyTwoStageClassifier, 'loss', loss)
    bench = _load('mmfas_benchmark_staged', BENCH)
    res = bench.main([
        str(config), '--batch-size', '2', '--iters', '1', '--warmup', '0',
        '--repeats', '1', '--device', 'cpu', '--amp'
    ])
    out = capsys.readouterr().out
    # one bare and one train_step iteration, each running both stages
    assert calls == ['image', 'text'] * 2
    assert res['model'] == 'ToyTwoStageClassifier'
    assert res['train']['optim_wrapper'] == 'StagedOptimWrapperDict'
    assert res['train']['stages'] == {
        'image': 'BF16AmpOptimWrapper(AdamW)',
        'text': 'BF16AmpOptimWrapper(AdamW)'}
    for key in ('bare', 'mmengine'):
        assert res['train'][key]['images_per_s'] > 0
    assert '2 stages per iteration' in out
    assert 'image BF16AmpOptimWrapper(AdamW), text' in out
    assert res['inference']['batch_2']['cached']['images_per_s'] > 0


def test_benchmark_one_class_slip_in_process(capsys):
    """SLIP refuses spoof labels in training: the benchmark's synthetic
    batch is live-only for a one-class model, and both stages and
    inference run (issue 13's benchmark command, on the tiny demo CLIP)."""
    from mmengine.config import Config
    bench = _load('mmfas_benchmark_slip', BENCH)
    res = bench.main([
        osp.join(REPO, 'configs', 'slip', 'slip_tiny_demo.py'),
        '--no-pretrained', '--batch-size', '2', '--iters', '1', '--warmup',
        '0', '--repeats', '1', '--device', 'cpu'
    ])
    out = capsys.readouterr().out
    assert res['model'] == 'SLIP' and res['train_label'] == 1
    assert set(res['train']['stages']) == {'image', 'text'}
    assert res['train']['mmengine']['images_per_s'] > 0
    assert res['inference']['batch_2']['cached']['images_per_s'] > 0
    assert 'training labels all live (one-class)' in out
    # the recipe alone also says it (every training set filtered to live);
    # a two-class recipe alternates the labels
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'slip',
                                   'slip_tiny_demo.py'))
    assert bench.train_labels(cfg) == 1
    assert bench.train_labels(Config.fromfile(CONFIG)) is None
    batch = bench.make_batch(4, 32, 1, 3, 0, label=None)
    assert [int(s.gt_label) for s in batch['data_samples']] == [0, 1, 0, 1]


def test_parse_test_log(tmp_path):
    ms = _load('mmfas_multi_seed', MULTI)
    log = tmp_path / 'x.log'
    log.write_text('\n'.join([
        "INFO - FASMetric [fas]: threshold_policy='val', video level ...",
        'INFO - Iter(val) [1/1]    fas/HTER: 10.0000  fas/AUC: 90.0000',
        'INFO - Testing the LAST checkpoint',
        "INFO - FASMetric [fas]: threshold_policy='val', video level ...",
        'INFO - Iter(test) [ 5/10]    eta: 0:00:01  time: 0.1000  '
        'data_time: 0.0100  memory: 12',
        'INFO - Iter(test) [10/10]    fas/HTER: 12.5000  fas/AUC: 88.1234'
        '  fas/TPR@FPR=1e-2: 3.0000  fas/BPCER@APCER=5e-2: 1.5e-01  '
        'fas/x: nan  data_time: 0.0100  time: 0.2000',
        'INFO - Testing the BEST-by-source-val checkpoint /w/best.pth',
        'INFO - Iter(test) [10/10]    fas/HTER: 11.0000  fas/AUC: 89.0000',
    ]) + '\n')
    res = ms.parse_test_log(str(log))
    assert res['last'] == {'fas/HTER': 12.5, 'fas/AUC': 88.1234,
                           'fas/TPR@FPR=1e-2': 3.0,
                           'fas/BPCER@APCER=5e-2': 0.15,
                           'fas/x': pytest.approx(float('nan'),
                                                  nan_ok=True)}
    assert res['best'] == {'fas/HTER': 11.0, 'fas/AUC': 89.0}
    assert res['best_ckpt'] == '/w/best.pth'
    assert res['threshold_policy'] == ['val']
    rc = ms.main(['cfg.py', '--seeds', '0', '1', '--dry-run', '--',
                  '--cfg-options', 'a=1'])
    assert rc == 0
    with pytest.raises(SystemExit):
        ms.parse_args(['cfg.py', '--seeds', '0', '--', '--seed', '3'])


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('seeds')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=10,
                      frames_per_video=1, seed=0, num_workers=0)
    return root


def test_multi_seed_two_seeds(demo_cwd):
    work = demo_cwd / 'ms'
    rc, out = _run([MULTI, CONFIG, '--seeds', '0', '1', '--work-dir',
                    str(work), '--quiet', '--', *SHORT], cwd=demo_cwd,
                   timeout=600)
    assert rc == 0, out[-4000:]
    summary = json.loads((work / 'summary.json').read_text())
    assert summary['seeds'] == [0, 1] and not summary['failed']
    for phase in ('last', 'best'):
        hter = summary['summary'][phase]['fas/HTER']
        assert hter['n'] == 2 and len(hter['values']) == 2
        assert math.isfinite(hter['mean'])
        assert hter['std'] is not None and hter['std'] >= 0
        assert 'fas/AUC' in summary['summary'][phase]
        assert 'fas/TPR@FPR=1e-2' in summary['summary'][phase]
    assert summary['threshold_policy'] == ['val']
    assert len(summary['commands']) == 2
    for seed, cmd in zip((0, 1), summary['commands']):
        assert f'--seed {seed}' in cmd and '--test' in cmd
        assert f'seed_{seed}' in cmd and 'train_cfg.max_iters=2' in cmd
    for run in summary['runs']:
        assert run['status'] == 'ok' and osp.isfile(run['log'])
    md = (work / 'summary.md').read_text()
    assert 'fas/HTER' in md and '±' in md and '--seed 1' in md
    assert 'best-by-source-val' in md


def test_multi_seed_failure_is_reported(demo_cwd):
    work = demo_cwd / 'ms_fail'
    rc, out = _run([
        MULTI, CONFIG, '--seeds', '0', '--work-dir', str(work), '--quiet',
        '--', '--cfg-options', 'model.type=NoSuchModel',
        'train_dataloader.num_workers=0'
    ], cwd=demo_cwd)
    assert rc == 1, out[-3000:]
    assert 'FAILED' in out
    summary = json.loads((work / 'summary.json').read_text())
    assert [f['seed'] for f in summary['failed']] == [0]
    log = summary['failed'][0]['log'] or summary['failed'][0]['run_log']
    assert osp.isfile(log) and log in out
    assert 'Failed runs' in (work / 'summary.md').read_text()
