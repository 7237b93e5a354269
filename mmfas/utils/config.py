"""Config loading and fixes shared by ``tools/train.py``, ``tools/test.py``,
the inference API and the benchmark."""
import ast
import copy
import os.path as osp
import re

from mmengine.config import Config

DATALOADER_FIELDS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def fix_dataloader_cfg(cfg: Config,
                       pin_memory: bool = None,
                       persistent_workers: bool = None) -> Config:
    """Give every dataloader a valid ``persistent_workers``/``pin_memory``.

    mmpretrain's tools force ``persistent_workers=True``, which PyTorch
    rejects when ``num_workers=0``. Here ``persistent_workers`` defaults to
    True only when the loader has workers, and is switched off (with no
    error) when it has none.
    """
    for field in DATALOADER_FIELDS:
        loader = cfg.get(field, None)
        if loader is None:
            continue
        workers = loader.get('num_workers', 0)
        if persistent_workers is not None:
            loader['persistent_workers'] = persistent_workers
        else:
            loader.setdefault('persistent_workers', workers > 0)
        if workers == 0:
            loader['persistent_workers'] = False
        if pin_memory is not None:
            loader['pin_memory'] = pin_memory
    return cfg


def set_amp(cfg: Config) -> Config:
    """Turn on mixed precision: ``AmpOptimWrapper`` (fp16, dynamic loss
    scaling) on GPUs, :class:`~mmfas.engine.BF16AmpOptimWrapper` (bfloat16
    autocast) on machines without CUDA, where mmengine's wrapper refuses to
    build."""
    import torch
    optim = cfg.get('optim_wrapper', None)
    if optim is None:
        raise KeyError('--amp needs an "optim_wrapper" in the config')
    if optim.get('type', 'OptimWrapper') in ('AmpOptimWrapper',
                                             'BF16AmpOptimWrapper'):
        return cfg
    if torch.cuda.is_available():
        optim['type'] = 'AmpOptimWrapper'
        optim.setdefault('loss_scale', 'dynamic')
    else:
        optim['type'] = 'BF16AmpOptimWrapper'
    return cfg


def set_work_dir(cfg: Config, work_dir, config_path: str) -> Config:
    """``--work-dir`` wins, then the config's ``work_dir``, then
    ``./work_dirs/<config name>`` (mmpretrain's convention)."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    return cfg


# --------------------------------------------------------------------------
# loading: stale top-level variables and the data recipe's preprocessor
# --------------------------------------------------------------------------
_BASE_VAR = re.compile(r'\{\{\s*_base_\.([\w.]+)\s*\}\}')
_OTHER_VAR = re.compile(r'\{\{[^{}]*\}\}')  # predefined / $ENV placeholders


class StaleConfigVariableError(KeyError):
    """A config (or ``--cfg-options``) sets a top-level variable that one of
    its base files had already used when it was parsed, so the new value
    would change nothing."""

    def __str__(self):  # KeyError would print the message with quotes
        return str(self.args[0])


def _config_file_info(filename: str) -> dict:
    """What one ``.py`` config file assigns, reads and inherits.

    ``reads`` maps each variable the file uses while it is parsed (its own
    top-level variable, or ``_base_.x`` / ``{{_base_.x}}``) to the top-level
    keys of this file whose value was computed from it (transitively).
    """
    with open(filename, encoding='utf-8') as f:
        text = f.read()
    text = _BASE_VAR.sub(r'_base_.\1', text)
    text = _OTHER_VAR.sub('None', text)
    tree = ast.parse(text, filename)
    bases, assigned = [], {}
    uses = []  # (targets, names read) per top-level statement
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [
                node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if names == ['_base_']:
                value = ast.literal_eval(node.value)
                bases = [value] if isinstance(value, str) else list(value)
                continue
            value = node.value
        else:
            names, value = [], node
        if value is None:
            continue
        read = set()
        for sub in ast.walk(value):
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load) \
                    and sub.id in assigned:
                read.add(sub.id)
            elif isinstance(sub, ast.Attribute) and isinstance(
                    sub.value, ast.Name) and sub.value.id == '_base_':
                read.add(sub.attr)
        if isinstance(node, ast.AugAssign):
            read.update(names)
        uses.append((names, read))
        for n in names:
            assigned.setdefault(n, node.lineno)
    reads = {}
    for names, read in uses:
        for var in read:
            reads.setdefault(var, set()).update(names)
    # a key built from a key built from the variable also depends on it
    changed = True
    while changed:
        changed = False
        for var, keys in reads.items():
            for names, read in uses:
                if read & keys and not set(names) <= keys:
                    keys.update(names)
                    changed = True
    resolved = []
    for base in bases:
        path, _ = Config._get_cfg_path(base, filename) if '::' not in base \
            else (None, None)
        if path is not None:
            resolved.append(osp.abspath(path))
    return dict(bases=resolved, assigned=assigned, reads=reads)


def _config_chain(filename: str) -> list:
    """``(file, info, ancestors)`` for the file and every base below it."""
    out, seen = [], {}

    def visit(path):
        if path in seen:
            return seen[path]
        info = _config_file_info(path) if path.endswith('.py') else dict(
            bases=[], assigned={}, reads={})
        ancestors = []
        for base in info['bases']:
            for a in [base] + visit(base):
                if a not in ancestors:
                    ancestors.append(a)
        seen[path] = ancestors
        out.append((path, info, ancestors))
        return ancestors

    visit(osp.abspath(filename))
    return out


def _rel(path: str) -> str:
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def check_config_overrides(filename: str, cfg_options: dict = None) -> None:
    """Refuse a top-level variable override that would change nothing.

    mmengine evaluates each config file on its own, so when a base file
    computes fields from one of its variables (``data_root`` in
    ``train_dataloader.dataset``, ``sources`` in ``ann_file``, ``img_size`` in
    the pipelines, or ``{{_base_.x}}``), a child that sets the same variable
    (or ``--cfg-options x=...``) only changes the top-level key, never the
    fields built from it. That silent no-op is refused here, with the file,
    the variable and the fields to set instead. A child that sets the
    variable *and* uses it itself (to rebuild those fields) is allowed.

    Args:
        filename (str): The config file.
        cfg_options (dict, optional): ``--cfg-options`` to check as well
            (their first key component).

    Raises:
        StaleConfigVariableError: Naming the key, the file that sets it and
            the base file that had already used it.
    """
    chain = _config_chain(filename)
    info = {path: i for path, i, _ in chain}
    problems = []
    for path, own, ancestors in chain:
        for var, line in own['assigned'].items():
            if var in own['reads']:
                continue  # the file rebuilds what it needs from its value
            for anc in ancestors:
                keys = info[anc]['reads'].get(var)
                if keys:
                    problems.append(
                        f'{_rel(path)}:{line} sets `{var}`, but '
                        f'{_rel(anc)} had already used `{var}` to build '
                        f'{_fmt(keys)} when it was parsed, so the new value '
                        f'changes nothing there. Set the fields instead '
                        f'({_fields(filename, anc, var, keys)}), or use '
                        f'`{var}` in {_rel(path)} to rebuild them.')
                    break
    for key in (cfg_options or {}):
        var = key.split('.')[0]
        for path, own, _ in chain:
            keys = own['reads'].get(var)
            if keys:
                problems.append(
                    f'--cfg-options {key}=... changes nothing: '
                    f'{_rel(path)} used `{var}` to build {_fmt(keys)} when '
                    f'the config was parsed. Set the fields instead: '
                    f'{_fields(filename, path, var, keys)}.')
                break
    if problems:
        raise StaleConfigVariableError(
            f'{_rel(filename)}: ' + ' '.join(dict.fromkeys(problems)))


def _fmt(keys) -> str:
    return ', '.join(f'`{k}`' for k in sorted(keys))


def _paths_with_value(obj, value, prefix: str) -> list:
    """Dotted paths under ``obj`` whose value equals ``value``."""
    if obj == value and not isinstance(value, bool):
        return [prefix]
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths_with_value(v, value, f'{prefix}.{k}')
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            out += _paths_with_value(v, value, f'{prefix}.{i}')
    return out


def _fields(filename: str, base: str, var: str, keys) -> str:
    """Where ``base``'s value of ``var`` ended up in the full config (the
    fields to set instead), or the top-level keys built from it."""
    try:
        old = Config.fromfile(base).get(var)
        cfg = Config.fromfile(filename)
        paths = []
        for k in sorted(keys):
            if k in cfg and not k.startswith('_'):
                paths += _paths_with_value(cfg[k], old, k)
    except Exception:  # only for the message; the error stands anyway
        paths = []
    if paths:
        return ', '.join(paths[:6]) + (' ...' if len(paths) > 6 else '')
    return ', '.join(f'{k}...' for k in sorted(keys))


def merge_data_preprocessor(cfg: Config) -> Config:
    """Give ``cfg.model`` the data recipe's ``data_preprocessor``.

    In mmfas, as in mmpretrain, normalisation belongs to the data recipe: the
    dataset bases set a top-level ``data_preprocessor`` (CLIP's mean / std in
    ``fas_pipelines.py``, ImageNet's in the legacy preset
    ``configs/_base_/presets/legacy.py``). mmengine's Runner only uses it when
    the model sets none (``setdefault``); here the two are merged key by key,
    the model's keys winning (so ``--cfg-options
    model.data_preprocessor.mean=...`` still works). Every path that builds a
    model from a config (``tools/train.py``, ``tools/test.py``,
    :func:`mmfas.apis.init_model`, the benchmark) calls this, so none of them
    falls back to the model's default normalisation silently.
    """
    top = cfg.get('data_preprocessor', None)
    model = cfg.get('model', None)
    if top is None or model is None:
        return cfg
    own = model.get('data_preprocessor', None)
    if own is None:
        model['data_preprocessor'] = copy.deepcopy(top)
    elif isinstance(own, dict):
        merged = copy.deepcopy(top)
        if own.get('type', merged.get('type')) != merged.get('type'):
            return cfg  # a different preprocessor: the model's, as mmengine
        merged.update(own)
        model['data_preprocessor'] = merged
    return cfg


def load_config(filename: str, cfg_options: dict = None) -> Config:
    """``Config.fromfile`` after :func:`check_config_overrides` (the options
    are only checked here; merge them as before)."""
    check_config_overrides(filename, cfg_options)
    return Config.fromfile(filename)


def enable_auto_scale_lr(cfg: Config) -> Config:
    """``--auto-scale-lr``: let the Runner scale the lr by the actual total
    batch size over ``auto_scale_lr.base_batch_size``, which the config must
    give (the batch size its lr was set for)."""
    scale = cfg.get('auto_scale_lr', None)
    if not isinstance(scale, dict) or scale.get('base_batch_size') is None:
        name = getattr(cfg, 'filename', None) or 'the config'
        raise KeyError(
            f'--auto-scale-lr: {name}'
            ' has no auto_scale_lr.base_batch_size; add auto_scale_lr = dict('
            'base_batch_size=N) with N the total batch size its lr was set '
            'for (the schedule bases under configs/_base_/schedules/ do)')
    scale['enable'] = True
    return cfg
