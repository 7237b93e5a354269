"""The GPU machine's scripts, without a GPU and without the network:
``tools/misc/gpu_check.sh --plan`` and ``tools/misc/gpu_wheels.sh --check``
on a missing or incomplete wheel folder (nothing is downloaded here)."""
import os
import os.path as osp
import re
import subprocess

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CHECK = osp.join(ROOT, 'tools', 'misc', 'gpu_check.sh')
WHEELS = osp.join(ROOT, 'tools', 'misc', 'gpu_wheels.sh')


def run(*args, **env):
    return subprocess.run(['bash', *args],
                          cwd=ROOT,
                          capture_output=True,
                          text=True,
                          timeout=60,
                          env={
                              **os.environ,
                              **env
                          })


def test_gpu_check_plan_lists_the_stages():
    for quick in (False, True):
        p = run(CHECK, '--plan', *(['--quick'] if quick else []))
        assert p.returncode == 0, p.stdout + p.stderr
        out = p.stdout
        for stage in ('stage 0 setup', 'stage 1 tests_gpu', 'stage 2 train',
                      'stage 3 benchmark'):
            assert stage in out, out
        assert 'pip install --no-index --no-deps --target' in out
        assert '-m pytest tests_gpu' in out
        assert ('bash tools/dist_train.sh configs/flip/flip-it_vitb16_demo.py'
                ' 1 --amp --test') in out
        assert 'tools/misc/make_demo_data.py' in out
        # FLIP-IT ViT-B/16 in both precisions, random weights, one JSON each
        bench = [ln for ln in out.splitlines()
                 if 'analysis_tools/benchmark.py' in ln]
        assert any('flip-it_vitb16' in ln and '_fp16.json' in ln
                   for ln in bench), out
        assert any('flip-it_vitb16' in ln and '_bf16.json' in ln
                   for ln in bench), out
        assert all('--no-pretrained' in ln and '--device cuda' in ln
                   for ln in bench), out
        # the wheels it would install (or the pins, before gpu_wheels.sh)
        assert re.search(r'\d+ wheels in \.whl/|NO WHEELS in \.whl/', out)
        assert 'mmengine' in out and 'open_clip_torch' in out
        # the time budget: under 8 minutes (shorter for --quick)
        total = int(re.search(r'time budget: (\d+)s', out).group(1))
        assert total <= (300 if quick else 480)
        for name in ('env.txt', 'benchmark.json', 'summary.txt'):
            assert name in out


def test_gpu_check_needs_an_out_dir():
    p = run(CHECK)
    assert p.returncode == 2
    assert 'OUT_DIR' in p.stderr
    p = run(CHECK, '--no-such-option')
    assert p.returncode == 2 and 'unknown option' in p.stderr


def test_gpu_check_benchmarks_each_methods_main_config():
    """One ViT-B/16 config per seed method, the one its issue names (not a
    _legacy variant), in both precisions."""
    out = run(CHECK, '--plan').stdout
    bench = [ln for ln in out.splitlines() if 'analysis_tools/benchmark.py'
             in ln]
    for cfg in ('configs/slip/slip_vitb16_ocim.py',
                'configs/lpi/lpi_vitb16_oci2m.py',
                'configs/cmclip/cmclip_vitb16_crossmodal_surf_depth_5shot.py'):
        assert sum(f' {cfg} ' in ln for ln in bench) == 2, (cfg, out)
    assert not any('_legacy' in ln for ln in bench)


def test_gpu_check_only_selects_stages(tmp_path):
    p = run(CHECK, '--plan', '--only', 'tests_gpu,benchmark')
    assert p.returncode == 0, p.stderr
    assert 'stages setup,tests_gpu,benchmark' in p.stdout
    p = run(CHECK, str(tmp_path / 'out'), '--only', 'tests,train')
    assert p.returncode == 2
    assert "unknown stage 'tests'" in p.stderr
    p = run(CHECK, str(tmp_path / 'out'), '--only')
    assert p.returncode == 2 and 'OUT_DIR' in p.stderr


def test_gpu_wheels_check_fails_clearly_without_wheels(tmp_path):
    # missing folder, then an empty one
    for wheel_dir in (tmp_path / 'missing', tmp_path / 'empty'):
        if wheel_dir.name == 'empty':
            wheel_dir.mkdir()
        p = run(WHEELS, '--check', WHEEL_DIR=str(wheel_dir))
        assert p.returncode != 0
        assert f'no wheels in {wheel_dir}/' in p.stderr, p.stderr
        assert 'bash tools/misc/gpu_wheels.sh' in p.stderr
        assert 'Downloading' not in p.stdout + p.stderr


def test_gpu_wheels_check_names_a_missing_wheel(tmp_path):
    (tmp_path / 'addict-2.4.0-py3-none-any.whl').write_bytes(b'')
    p = run(WHEELS, '--check', WHEEL_DIR=str(tmp_path))
    assert p.returncode != 0
    assert 'missing wheel for mmengine==' in p.stderr, p.stderr


def test_gpu_wheel_pins_satisfy_runtime_requirements():
    p = run(WHEELS, '--list')
    assert p.returncode == 0, p.stderr
    pins = {}
    for line in p.stdout.split():
        name, version = line.split('==')
        pins[canonicalize_name(name)] = version
    for name in ('mmengine', 'mmcv-lite', 'mmpretrain', 'open-clip-torch',
                 'ftfy', 'addict', 'yapf', 'termcolor', 'modelindex'):
        assert name in pins, f'{name} is not pinned in gpu_wheels.sh'
    with open(osp.join(ROOT, 'requirements', 'runtime.txt')) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if not line:
                continue
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name in pins:
                assert req.specifier.contains(pins[name]), (
                    f'gpu_wheels.sh pins {name}=={pins[name]}, but '
                    f'requirements/runtime.txt asks {req.specifier}')
