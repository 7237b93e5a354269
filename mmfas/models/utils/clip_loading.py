"""Building open_clip models and loading CLIP weights from local files.

:func:`build_clip_model` is the single entry point used by
:class:`~mmfas.models.backbones.OpenCLIPBackbone`:

* ``arch``: an open_clip model name (``'ViT-B-16-quickgelu'``,
  ``'ViT-L-14-quickgelu'``, anything in ``open_clip.list_models()``; built
  with ``open_clip.create_model(name, pretrained=None)``, which reads a
  bundled JSON config and touches no network), an explicit config dict (the
  keyword arguments of ``open_clip.CLIP``; ``custom_text=True`` builds
  ``CustomTextCLIP``), or an open_clip schema name (``'local-dir:<dir>'``,
  ``'hf-hub:<repo>'``), which open_clip builds *and* loads itself.
* ``pretrained`` (optional), one of

  - an open_clip tag (``'openai'``, ``'laion2b_s34b_b88k'``, ...): downloaded
    by open_clip into ``cache_dir``, which **needs internet access** unless
    the file is already cached there; the downloaded file is then loaded by
    the same safe loader as a local file;
  - a local file: OpenAI's original TorchScript archive (``ViT-B-16.pt``;
    opened with ``torch.jit.load``, its state dict extracted, nothing
    unpickled), a plain state dict in OpenAI or open_clip format
    (``.pt/.pth/.bin``, read with ``torch.load(weights_only=True)``; may be
    nested under ``'state_dict'`` and prefixed with ``'module.'``; select a
    sub-tree of a larger checkpoint with ``prefix``) or a ``.safetensors``
    file;
  - ``'local-dir:<dir>'`` or a directory: a Hugging Face hub style folder
    (``open_clip_config.json`` + weights, as written by
    ``open_clip.push_to_hf_hub``); its config provides the architecture when
    ``arch`` is None. A folder without config must hold exactly one weights
    file (or one of open_clip's preferred file names).

Weights are always loaded strictly: missing or unexpected keys raise
:class:`ClipWeightsMismatchError` naming the file and the keys. Keys that
name non-persistent buffers of the model (``attn_mask``) and OpenAI's
archive attributes (``input_resolution``, ``context_length``,
``vocab_size``) are not weights and are dropped. open_clip's conversions
(third-party layouts, custom-text layout, scalar vs 1-d ``logit_scale``,
positional embedding resizing) are applied as in ``open_clip.load_checkpoint``.

OpenAI's weights were trained with QuickGELU. Loading them (a TorchScript
archive, the ``'openai'`` tag, or ``weights_quick_gelu=True``) into an
architecture with plain GELU (``'ViT-B-16'`` instead of
``'ViT-B-16-quickgelu'``) raises a ``ValueError``: open_clip itself only
warns for tags and says nothing for files. The same check is made for any tag
whose open_clip config states ``quick_gelu``. A plain OpenAI state dict
cannot be told apart from an open_clip one by its keys: pass
``weights_quick_gelu=True`` to have it checked.
"""
import functools
import json
import os
import os.path as osp
import zipfile
from copy import deepcopy
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import nn

__all__ = [
    'ClipWeightsMismatchError', 'build_clip_model', 'load_clip_weights',
    'load_clip_state_dict', 'is_torchscript_archive', 'uses_quick_gelu',
    'get_clip_tokenizer', 'resolve_pretrained'
]

LOCAL_DIR_PREFIX = 'local-dir:'
HF_HUB_PREFIX = 'hf-hub:'
WEIGHT_EXTENSIONS = ('.safetensors', '.bin', '.pth', '.pt')
# open_clip's preferred file names in a hub-style folder, best first.
PREFERRED_WEIGHT_FILES = (
    'open_clip_model.safetensors', 'open_clip_pytorch_model.safetensors',
    'open_clip_pytorch_model.bin', 'open_clip_pytorch_model.pth',
    'model.safetensors', 'pytorch_model.bin', 'pytorch_model.pth',
    'model.pth')
# Attributes OpenAI's TorchScript archives store next to the weights.
OPENAI_NON_WEIGHT_KEYS = ('input_resolution', 'context_length', 'vocab_size')


class ClipWeightsMismatchError(RuntimeError):
    """A checkpoint's keys do not match the model's parameters."""


@functools.lru_cache(maxsize=8)
def get_clip_tokenizer(name: str = 'ViT-B-16', context_length: int = 77):
    """open_clip's tokenizer for ``name`` (cached; the CLIP BPE vocabulary
    ships in the open_clip wheel, so this works offline)."""
    import open_clip
    return open_clip.get_tokenizer(name, context_length=context_length)


def is_torchscript_archive(path: str) -> bool:
    """Whether ``path`` is a TorchScript archive (OpenAI's original CLIP
    files), as opposed to a ``torch.save`` zip: only TorchScript archives
    carry a ``code/`` folder and ``constants.pkl``."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    return any(n.endswith('/constants.pkl') or '/code/' in n for n in names)


def uses_quick_gelu(model: nn.Module) -> bool:
    """Whether the transformer MLPs of ``model`` use QuickGELU (as OpenAI's
    CLIP weights require) rather than exact GELU."""
    from open_clip.transformer import QuickGELU
    acts = [m for m in model.modules() if isinstance(m, (QuickGELU, nn.GELU))]
    return bool(acts) and all(isinstance(m, QuickGELU) for m in acts)


def _unwrap_state_dict(obj, path: str, prefix: Optional[str]) -> Dict:
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        obj = obj['state_dict']
    if not isinstance(obj, dict) or not obj:
        raise ClipWeightsMismatchError(
            f'{path} does not hold a state dict (got {type(obj).__name__}).')
    if prefix:
        sub = {k[len(prefix):]: v for k, v in obj.items()
               if k.startswith(prefix)}
        if not sub:
            raise ClipWeightsMismatchError(
                f'No key of {path} starts with prefix={prefix!r}; first keys: '
                f'{list(obj)[:5]}')
        obj = sub
    if all(k.startswith('module.') for k in obj):
        obj = {k[len('module.'):]: v for k, v in obj.items()}
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ClipWeightsMismatchError(
            f'{path}: entries {bad[:5]} are not tensors; is this a training '
            'checkpoint? Pass `prefix` to select the CLIP weights.')
    return dict(obj)


def load_clip_state_dict(path: str,
                         prefix: Optional[str] = None) -> Tuple[Dict, str]:
    """Read a CLIP state dict from a local file without unpickling code.

    Args:
        path (str): ``.safetensors``, a ``torch.save`` file or an OpenAI
            TorchScript archive.
        prefix (str, optional): Keep only keys starting with it (stripped),
            e.g. ``'backbone.clip.'`` for an mmfas checkpoint.

    Returns:
        tuple(dict, str): The state dict and its format, one of
        ``'torchscript'``, ``'safetensors'``, ``'torch'``.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        mmfas.utils.UnsafeCheckpointError: a pickle holds non-allowlisted
            globals (never loaded with ``weights_only=False``).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'CLIP weights file not found: {path!r}')
    if path.endswith('.safetensors'):
        from safetensors.torch import load_file
        return _unwrap_state_dict(load_file(path, device='cpu'), path,
                                  prefix), 'safetensors'
    if is_torchscript_archive(path):
        archive = torch.jit.load(path, map_location='cpu')
        sd = {k: v for k, v in archive.state_dict().items()
              if k not in OPENAI_NON_WEIGHT_KEYS}
        return _unwrap_state_dict(sd, path, prefix), 'torchscript'
    from mmfas.utils.checkpoint import safe_torch_load
    return _unwrap_state_dict(safe_torch_load(path, map_location='cpu'),
                              path, prefix), 'torch'


def _find_weights_in_dir(dir_path: str) -> str:
    files = sorted(f for f in os.listdir(dir_path)
                   if f.endswith(WEIGHT_EXTENSIONS)
                   and osp.isfile(osp.join(dir_path, f)))
    for name in PREFERRED_WEIGHT_FILES:
        if name in files:
            return osp.join(dir_path, name)
    if len(files) == 1:
        return osp.join(dir_path, files[0])
    if not files:
        raise FileNotFoundError(
            f'No CLIP weights file ({"/".join(WEIGHT_EXTENSIONS)}) in '
            f'directory {dir_path!r}')
    raise ValueError(
        f'Several weights files in {dir_path!r} and none of open_clip\'s '
        f'preferred names: {files}. Pass the file path instead.')


def _read_dir_config(dir_path: str) -> Optional[Dict]:
    cfg_path = osp.join(dir_path, 'open_clip_config.json')
    if not osp.isfile(cfg_path):
        return None
    with open(cfg_path, encoding='utf-8') as f:
        cfg = json.load(f)
    return cfg.get('model_cfg', cfg)


def resolve_pretrained(pretrained: str,
                       model_name: Optional[str] = None,
                       cache_dir: Optional[str] = None,
                       model_quick_gelu: Optional[bool] = None) -> Dict:
    """Resolve ``pretrained`` to a local file.

    ``model_quick_gelu`` (the architecture's activation) is checked against a
    tag's ``quick_gelu`` before anything is downloaded.

    Returns:
        dict: ``path`` (weights file), ``tag_cfg`` (open_clip's config of the
        tag, or None), ``model_cfg`` (the architecture from a hub-style
        folder's ``open_clip_config.json``, or None).
    """
    out = dict(path=None, tag_cfg=None, model_cfg=None)
    target = pretrained
    if target.startswith(LOCAL_DIR_PREFIX):
        target = target[len(LOCAL_DIR_PREFIX):]
        if not osp.isdir(target):
            raise FileNotFoundError(
                f'pretrained={pretrained!r}: directory not found: {target!r}')
    target = osp.expanduser(target)
    if osp.isdir(target):
        out['model_cfg'] = _read_dir_config(target)
        out['path'] = _find_weights_in_dir(target)
        return out
    if osp.isfile(target):
        out['path'] = target
        return out

    if os.sep in pretrained or pretrained.endswith(WEIGHT_EXTENSIONS):
        raise FileNotFoundError(
            f'pretrained weights file or directory not found: {target!r}')
    from open_clip.pretrained import (download_pretrained,
                                      get_pretrained_cfg,
                                      list_pretrained_tags_by_model)
    tag_cfg = get_pretrained_cfg(model_name, pretrained) if model_name else {}
    if not tag_cfg:
        known = list_pretrained_tags_by_model(model_name) if model_name \
            else []
        raise FileNotFoundError(
            f'pretrained={pretrained!r} is neither an existing file or '
            f'directory nor a known open_clip tag for arch={model_name!r} '
            f'(known tags: {known}).')
    if model_quick_gelu is not None:
        tag_quick = bool(tag_cfg.get('quick_gelu', False))
        if tag_quick != model_quick_gelu:
            acts = {True: 'QuickGELU', False: 'exact GELU'}
            fix = ('the "-quickgelu" model name (or force_quick_gelu=True)'
                   if tag_quick else 'the name without "-quickgelu"')
            raise ValueError(
                f'pretrained={pretrained!r} weights were trained with '
                f'{acts[tag_quick]} but arch={model_name!r} uses '
                f'{acts[model_quick_gelu]}: use {fix}.')
    try:
        path = download_pretrained(tag_cfg, cache_dir=cache_dir)
    except Exception as e:  # network errors come in many types
        raise RuntimeError(
            f'Could not fetch open_clip weights {model_name}/{pretrained}: '
            f'{e}. Tags need internet access (or a populated cache_dir); '
            'offline, download the file elsewhere and pass its local path '
            'as `pretrained`.') from e
    if not path:
        raise FileNotFoundError(
            f'open_clip returned no file for {model_name}/{pretrained}.')
    out.update(path=path, tag_cfg=tag_cfg)
    return out


def _check_quick_gelu(model: nn.Module, weights_quick_gelu: Optional[bool],
                      source: str) -> None:
    if weights_quick_gelu is None:
        return
    model_quick = uses_quick_gelu(model)
    if weights_quick_gelu and not model_quick:
        raise ValueError(
            f'{source} holds OpenAI-style weights trained with QuickGELU, but '
            'the architecture uses exact GELU: use the "-quickgelu" model '
            'name (e.g. "ViT-B-16-quickgelu"), set quick_gelu=True in the '
            'config dict, or pass force_quick_gelu=True.')
    if not weights_quick_gelu and model_quick:
        raise ValueError(
            f'{source} was trained with exact GELU, but the architecture uses '
            'QuickGELU: use the model name without "-quickgelu".')


def _non_weight_keys(model: nn.Module) -> List[str]:
    keys = []
    for mod_name, mod in model.named_modules():
        for buf in getattr(mod, '_non_persistent_buffers_set', ()):
            keys.append(f'{mod_name}.{buf}' if mod_name else buf)
    return keys


def load_clip_weights(model: nn.Module,
                      path: str,
                      prefix: Optional[str] = None,
                      weights_quick_gelu: Optional[bool] = None) -> str:
    """Load a local CLIP weights file into an open_clip model, strictly.

    Args:
        model (nn.Module): ``open_clip.CLIP`` or ``CustomTextCLIP``.
        path (str): Weights file (see :func:`load_clip_state_dict`).
        prefix (str, optional): Key prefix to select and strip.
        weights_quick_gelu (bool, optional): Whether the weights were trained
            with QuickGELU; None = unknown, except that a TorchScript archive
            is OpenAI's and therefore QuickGELU.

    Returns:
        str: The file format (see :func:`load_clip_state_dict`).

    Raises:
        ValueError: QuickGELU mismatch between weights and architecture.
        ClipWeightsMismatchError: missing or unexpected keys.
    """
    from open_clip.convert import convert_state_dict
    from open_clip.model import (convert_to_custom_text_state_dict,
                                 resize_pos_embed, resize_text_pos_embed)
    state_dict, fmt = load_clip_state_dict(path, prefix)
    if fmt == 'torchscript' and weights_quick_gelu is None:
        weights_quick_gelu = True
    _check_quick_gelu(model, weights_quick_gelu, f'Weights file {path!r}')

    for key in _non_weight_keys(model):
        state_dict.pop(key, None)
    state_dict = convert_state_dict(model, state_dict)
    if 'positional_embedding' in state_dict and not hasattr(
            model, 'positional_embedding'):
        state_dict = convert_to_custom_text_state_dict(state_dict)
    for name in ('logit_scale', 'logit_bias'):
        ref = getattr(model, name, None)
        if name in state_dict and ref is not None:
            state_dict[name] = state_dict[name].reshape(ref.shape)
    resize_pos_embed(state_dict, model)
    resize_text_pos_embed(state_dict, model)

    expected = set(model.state_dict())
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ClipWeightsMismatchError(
            f'Weights file {path!r} does not match the architecture: '
            f'{len(missing)} missing keys {missing[:10]}, {len(unexpected)} '
            f'unexpected keys {unexpected[:10]}. Check the model name / '
            'config, or `prefix` for a nested checkpoint.')
    model.load_state_dict(state_dict, strict=True)
    return fmt


def _create_from_cfg(cfg: Dict) -> nn.Module:
    import open_clip
    cfg = deepcopy(cfg)
    custom_text = cfg.pop('custom_text', False)
    if 'multimodal_cfg' in cfg:
        raise ValueError('CoCa configs (multimodal_cfg) are not supported.')
    cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    return cls(**cfg)


def build_clip_model(arch: Union[str, Dict, None],
                     pretrained: Optional[str] = None,
                     prefix: Optional[str] = None,
                     force_quick_gelu: bool = False,
                     force_image_size: Optional[int] = None,
                     cache_dir: Optional[str] = None,
                     weights_quick_gelu: Optional[bool] = None) -> nn.Module:
    """Build an open_clip model and load its weights (see module docstring).

    Args:
        arch (str | dict | None): open_clip model name, config dict (kwargs of
            ``open_clip.CLIP``), or None when ``pretrained`` is a hub-style
            folder whose ``open_clip_config.json`` gives the architecture.
        pretrained (str, optional): Tag, file, directory or
            ``'local-dir:<dir>'``. None leaves random init.
        prefix (str, optional): Key prefix selecting CLIP weights in a larger
            checkpoint.
        force_quick_gelu (bool): Use QuickGELU whatever the config says.
        force_image_size (int, optional): Override the vision input size
            (positional embeddings of loaded weights are interpolated).
        cache_dir (str, optional): open_clip's download cache for tags.
        weights_quick_gelu (bool, optional): Declare whether the weights were
            trained with QuickGELU (checked against the architecture).

    Returns:
        nn.Module: The open_clip model (fp32, train mode).
    """
    import open_clip
    if isinstance(arch, str) and arch.startswith(
            (LOCAL_DIR_PREFIX, HF_HUB_PREFIX)):
        if pretrained:
            raise ValueError(
                f'arch={arch!r} names its own weights; pretrained='
                f'{pretrained!r} would be ignored by open_clip. Pass one.')
        if arch.startswith(LOCAL_DIR_PREFIX) and not osp.isdir(
                arch[len(LOCAL_DIR_PREFIX):]):
            raise FileNotFoundError(f'arch={arch!r}: directory not found')
        return open_clip.create_model(
            arch, force_quick_gelu=force_quick_gelu,
            force_image_size=force_image_size, cache_dir=cache_dir)

    resolved = None
    if pretrained:
        model_name = arch if isinstance(arch, str) else None
        model_quick = None
        if model_name is not None:
            cfg = open_clip.factory.get_model_config(
                model_name.replace('/', '-')) or {}
            model_quick = force_quick_gelu or bool(
                cfg.get('quick_gelu', False))
        resolved = resolve_pretrained(pretrained, model_name, cache_dir,
                                      model_quick)
        if arch is None:
            arch = resolved['model_cfg']
    if arch is None:
        raise ValueError('`arch` is required unless `pretrained` is a '
                         'folder holding open_clip_config.json.')

    if isinstance(arch, str):
        if open_clip.factory.get_model_config(arch.replace('/', '-')) is None:
            raise ValueError(f'Unknown open_clip model name {arch!r}; see '
                             'open_clip.list_models().')
        model = open_clip.create_model(
            arch, pretrained=None, force_quick_gelu=force_quick_gelu,
            force_image_size=force_image_size)
    elif isinstance(arch, dict):
        cfg = deepcopy(arch)
        if force_quick_gelu:
            cfg['quick_gelu'] = True
        if force_image_size is not None:
            cfg.setdefault('vision_cfg', {})['image_size'] = force_image_size
        model = _create_from_cfg(cfg)
    else:
        raise TypeError(f'arch must be a str or dict, got {type(arch)}')

    if resolved is not None:
        wq = weights_quick_gelu
        if wq is None and resolved['tag_cfg']:
            wq = bool(resolved['tag_cfg'].get('quick_gelu', False))
        if wq is None and resolved['model_cfg'] is not None:
            wq = bool(resolved['model_cfg'].get('quick_gelu', False))
        source = (f'pretrained={pretrained!r}' if resolved['tag_cfg'] else
                  f'Weights file {resolved["path"]!r}')
        if resolved['tag_cfg'] or resolved['model_cfg'] is not None:
            # check before the (possibly long) load
            _check_quick_gelu(model, wq, source)
        load_clip_weights(model, resolved['path'], prefix=prefix,
                          weights_quick_gelu=wq)
    return model
