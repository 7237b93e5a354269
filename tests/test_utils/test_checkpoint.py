import collections
import functools
import http.server
import io
import os
import os.path as osp
import pickle
import re
import shutil
import sys
import threading
import types

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner import load_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mmfas  # noqa: F401  (installs the safe loader)
from mmfas.utils import UnsafeCheckpointError, safe_torch_load


class _Evil:
    """Unpickling this calls os.system — a stand-in for malicious code."""

    def __reduce__(self):
        return (os.system, ('touch /tmp/mmfas_pwned',))


def _message_hub_state():
    hub = MessageHub.get_instance('mmfas_test_ckpt')
    for i in range(5):
        hub.update_scalar('train/loss', np.float64(0.5 / (i + 1)))
        hub.update_scalar('train/acc', np.int64(i))
    hub.update_info('iter', 5)
    return hub.state_dict()


def test_runner_style_checkpoint_roundtrip(tmp_path):
    ckpt = dict(
        meta=dict(epoch=1, iter=5, seed=0, cfg='model = dict()',
                  dataset_meta=dict(classes=('spoof', 'live'))),
        state_dict={'w': torch.randn(3)},
        message_hub=_message_hub_state(),
        optimizer=torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
        .state_dict())
    path = tmp_path / 'iter_5.pth'
    torch.save(ckpt, path)
    loaded = _load_checkpoint(str(path), map_location='cpu')
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.current() == pytest.approx(0.1)
    assert buf.mean(5) == pytest.approx(np.mean([0.5 / i
                                                  for i in range(1, 6)]))
    assert loaded['message_hub']['log_scalars']['train/acc'].max() == 4
    assert torch.equal(loaded['state_dict']['w'], ckpt['state_dict']['w'])
    # the loader in charge of local files is ours
    assert CheckpointLoader._get_checkpoint_loader(str(path)).__module__ \
        == 'mmfas.utils.checkpoint'


def test_malicious_pickle_is_refused(tmp_path):
    marker = '/tmp/mmfas_pwned'
    if os.path.exists(marker):
        os.remove(marker)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'x': _Evil()}, path)
    with pytest.raises(UnsafeCheckpointError) as e:
        _load_checkpoint(str(path), map_location='cpu')
    assert str(path) in str(e.value) and 'system' in str(e.value)
    assert not os.path.exists(marker)
    # a raw pickle stream, not a torch zip archive
    raw = tmp_path / 'evil.pkl'
    raw.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        safe_torch_load(str(raw))
    assert not os.path.exists(marker)


def test_other_globals_refused(tmp_path):
    path = tmp_path / 'np.pth'
    torch.save({'arr': np.arange(3)}, path)  # numpy global, not allowed
    with pytest.raises(UnsafeCheckpointError, match='numpy'):
        _load_checkpoint(str(path), map_location='cpu')


def test_history_buffer_pickles_without_numpy_or_getattr():
    buf = HistoryBuffer([1.0, 2.0], [1, 1], max_length=10)
    data = io.BytesIO()
    torch.save(buf, data)
    raw = data.getvalue()
    assert b'getattr' not in raw and b'numpy' not in raw
    data.seek(0)
    back = safe_torch_load(data)
    assert back.max_length == 10 and back.mean() == 1.5


def test_missing_file_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_message_hub_runtime_info_numpy_is_saved_as_python(tmp_path):
    hub = MessageHub.get_instance('mmfas_test_eta')
    hub.update_info('eta', np.float64(12.5))
    hub.update_info('arr', np.arange(3))
    state = hub.state_dict()
    assert type(state['runtime_info']['eta']) is float
    path = tmp_path / 'hub.pth'
    torch.save({'message_hub': state}, path)
    back = _load_checkpoint(str(path))
    assert back['message_hub']['runtime_info']['arr'] == [0, 1, 2]


# ----------------------------------------------- naming globals (raw pickle)
@pytest.mark.parametrize('protocol', [0, 2, 4, 5])
def test_raw_pickle_names_the_global(tmp_path, protocol):
    """torch's weights-only unpickler rejects a raw pickle before reaching
    the global (``Unsupported operand``); the error still names it, found by
    parsing (never running) the pickle's opcodes, for GLOBAL (protocol < 4)
    and STACK_GLOBAL (>= 4)."""
    marker = tmp_path / 'pwned'
    raw = tmp_path / 'evil.pkl'
    raw.write_bytes(pickle.dumps({'w': 1, 'x': _Touch(str(marker))},
                                 protocol=protocol))
    with pytest.raises(UnsafeCheckpointError) as e:
        safe_torch_load(str(raw))
    msg = str(e.value)
    assert 'posix.system' in msg and str(raw) in msg
    assert 'unknown' not in msg
    assert not marker.exists()


def test_legacy_torch_format_names_the_global(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'legacy.pth'
    torch.save({'t': torch.zeros(2), 'x': _Touch(str(marker))}, path,
               _use_new_zipfile_serialization=False)
    with pytest.raises(UnsafeCheckpointError, match='posix.system'):
        safe_torch_load(str(path))
    assert not marker.exists()


def test_pickle_globals_only_parses():
    from mmfas.utils.checkpoint import pickle_globals
    data = pickle.dumps([_Touch('/nonexistent/x'), collections.OrderedDict()],
                        protocol=4)
    found = pickle_globals(data)
    assert 'posix.system' in found and 'collections.OrderedDict' in found
    assert pickle_globals(b'not a pickle') == []


# ------------------------------------------------- remote schemes (http)
class _Touch:
    """Unpickling this runs ``touch <path>`` through os.system."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f'touch {self.path}', ))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):

    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path/'www'``; torch /
    mmengine caches point into tmp_path."""
    for var, sub in (('TORCH_HOME', 'torch'), ('MMENGINE_HOME', 'mmengine'),
                     ('XDG_CACHE_HOME', 'cache')):
        monkeypatch.setenv(var, str(tmp_path / sub))
    hub_dir = str(tmp_path / 'torch' / 'hub')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: hub_dir)
    www = tmp_path / 'www'
    www.mkdir()
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0),
        functools.partial(_QuietHandler, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    marker = tmp_path / 'pwned'
    torch.save({'state_dict': {'w': torch.zeros(1)},
                'x': _Touch(str(marker))}, www / 'evil.pth')
    (www / 'evil_raw.pth').write_bytes(
        pickle.dumps({'x': _Touch(str(marker))}, protocol=2))
    torch.save({'state_dict': {'weight': torch.arange(6.).view(2, 3),
                               'bias': torch.ones(2)}}, www / 'plain.pth')
    yield dict(url=f'http://127.0.0.1:{server.server_address[1]}',
               marker=marker, www=www, hub=tmp_path / 'torch')
    server.shutdown()
    server.server_close()
    thread.join(5)


def _refused(loader, target, marker):
    with pytest.raises(UnsafeCheckpointError) as e:
        loader(target)
    assert re.search(r'(posix|os)\.system', str(e.value)), str(e.value)
    assert not marker.exists(), 'the pickle ran os.system'
    return str(e.value)


def test_http_malicious_checkpoint_is_refused(http_root):
    url, marker = http_root['url'], http_root['marker']
    for name in ('evil.pth', 'evil_raw.pth'):
        msg = _refused(
            lambda u: CheckpointLoader.load_checkpoint(u, 'cpu'),
            f'{url}/{name}', marker)
        assert name in msg
    # the tools' path: Runner.load_checkpoint -> mmengine load_checkpoint
    _refused(lambda u: load_checkpoint(torch.nn.Linear(3, 2), u, 'cpu'),
             f'{url}/evil.pth', marker)
    # https goes through the same loader
    assert CheckpointLoader._get_checkpoint_loader(
        'https://example.invalid/x.pth') is CheckpointLoader.\
        _get_checkpoint_loader(f'{url}/evil.pth')


def test_http_plain_checkpoint_loads(http_root):
    url = http_root['url']
    ckpt = CheckpointLoader.load_checkpoint(f'{url}/plain.pth', 'cpu')
    assert torch.equal(ckpt['state_dict']['bias'], torch.ones(2))
    model = torch.nn.Linear(3, 2)
    load_checkpoint(model, f'{url}/plain.pth', 'cpu', strict=True)
    assert torch.equal(model.weight.data, torch.arange(6.).view(2, 3))
    # downloaded into the (temporary) torch hub cache, nowhere else
    assert (http_root['hub'] / 'hub' / 'checkpoints' / 'plain.pth').is_file()


def test_named_schemes_resolve_through_the_safe_http_loader(
        http_root, monkeypatch):
    from mmengine.runner import checkpoint as ckpt
    url, marker = http_root['url'], http_root['marker']
    table = {'evil': f'{url}/evil.pth', 'plain': f'{url}/plain.pth'}
    monkeypatch.setattr(ckpt, 'get_torchvision_models', lambda: table)
    monkeypatch.setattr(ckpt, 'get_external_models',
                        lambda: dict(table, local='local/evil.pth'))
    monkeypatch.setattr(ckpt, 'get_deprecated_model_names', lambda: {})
    monkeypatch.setattr(ckpt, 'get_mmcls_models', lambda: table)
    load = functools.partial(CheckpointLoader.load_checkpoint,
                             map_location='cpu')
    for scheme in ('torchvision://', 'modelzoo://', 'open-mmlab://',
                   'openmmlab://', 'mmcls://'):
        _refused(load, f'{scheme}evil', marker)
        assert 'state_dict' in load(f'{scheme}plain')
    # open-mmlab:// entries that are paths under MMENGINE_HOME
    local = ckpt._get_mmengine_home()
    os.makedirs(osp.join(local, 'local'), exist_ok=True)
    shutil.copy(http_root['www'] / 'evil.pth',
                osp.join(local, 'local', 'evil.pth'))
    _refused(load, 'open-mmlab://local', marker)
    with pytest.raises(KeyError, match='nosuch'):
        load('torchvision://nosuch')


def test_pavi_and_ceph_schemes_are_safe(http_root, monkeypatch):
    from mmengine.runner import checkpoint as ckpt
    evil = http_root['www'] / 'evil.pth'
    marker = http_root['marker']

    class _Model:
        name = 'x.pth'

        def download(self, dst):
            shutil.copy(evil, dst)

    pavi = types.ModuleType('pavi')
    pavi.modelcloud = types.SimpleNamespace(get=lambda path: _Model())
    monkeypatch.setitem(sys.modules, 'pavi', pavi)
    _refused(CheckpointLoader.load_checkpoint, 'pavi://some/model', marker)

    class _Backend:

        def get(self, filename):
            return evil.read_bytes()

    monkeypatch.setattr(ckpt, 'get_file_backend',
                        lambda *a, **k: _Backend())
    _refused(CheckpointLoader.load_checkpoint, 's3://bucket/evil.pth', marker)


def test_every_registered_scheme_is_guarded():
    for prefix, loader in CheckpointLoader._schemes.items():
        assert getattr(loader, '_mmfas_safe', False), prefix
        assert loader.__module__ == 'mmfas.utils.checkpoint', prefix


@pytest.fixture
def restore_schemes():
    saved = dict(CheckpointLoader._schemes)
    yield
    CheckpointLoader._schemes = type(CheckpointLoader._schemes)(saved)


def test_schemes_registered_later_are_guarded(tmp_path, restore_schemes):
    from mmfas.utils.checkpoint import _TORCH_LOAD
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'x': _Touch(str(marker))}, evil)

    @CheckpointLoader.register_scheme(prefixes='evil://')
    def load_from_evil(filename, map_location=None):
        # a careless third-party loader
        return torch.load(str(evil), map_location=map_location,
                          weights_only=False)

    _refused(CheckpointLoader.load_checkpoint, 'evil://x', marker)
    CheckpointLoader.register_scheme('evil2://', loader=load_from_evil)
    _refused(CheckpointLoader.load_checkpoint, 'evil2://x', marker)
    # written into the table by hand, bypassing register_scheme
    CheckpointLoader._schemes = collections.OrderedDict(sorted(
        [*CheckpointLoader._schemes.items(), ('evil3://', load_from_evil)],
        reverse=True))
    _refused(CheckpointLoader.load_checkpoint, 'evil3://x', marker)
    # the guard is scoped: torch.load is itself again afterwards, and a
    # guarded loader returning plain tensors works
    assert torch.load is _TORCH_LOAD
    plain = tmp_path / 'plain.pth'
    torch.save({'w': torch.ones(1)}, plain)

    def load_from_plain(filename, map_location=None):
        return torch.load(str(plain), weights_only=False)

    CheckpointLoader.register_scheme('plain://', loader=load_from_plain)
    assert torch.equal(
        CheckpointLoader.load_checkpoint('plain://x')['w'], torch.ones(1))


def test_force_safe_torch_load_is_thread_local(tmp_path):
    from mmfas.utils.checkpoint import force_safe_torch_load
    path = tmp_path / 'np.pth'
    torch.save({'arr': np.arange(3)}, path)
    results = {}

    def other_thread():
        results['other'] = torch.load(str(path), weights_only=False)

    with force_safe_torch_load():
        with pytest.raises(UnsafeCheckpointError, match='numpy'):
            torch.load(str(path), weights_only=False)
        t = threading.Thread(target=other_thread)
        t.start()
        t.join()
    assert list(results['other']['arr']) == [0, 1, 2]
