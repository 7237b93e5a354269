"""Loading for test / inference is strict, and trainable-only checkpoints
never re-randomise a frozen part (issue 11), on the tiny CLIP demo configs:

* a FLIP-IT checkpoint into the FLIP-V config is an error naming the keys,
  in ``init_model``, in :class:`~mmfas.engine.runner.FASRunner` and in
  ``tools/test.py``; a malicious checkpoint URL is refused there;
* a trainable-only checkpoint of a model whose frozen CLIP is randomly
  initialised stores that CLIP, so two ``init_model`` calls give the same
  model; a file lacking it is refused.
"""
import copy
import functools
import http.server
import os
import os.path as osp
import re
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmfas.apis import inference_model, init_model
from mmfas.utils import UnsafeCheckpointError, register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
FLIPIT = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
FLIPV = osp.join(REPO, 'configs', 'flip', 'flip-v_tiny_demo.py')
FROZEN = {'model.save_trainable_only': True, 'model.backbone.freeze': 'all'}


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('strict')
    torch.manual_seed(0)
    flipit = str(root / 'flip-it.pth')
    torch.save(dict(state_dict=init_model(FLIPIT).state_dict(), meta={}),
               flipit)
    flipv = str(root / 'flip-v.pth')
    torch.save(dict(state_dict=init_model(FLIPV).state_dict(), meta={}),
               flipv)
    face = np.full((64, 64, 3), 90, np.uint8)
    cv2.circle(face, (32, 32), 20, (200, 120, 60), -1)
    return dict(root=root, flipit=flipit, flipv=flipv, face=face)


def _score(model, img):
    return inference_model(model, img)['live_score']


# ------------------------------------------------------------ strictness
def test_init_model_refuses_another_models_checkpoint(ckpts):
    with pytest.raises(RuntimeError) as e:
        init_model(FLIPV, ckpts['flipit'])
    msg = str(e.value)
    assert ckpts['flipit'] in msg
    assert 'head.classifier.weight' in msg  # FLIP-V's head, missing
    assert init_model(FLIPV, ckpts['flipv']) is not None


def _runner(config, ckpt, work_dir, strict=True):
    from mmfas.engine.runner import FASRunner
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cfg.work_dir = str(work_dir)
    cfg.load_from = ckpt
    cfg.load_strict = strict
    cfg.experiment_name = f'strict_{osp.basename(work_dir)}'
    return FASRunner.from_cfg(cfg)


def test_fas_runner_loads_load_from_strictly(ckpts):
    root = ckpts['root']
    runner = _runner(FLIPV, ckpts['flipit'], root / 'r1')
    with pytest.raises(RuntimeError) as e:
        runner.load_or_resume()
    msg = str(e.value)
    assert ckpts['flipit'] in msg and 'head.classifier.weight' in msg
    # the matching checkpoint loads
    runner = _runner(FLIPV, ckpts['flipv'], root / 'r2')
    runner.load_or_resume()
    ref = torch.load(ckpts['flipv'], weights_only=True)['state_dict']
    for k, v in runner.model.state_dict().items():
        assert torch.equal(v, ref[k]), k
    # training's load_from keeps mmengine's non-strict loading (fine-tuning
    # from another model's weights): the mismatch is only logged
    runner = _runner(FLIPV, ckpts['flipit'], root / 'r3', strict=False)
    runner.load_or_resume()


def _run_tool(args, cwd, env_extra):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1',
               **env_extra)
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


class _Touch:

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass


def test_tools_test_refuses_another_models_checkpoint(ckpts):
    """tools/test.py with another model's checkpoint is an error naming the
    keys (it used to warn and report an untrained head's metrics)."""
    from mmfas.datasets.demo_data import make_demo_dataset
    root = ckpts['root']
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=10,
                      frames_per_video=1, seed=0)
    rc, out = _run_tool([
        osp.join(REPO, 'tools', 'test.py'), FLIPV, ckpts['flipit'],
        '--work-dir', str(root / 'wrong'), '--cfg-options',
        'test_dataloader.num_workers=0'
    ], root, dict(TORCH_HOME=str(root / 'torch')))
    assert rc != 0, out[-3000:]
    assert 'does not match' in out and 'head.classifier.weight' in out
    assert not re.search(r'fas/HTER: \d', out)  # no metrics reported


def test_fas_runner_refuses_a_malicious_url(ckpts, monkeypatch):
    """The tools' load_from path with a URL (tools/test.py CONFIG
    http://HOST/x.pth): refused without running the pickle's code."""
    root = ckpts['root']
    monkeypatch.setenv('TORCH_HOME', str(root / 'torch'))
    hub_dir = str(root / 'torch' / 'hub')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: hub_dir)
    www = root / 'www'
    www.mkdir()
    marker = root / 'pwned'
    torch.save({'state_dict': {}, 'x': _Touch(str(marker))},
               www / 'evil.pth')
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0),
        functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f'http://127.0.0.1:{server.server_address[1]}/evil.pth'
        runner = _runner(FLIPV, url, root / 'url')
        with pytest.raises(UnsafeCheckpointError, match='posix.system'):
            runner.load_or_resume()
    finally:
        server.shutdown()
        server.server_close()
    assert not marker.exists()
    assert (root / 'torch' / 'hub' / 'checkpoints' / 'evil.pth').is_file()


# ------------------------------------- trainable-only, random frozen CLIP
def test_trainable_only_random_frozen_clip_is_stored(ckpts, tmp_path):
    """pretrained=None: the frozen CLIP is a random draw, so the
    trainable-only checkpoint keeps it; two init_model calls (with any RNG
    state) give the same model and scores."""
    torch.manual_seed(1)
    model = init_model(FLIPV, cfg_options=FROZEN)
    assert model.backbone.clip.visual.proj.requires_grad is False
    with torch.no_grad():
        model.head.classifier.weight.normal_()
    state = model.state_dict()
    assert 'backbone.clip.visual.proj' in state  # frozen, stored
    ckpt = str(tmp_path / 'trainable.pth')
    torch.save(dict(state_dict=state, meta={}), ckpt)

    torch.manual_seed(2)
    a = init_model(FLIPV, ckpt, cfg_options=FROZEN)
    torch.manual_seed(3)
    b = init_model(FLIPV, ckpt, cfg_options=FROZEN)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
        assert torch.equal(v, state[k]), k
    assert _score(a, ckpts['face']) == _score(b, ckpts['face'])
    assert _score(a, ckpts['face']) == pytest.approx(
        _score(model, ckpts['face']), abs=1e-6)


def test_checkpoint_lacking_random_frozen_weights_is_refused(tmp_path):
    """A trainable-only file without the random frozen CLIP (as written
    before) cannot be completed: refused, naming the keys."""
    model = init_model(FLIPV, cfg_options=FROZEN)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    state = {k: v for k, v in model.state_dict().items() if k not in frozen}
    ckpt = str(tmp_path / 'old_trainable.pth')
    torch.save(dict(state_dict=state, meta={}), ckpt)
    with pytest.raises(RuntimeError) as e:
        init_model(FLIPV, ckpt, cfg_options=FROZEN)
    msg = str(e.value)
    assert ckpt in msg and 'randomly' in msg and 'backbone.clip.' in msg


def test_trainable_only_pretrained_frozen_clip_may_be_absent(tmp_path):
    """With a pretrained CLIP (a weights file) the checkpoint omits the
    frozen CLIP, loads strictly (init_model and FASRunner) and gives the
    same model every time."""
    weights = str(tmp_path / 'clip.pth')
    torch.save(init_model(FLIPV).backbone.clip.state_dict(), weights)
    opts = dict(FROZEN, **{'model.backbone.pretrained': weights})
    model = init_model(FLIPV, cfg_options=opts)
    with torch.no_grad():
        model.head.classifier.weight.normal_()
    state = model.state_dict()
    assert not any(k.startswith('backbone.clip.') for k in state)
    ckpt = str(tmp_path / 'trainable.pth')
    torch.save(dict(state_dict=state, meta={}), ckpt)
    a = init_model(FLIPV, ckpt, cfg_options=opts)
    b = init_model(FLIPV, ckpt, cfg_options=opts)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    assert torch.equal(a.head.classifier.weight,
                       model.head.classifier.weight)

    from mmfas.engine.runner import FASRunner
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(FLIPV)
    cfg.merge_from_dict(copy.deepcopy(opts))
    cfg.update(work_dir=str(tmp_path / 'work'), load_from=ckpt,
               load_strict=True, experiment_name='strict_pretrained')
    runner = FASRunner.from_cfg(cfg)
    runner.load_or_resume()
    assert torch.equal(runner.model.head.classifier.weight,
                       a.head.classifier.weight)
