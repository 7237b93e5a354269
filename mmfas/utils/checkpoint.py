"""Safe checkpoint loading for mmengine on torch >= 2.6.

torch >= 2.6 unpickles with ``weights_only=True``: only tensors, containers,
primitive types and explicitly allowlisted globals may appear in a file. An
mmengine Runner checkpoint carries ``HistoryBuffer`` objects in its message
hub, which by default pickle their class-level statistics functions
(``builtins.getattr``) and numpy arrays, so mmengine cannot reload its own
checkpoints (``--resume``, ``load_from``, ``tools/test.py``).

We keep ``weights_only=True`` and fix what is *saved* instead of loosening the
loader:

* ``HistoryBuffer`` pickles as its constructor arguments in plain Python lists
  (``__reduce__``), so a checkpoint needs exactly one extra global,
  ``mmengine.logging.history_buffer.HistoryBuffer``, which is allowlisted;
* ``MessageHub.state_dict`` turns numpy scalars / arrays in ``runtime_info``
  (mmengine's ``eta`` is a ``numpy.float64``) into Python numbers / lists;
* mmengine's local checkpoint loader is replaced by one that always passes
  ``weights_only=True`` and turns torch's refusal into an
  :class:`UnsafeCheckpointError` naming the file and the forbidden global.

A checkpoint carrying any other global (``os.system``, ``builtins.eval``, ...)
is refused: a file downloaded from the internet never runs code.
"""
import os.path as osp
import pickle
import re

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

#: Globals (besides torch's own defaults) an mmfas checkpoint may contain.
SAFE_GLOBALS = (HistoryBuffer, )

_installed = False


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint asks to unpickle a global that is not allowlisted."""


def _history_buffer_reduce(self):
    # Plain lists of Python numbers: no numpy globals, no getattr.
    return (HistoryBuffer, (self._log_history.tolist(),
                            self._count_history.tolist(), self.max_length))


def _to_python(obj):
    """numpy scalars / arrays -> Python numbers / lists, recursively."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, dict):
        return type(obj)((k, _to_python(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)) and not hasattr(obj, '_fields'):
        return type(obj)(_to_python(v) for v in obj)
    return obj


def _wrap_message_hub_state_dict(state_dict):

    def state_dict_py(self):
        state = state_dict(self)
        if 'runtime_info' in state:
            state['runtime_info'] = _to_python(state['runtime_info'])
        return state

    state_dict_py._mmfas_wrapped = True
    return state_dict_py


def safe_torch_load(filename, map_location=None):
    """``torch.load(filename, weights_only=True)`` with mmfas' allowlist and a
    clear error for anything else.

    Args:
        filename (str | file-like): Checkpoint path or buffer.
        map_location: Same as :func:`torch.load`.

    Raises:
        UnsafeCheckpointError: The file holds a global outside the allowlist.
    """
    name = filename if isinstance(filename, str) else repr(filename)
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return torch.load(filename, map_location=map_location,
                              weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.findall(r'GLOBAL ([\w.]+)', str(e))
        what = ', '.join(sorted(set(found))) or 'unknown'
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {name}: it contains the pickled '
            f'global(s) {what}, which are not on mmfas\' allowlist; loading '
            'them could run arbitrary code. mmfas checkpoints never contain '
            'them. If you trust the file, load it once with '
            'torch.load(path, weights_only=False) and re-save only its '
            'tensors.') from e


def _load_from_local(filename, map_location):
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def install_safe_checkpoint_loading() -> None:
    """Patch mmengine once (idempotent): allowlist :data:`SAFE_GLOBALS`,
    make ``HistoryBuffer`` pickle safely and route local checkpoint loading
    through :func:`safe_torch_load`."""
    global _installed
    if _installed:
        return
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import CheckpointLoader
    HistoryBuffer.__reduce__ = _history_buffer_reduce
    if not getattr(MessageHub.state_dict, '_mmfas_wrapped', False):
        MessageHub.state_dict = _wrap_message_hub_state_dict(
            MessageHub.state_dict)
    torch.serialization.add_safe_globals(list(SAFE_GLOBALS))
    CheckpointLoader.register_scheme(prefixes='', loader=_load_from_local,
                                     force=True)
    _installed = True
