import io
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
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
    with pytest.raises(UnsafeCheckpointError):
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
