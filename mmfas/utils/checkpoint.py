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
  (mmengine's ``eta`` is a ``numpy.float64``) into Python numbers / lists.

Every checkpoint mmengine loads goes through :func:`safe_torch_load`
(``weights_only=True`` + :data:`SAFE_GLOBALS`), whatever its scheme:

* local files, ``http://`` / ``https://`` (downloaded to
  ``<torch hub dir>/checkpoints``, as mmengine does, then loaded safely),
  ``torchvision://`` / ``modelzoo://``, ``open-mmlab://`` /
  ``openmmlab://``, ``mmcls://``, ``pavi://`` and ``s3://`` / ``petrel://``
  have safe loaders of their own, which replace mmengine's (in
  ``CheckpointLoader._schemes`` and as the module functions of
  ``mmengine.runner.checkpoint``, which mmengine's loaders call);
* any other scheme's loader, including one registered after mmfas is
  imported (``CheckpointLoader.register_scheme`` is guarded), runs with
  ``torch.load`` forced onto :func:`safe_torch_load` in its thread;
* the loader ``CheckpointLoader`` picks for a path is checked once more
  before it runs, so a loader written into ``_schemes`` by hand is guarded
  as well.

A checkpoint carrying any other global (``os.system``, ``builtins.eval``, ...)
is refused with an :class:`UnsafeCheckpointError` naming the file and the
global(s): a file downloaded from the internet never runs code.
"""
import functools
import io
import logging
import os
import os.path as osp
import pickle
import pickletools
import re
import threading
import zipfile
from contextlib import contextmanager
from tempfile import TemporaryDirectory
from typing import Callable, List, Optional
from urllib.parse import urlparse

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer

#: Globals (besides torch's own defaults) an mmfas checkpoint may contain.
SAFE_GLOBALS = (HistoryBuffer, )

_installed = False
#: ``torch.load`` as it was before any guarded loader replaced it
_TORCH_LOAD = torch.load


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


# ------------------------------------------------------ naming the globals
_STRING_OPS = frozenset(
    ('STRING', 'BINSTRING', 'SHORT_BINSTRING', 'UNICODE', 'BINUNICODE',
     'SHORT_BINUNICODE', 'BINUNICODE8'))
_GET_OPS = frozenset(('GET', 'BINGET', 'LONG_BINGET'))
_PUT_OPS = frozenset(('PUT', 'BINPUT', 'LONG_BINPUT'))
#: opcodes that push nothing
_NO_PUSH_OPS = frozenset(('MEMOIZE', 'FRAME', 'PROTO', 'STOP', 'MARK', 'POP',
                          'POP_MARK', 'SETITEM', 'SETITEMS', 'APPEND',
                          'APPENDS', 'BUILD', 'ADDITEMS'))


def pickle_globals(data: bytes, max_pickles: int = 16) -> List[str]:
    """``module.name`` of every global a pickle stream imports, in order.

    The stream is only *parsed* (:func:`pickletools.genops`), never
    unpickled. Consecutive pickles are read (torch's legacy format writes
    several, then raw storage bytes, where parsing stops). ``STACK_GLOBAL``
    takes its two names from the strings pushed (or fetched from the memo)
    just before it.
    """
    found = []
    stream = io.BytesIO(data)
    for _ in range(max_pickles):
        if stream.tell() >= len(data):
            break
        memo, recent = {}, []
        try:
            for op, arg, _pos in pickletools.genops(stream):
                name = op.name
                if name == 'GLOBAL' or name == 'INST':
                    found.append('.'.join(str(arg).split(' ', 1)))
                    recent.append(None)
                elif name == 'STACK_GLOBAL':
                    mod, attr = recent[-2:] if len(recent) >= 2 else (
                        None, None)
                    found.append(f'{mod}.{attr}' if isinstance(mod, str)
                                 and isinstance(attr, str) else
                                 '<STACK_GLOBAL of computed names>')
                    recent.append(None)
                elif name in _STRING_OPS:
                    recent.append(arg if isinstance(arg, str) else
                                  arg.decode('latin-1'))
                elif name in _GET_OPS:
                    recent.append(memo.get(arg))
                elif name in _PUT_OPS:
                    memo[arg] = recent[-1] if recent else None
                elif name == 'MEMOIZE':
                    memo[len(memo)] = recent[-1] if recent else None
                elif name not in _NO_PUSH_OPS:
                    recent.append(None)
                del recent[:-4]
        except Exception:  # not (or no longer) a pickle stream
            break
    return found


def _allowed_global_names() -> set:
    names = {f'{g.__module__}.{g.__qualname__}' for g in SAFE_GLOBALS}
    try:
        for g in torch.serialization.get_safe_globals():
            g = g[0] if isinstance(g, tuple) else g
            names.add(f'{g.__module__}.{getattr(g, "__qualname__", g)}')
    except Exception:  # pragma: no cover - very old torch
        pass
    try:  # torch's built-in allowlist (private; best effort)
        from torch import _weights_only_unpickler as wou
        names.update(wou._get_allowed_globals())
    except Exception:  # pragma: no cover
        pass
    return names


#: how much of a raw (non-zip) file is parsed for globals: the pickles come
#: first, storage bytes after them
_SCAN_BYTES = 64 << 20


def _pickle_streams(source, start: int = 0) -> List[bytes]:
    """The pickle streams of a checkpoint, read without unpickling: every
    ``*.pkl`` member of a zip archive (torch >= 1.6), else the raw bytes."""
    if isinstance(source, (str, os.PathLike)):
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                return [zf.read(n) for n in zf.namelist()
                        if n.endswith('.pkl')]
        with open(source, 'rb') as f:
            return [f.read(_SCAN_BYTES)]
    if not (hasattr(source, 'seek') and hasattr(source, 'read')):
        return []
    pos = source.tell()
    try:
        source.seek(start)
        data = source.read()
    finally:
        source.seek(pos)
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [zf.read(n) for n in zf.namelist() if n.endswith('.pkl')]
    return [data[:_SCAN_BYTES]]


def checkpoint_globals(source, start: int = 0) -> List[str]:
    """The globals pickled in a checkpoint (path, or seekable buffer read
    from ``start``) that are neither torch's weights-only defaults nor
    :data:`SAFE_GLOBALS`, found by parsing, never unpickling (zip archives:
    every ``*.pkl`` member; raw and legacy files: the pickle stream)."""
    try:
        streams = _pickle_streams(source, start)
    except (OSError, zipfile.BadZipFile):
        return []
    allowed = _allowed_global_names()
    out = []
    for stream in streams:
        for g in pickle_globals(stream):
            if g not in allowed and g not in out:
                out.append(g)
    return out


def _raw_torch_load():
    return _TORCH_LOAD


def safe_torch_load(filename, map_location=None, mmap=None):
    """``torch.load(filename, weights_only=True)`` with mmfas' allowlist and a
    clear error for anything else.

    Args:
        filename (str | PathLike | file-like): Checkpoint path or buffer.
        map_location: Same as :func:`torch.load`.
        mmap (bool, optional): Same as :func:`torch.load`.

    Raises:
        UnsafeCheckpointError: The file holds a global outside the allowlist;
            the message names the file and the global(s).
    """
    name = str(filename) if isinstance(filename, (str, os.PathLike)) \
        else repr(filename)
    kwargs = {} if mmap is None else dict(mmap=mmap)
    start = 0
    if hasattr(filename, 'tell'):
        try:
            start = filename.tell()
        except (OSError, ValueError):
            pass
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            return _raw_torch_load()(filename, map_location=map_location,
                                     weights_only=True, **kwargs)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as e:
        named = re.findall(r'GLOBAL ([\w.]+)', str(e))
        try:
            scanned = checkpoint_globals(filename, start)
        except Exception:  # naming is best effort, refusing is not
            scanned = []
        found = list(dict.fromkeys(named + scanned))
        if found:
            what = (f'it contains the pickled global(s) {", ".join(found)}, '
                    'which are not on mmfas\' allowlist; loading them could '
                    'run arbitrary code. mmfas checkpoints never contain '
                    'them')
        else:
            what = ('torch\'s weights-only unpickler rejects its pickled '
                    f'data ({_torch_reason(str(e))}); no global could be '
                    'named')
        raise UnsafeCheckpointError(
            f'Refusing to load checkpoint {name}: {what}. If you trust the '
            'file, load it once with torch.load(path, weights_only=False) '
            'and re-save only its tensors.') from e


def _torch_reason(msg: str) -> str:
    lines = [ln.strip() for ln in msg.splitlines() if ln.strip()]
    for i, ln in enumerate(lines):
        if 'WeightsUnpickler error' in ln:
            rest = ln.split('WeightsUnpickler error:', 1)[-1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else ln)
    return lines[0] if lines else 'unknown reason'


# ------------------------------------------------ forcing torch.load safe
_guard_state = threading.local()
_patch_lock = threading.Lock()
_patch_depth = 0


def _forced_torch_load(f, map_location=None, pickle_module=None, *args,
                       weights_only=None, mmap=None, **kwargs):
    """Stands in for ``torch.load`` while a guarded loader runs: in that
    thread every load is :func:`safe_torch_load`, whatever the caller asked
    for; other threads get the real ``torch.load`` untouched."""
    if getattr(_guard_state, 'depth', 0) > 0:
        return safe_torch_load(f, map_location=map_location, mmap=mmap)
    if pickle_module is not None:
        kwargs['pickle_module'] = pickle_module
    if weights_only is not None:
        kwargs['weights_only'] = weights_only
    if mmap is not None:
        kwargs['mmap'] = mmap
    return _TORCH_LOAD(f, map_location, *args, **kwargs)


@contextmanager
def force_safe_torch_load():
    """Within this block, ``torch.load`` (and ``torch.serialization.load``)
    called from this thread is :func:`safe_torch_load`: ``weights_only`` is
    forced to True and :data:`SAFE_GLOBALS` is the extra allowlist.
    Reentrant and thread-aware."""
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            torch.load = _forced_torch_load
            torch.serialization.load = _forced_torch_load
        _patch_depth += 1
    _guard_state.depth = getattr(_guard_state, 'depth', 0) + 1
    try:
        yield
    finally:
        _guard_state.depth -= 1
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                torch.load = _TORCH_LOAD
                torch.serialization.load = _TORCH_LOAD


def guard_checkpoint_loader(loader: Callable) -> Callable:
    """Wrap a ``CheckpointLoader`` scheme loader so that every ``torch.load``
    it makes is :func:`safe_torch_load`. Loaders mmfas knows (its own and
    mmengine's, see :func:`install_safe_checkpoint_loading`) are returned
    as their safe versions; idempotent."""
    if getattr(loader, '_mmfas_safe', False):
        return loader
    known = _SAFE_REPLACEMENTS.get(loader)
    if known is not None:
        return known

    @functools.wraps(loader)
    def guarded(*args, **kwargs):
        with force_safe_torch_load():
            return loader(*args, **kwargs)

    guarded._mmfas_safe = True
    return guarded


def _safe(fn):
    fn._mmfas_safe = True
    return fn


# --------------------------------------------------------- scheme loaders
def _mmengine_ckpt():
    from mmengine.runner import checkpoint
    return checkpoint


@_safe
def load_from_local(filename, map_location=None):
    """Local file (mmengine's ``''`` scheme), loaded safely."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_torch_load(filename, map_location=map_location)


def _legacy_zip_member(path: str) -> Optional[str]:
    # torch.hub's "legacy zip": a zip holding one torch.save file (< 1.6)
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) != 1 or infos[0].is_dir():
            return None
        return zf.extract(infos[0], osp.dirname(path))


def download_checkpoint(url: str, model_dir: Optional[str] = None,
                        progress: bool = False) -> str:
    """Download ``url`` to ``model_dir`` (default ``<torch hub
    dir>/checkpoints``, i.e. ``$TORCH_HOME/hub/checkpoints``) unless a file
    of that name is there already (as ``torch.hub.load_state_dict_from_url``
    and mmengine do), and return its path. Nothing is unpickled."""
    if model_dir is None:
        model_dir = osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    fname = osp.basename(urlparse(url).path)
    if not fname:
        raise ValueError(f'checkpoint URL {url} does not name a file')
    cached = osp.join(model_dir, fname)
    if not osp.exists(cached):
        torch.hub.download_url_to_file(url, cached, None, progress=progress)
    return cached


@_safe
def load_from_http(filename, map_location=None, model_dir=None,
                   progress=False):
    """``http://`` / ``https://``: download (rank 0 first in distributed
    runs, like mmengine), then :func:`safe_torch_load`."""
    from mmengine.dist import get_dist_info
    rank, world_size = get_dist_info()
    path = None
    if rank == 0:
        path = download_checkpoint(filename, model_dir, progress)
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            path = download_checkpoint(filename, model_dir, progress)
    member = _legacy_zip_member(path)
    return safe_torch_load(member or path, map_location=map_location)


def _lookup(urls: dict, name: str, scheme: str):
    if name not in urls:
        raise KeyError(f'{scheme}{name}: unknown model name "{name}" for the '
                       f'{scheme} scheme')
    return urls[name]


@_safe
def load_from_torchvision(filename, map_location=None):
    """``torchvision://NAME`` (and the deprecated ``modelzoo://NAME``)."""
    ckpt = _mmengine_ckpt()
    if filename.startswith('modelzoo://'):
        from mmengine.logging import print_log
        print_log('The URL scheme of "modelzoo://" is deprecated, please '
                  'use "torchvision://" instead', logger='current',
                  level=logging.WARNING)
        scheme = 'modelzoo://'
    else:
        scheme = 'torchvision://'
    url = _lookup(ckpt.get_torchvision_models(), filename[len(scheme):],
                  scheme)
    return load_from_http(url, map_location=map_location)


@_safe
def load_from_openmmlab(filename, map_location=None):
    """``open-mmlab://NAME`` / ``openmmlab://NAME``."""
    ckpt = _mmengine_ckpt()
    scheme = 'open-mmlab://' if filename.startswith('open-mmlab://') \
        else 'openmmlab://'
    model_name = filename[len(scheme):]
    deprecated = ckpt.get_deprecated_model_names()
    if model_name in deprecated:
        from mmengine.logging import print_log
        print_log(f'{scheme}{model_name} is deprecated in favor of '
                  f'{scheme}{deprecated[model_name]}', logger='current',
                  level=logging.WARNING)
        model_name = deprecated[model_name]
    url = _lookup(ckpt.get_external_models(), model_name, scheme)
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    return load_from_local(osp.join(ckpt._get_mmengine_home(), url),
                           map_location=map_location)


@_safe
def load_from_mmcls(filename, map_location=None):
    """``mmcls://NAME``: the backbone part of an mmcls checkpoint."""
    ckpt = _mmengine_ckpt()
    url = _lookup(ckpt.get_mmcls_models(), filename[len('mmcls://'):],
                  'mmcls://')
    return ckpt._process_mmcls_checkpoint(
        load_from_http(url, map_location=map_location))


@_safe
def load_from_pavi(filename, map_location=None):
    """``pavi://PATH`` (needs the ``pavi`` package)."""
    if not filename.startswith('pavi://'):
        raise ValueError(f'expected a pavi:// path, got {filename}')
    try:
        from pavi import modelcloud
    except ImportError:
        raise ImportError(
            'Please install pavi to load checkpoint from modelcloud.')
    model = modelcloud.get(filename[len('pavi://'):])
    with TemporaryDirectory() as tmp_dir:
        downloaded = osp.join(tmp_dir, model.name)
        model.download(downloaded)
        return safe_torch_load(downloaded, map_location=map_location)


@_safe
def load_from_ceph(filename, map_location=None, backend='petrel'):
    """``s3://`` / ``petrel://`` through mmengine's file backend."""
    backend_obj = _mmengine_ckpt().get_file_backend(
        filename, backend_args={'backend': backend})
    with io.BytesIO(backend_obj.get(filename)) as buffer:
        return safe_torch_load(buffer, map_location=map_location)


#: mmengine loader -> mmfas' safe version, filled by the installer
_SAFE_REPLACEMENTS = {}
_MMENGINE_LOADERS = {
    'load_from_local': load_from_local,
    'load_from_http': load_from_http,
    'load_from_torchvision': load_from_torchvision,
    'load_from_openmmlab': load_from_openmmlab,
    'load_from_mmcls': load_from_mmcls,
    'load_from_pavi': load_from_pavi,
    'load_from_ceph': load_from_ceph,
}


def install_safe_checkpoint_loading() -> None:
    """Patch mmengine once (idempotent): allowlist :data:`SAFE_GLOBALS`,
    make ``HistoryBuffer`` pickle safely and route every checkpoint scheme
    (present and future) through :func:`safe_torch_load` (see the module
    docstring)."""
    global _installed
    if _installed:
        return
    from mmengine.logging import MessageHub
    from mmengine.runner import checkpoint as ckpt
    from mmengine.runner.checkpoint import CheckpointLoader
    HistoryBuffer.__reduce__ = _history_buffer_reduce
    if not getattr(MessageHub.state_dict, '_mmfas_wrapped', False):
        MessageHub.state_dict = _wrap_message_hub_state_dict(
            MessageHub.state_dict)
    torch.serialization.add_safe_globals(list(SAFE_GLOBALS))

    # mmengine's own loaders -> ours, also as module functions (mmengine's
    # loaders call load_from_http by its module name)
    for fn_name, safe in _MMENGINE_LOADERS.items():
        orig = getattr(ckpt, fn_name, None)
        if orig is not None and not getattr(orig, '_mmfas_safe', False):
            _SAFE_REPLACEMENTS[orig] = safe
            setattr(ckpt, fn_name, safe)
    # every registered scheme, known or not
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        CheckpointLoader._schemes[prefix] = guard_checkpoint_loader(loader)
    CheckpointLoader._schemes[''] = load_from_local

    # schemes registered later
    register = CheckpointLoader._register_scheme.__func__

    def _register_scheme(cls, prefixes, loader, force=False):
        return register(cls, prefixes, guard_checkpoint_loader(loader),
                        force=force)

    _register_scheme._mmfas_safe = True
    CheckpointLoader._register_scheme = classmethod(_register_scheme)

    # and whatever ends up in _schemes by other means
    get_loader = CheckpointLoader._get_checkpoint_loader.__func__

    def _get_checkpoint_loader(cls, path):
        loader = get_loader(cls, path)
        return None if loader is None else guard_checkpoint_loader(loader)

    CheckpointLoader._get_checkpoint_loader = classmethod(
        _get_checkpoint_loader)
    _installed = True
