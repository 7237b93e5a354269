"""Convert FLIP's released checkpoints to mmfas checkpoints.

    python tools/model_converters/flip2mmfas.py FLIP_CKPT \\
        --model {flip_v,flip_it,flip_mcl} --out OUT.pth [--config CONFIG] \\
        [--clip-weights ViT-B-16.pt]

FLIP (koushiksrivats/FLIP, ICCV 2023) saves ``{'epoch', 'state_dict',
'valid_arg', 'threshold', ...}`` from its ``fas.py`` models; the state dict
keys, as its model definitions lay them out:

* ``flip_v``: ``backbone.vit.<OpenAI CLIP visual>`` (the vision tower only:
  ``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
  ``transformer.resblocks.N.*``, ``ln_post``, ``proj``);
  ``embedder.bottleneck_layer_fc.{weight,bias}`` (the same tensors again as
  ``embedder.bottleneck_layer.0.*``); ``classifier.classifier_layer.*``;
* ``flip_it``: ``model.<OpenAI CLIP>`` (both towers, ``logit_scale``);
* ``flip_mcl``: ``model.<OpenAI CLIP>`` and the SimCLR MLP
  ``image_mlp.{layer1,bn1,layer2,bn2,layer3}.*``.

OpenAI's CLIP keys are open_clip's, so the towers map to
``backbone.clip.*`` of :class:`~mmfas.models.backbones.OpenCLIPBackbone`;
FLIP-V's embedder and classifier become :class:`FLIPVHead`'s
``bottleneck`` / ``classifier``, FLIP-MCL's MLP :class:`SimCLRProjector`'s
``mlp.{0,1,3,4,6}``. Tensors are cast to float32 (the mmfas configs run
fp32; FLIP's CLIP may be stored in fp16). A key the mapping does not know is
an error naming it: nothing is dropped silently (the duplicate
``bottleneck_layer.0`` entries are checked to equal ``bottleneck_layer_fc``).

FLIP-V's checkpoint has no text tower, which FLIP-V never uses but
``OpenCLIPBackbone`` holds: it is filled from ``--clip-weights`` (e.g.
OpenAI's ``ViT-B-16.pt``) when given, else from the model built from the
config with random weights (seed 0); the output's meta lists the filled
keys either way.

The output (``{'state_dict', 'meta'}``) is loaded strictly into the model
built from ``--config`` (default: the variant's ``*_vitb16_oci2m_legacy``
config, the same model as every FLIP config of that variant) unless
``--no-verify``. FLIP's code normalises images with ImageNet's mean / std,
as the ``*_legacy`` configs do; its stored ``threshold`` (picked on its test
scores) is kept in ``meta['flip']`` for reference only, never as the
deployment threshold.
"""
import argparse
import hashlib
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

MODELS = ('flip_v', 'flip_it', 'flip_mcl')
_REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIGS = {
    m: osp.join(_REPO, 'configs', 'flip', f'{c}_vitb16_oci2m_legacy.py')
    for m, c in (('flip_v', 'flip-v'), ('flip_it', 'flip-it'),
                 ('flip_mcl', 'flip-mcl'))
}
# FLIP-MCL's image_mlp (an OrderedDict Sequential) -> SimCLRProjector.mlp
_MLP = {'layer1': '0', 'bn1': '1', 'layer2': '3', 'bn2': '4', 'layer3': '6'}
_CLIP = 'backbone.clip.'


def _numpy_globals() -> list:
    """The numpy globals a plain numeric value pickles with (FLIP stores
    numpy floats in ``valid_arg`` / ``threshold``)."""
    core = getattr(np, '_core', None) or np.core
    dtypes = [type(np.dtype(t)) for t in (np.float16, np.float32,
                                          np.float64, np.int32, np.int64,
                                          np.bool_)]
    return [np.dtype, np.ndarray, core.multiarray.scalar,
            core.multiarray._reconstruct] + dtypes


def load_flip_checkpoint(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``(state_dict, extras)`` of a FLIP checkpoint, read with
    ``weights_only`` (mmfas' allowlist plus numpy's numeric scalars and
    arrays; any other pickled global is refused).

    ``extras`` holds the checkpoint's other plain entries (``epoch``,
    ``threshold``, ...) as Python numbers."""
    from mmfas.utils import safe_torch_load
    if not osp.isfile(path):
        raise FileNotFoundError(f'FLIP checkpoint not found: {path}')
    with torch.serialization.safe_globals(_numpy_globals()):
        ckpt = safe_torch_load(path, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise TypeError(f'{path}: expected a dict checkpoint, got '
                        f'{type(ckpt).__name__}')
    state = ckpt.get('state_dict', ckpt)
    if not state or not all(isinstance(v, torch.Tensor)
                            for v in state.values()):
        raise ValueError(f'{path}: no tensor state_dict')
    state = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in state.items()}
    extras = {}
    if 'state_dict' in ckpt:
        for k, v in ckpt.items():
            v = _plain(v)
            if k != 'state_dict' and v is not None:
                extras[k] = v
    return state, extras


def _plain(v):
    """Python numbers / strings / lists of them (numpy ones converted), or
    None for anything else (no numpy object reaches the output file)."""
    if isinstance(v, (np.generic, np.ndarray)):
        v = v.tolist()
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return int(v) if isinstance(v, int) else float(v)
    if isinstance(v, str):
        return str(v)
    if isinstance(v, (list, tuple)):
        items = [_plain(x) for x in v]
        return None if any(x is None for x in items) else items
    return None


def _float(t: torch.Tensor) -> torch.Tensor:
    return t.float() if t.is_floating_point() else t


def convert(state: Dict[str, torch.Tensor],
            model: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Map a FLIP state dict to mmfas keys.

    Returns:
        tuple: ``(mmfas_state, unknown_keys)``; the caller refuses a
        non-empty ``unknown_keys``.
    """
    if model not in MODELS:
        raise ValueError(f'--model must be one of {MODELS}, got {model!r}')
    out, unknown = {}, []
    for key, value in state.items():
        new = None
        if model == 'flip_v':
            if key.startswith('backbone.vit.'):
                new = _CLIP + 'visual.' + key[len('backbone.vit.'):]
            elif key.startswith('embedder.bottleneck_layer_fc.'):
                new = 'head.bottleneck.' + key.rsplit('.', 1)[1]
            elif key.startswith('embedder.bottleneck_layer.0.'):
                twin = 'embedder.bottleneck_layer_fc.' + key.rsplit('.', 1)[1]
                if twin in state and torch.equal(state[twin], value):
                    continue  # the same Linear registered twice
                new = 'head.bottleneck.' + key.rsplit('.', 1)[1]
            elif key.startswith('classifier.classifier_layer.'):
                new = 'head.classifier.' + key.rsplit('.', 1)[1]
        else:
            m = re.match(r'image_mlp\.(layer1|bn1|layer2|bn2|layer3)\.(.+)$',
                         key)
            if key.startswith('model.'):
                new = _CLIP + key[len('model.'):]
            elif m and model == 'flip_mcl':
                new = f'projector.mlp.{_MLP[m.group(1)]}.{m.group(2)}'
        if new is None:
            unknown.append(key)
        elif new in out:
            raise ValueError(f'two FLIP keys map to {new} (one is {key})')
        else:
            out[new] = _float(value)
    return out, unknown


def _text_tower_keys(model_state: Dict[str, torch.Tensor]) -> List[str]:
    """The keys of the backbone outside the vision tower (text tower,
    ``logit_scale``): what FLIP-V's checkpoint lacks."""
    return [k for k in model_state
            if k.startswith(_CLIP) and not k.startswith(_CLIP + 'visual.')]


def _build(config: str):
    from mmfas.apis import init_model
    torch.manual_seed(0)
    return init_model(config,
                      cfg_options={'model.backbone.pretrained': None})


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def run(flip_ckpt: str, model: str, out: str,
        config: Optional[str] = None, clip_weights: Optional[str] = None,
        verify: bool = True) -> dict:
    """Convert ``flip_ckpt`` into ``out``; returns the output's meta."""
    state, extras = load_flip_checkpoint(flip_ckpt)
    new, unknown = convert(state, model)
    if unknown:
        shown = ', '.join(unknown[:8]) + (
            f' and {len(unknown) - 8} more' if len(unknown) > 8 else '')
        raise ValueError(
            f'{flip_ckpt}: {len(unknown)} keys are not part of FLIP\'s '
            f'{model} layout: {shown}. Is --model right? (flip_v: '
            "'backbone.vit.*', 'embedder.*', 'classifier.*'; flip_it: "
            "'model.*'; flip_mcl: 'model.*', 'image_mlp.*')")
    config = config or DEFAULT_CONFIGS[model]
    filled, fill_source = [], None
    built = None
    if model == 'flip_v':
        if clip_weights:
            from mmfas.models.utils import load_clip_state_dict
            clip_state, _ = load_clip_state_dict(clip_weights)
            text = {_CLIP + k: _float(v) for k, v in clip_state.items()
                    if not k.startswith('visual.')}
            fill_source = osp.abspath(clip_weights)
        else:
            built = _build(config)
            text = {k: v.detach().clone() for k, v in
                    built.state_dict().items()
                    if k in _text_tower_keys(built.state_dict())}
            fill_source = f'random initialisation of {config} (seed 0)'
        for k, v in text.items():
            if k not in new:
                new[k] = v
                filled.append(k)
    meta = dict(
        converted_from=dict(
            repo='koushiksrivats/FLIP', model=model,
            checkpoint=osp.abspath(flip_ckpt), sha256=sha256(flip_ckpt),
            dtypes=sorted({str(v.dtype) for v in state.values()})),
        flip=extras)
    if filled:
        meta['converted_from']['filled_unused_keys'] = sorted(filled)
        meta['converted_from']['filled_from'] = fill_source
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    torch.save(dict(state_dict=new, meta=meta), out)
    if verify:
        from mmfas.apis import init_model
        init_model(config, out)  # strict: raises naming the keys
    return meta


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Convert FLIP's released checkpoints to mmfas")
    parser.add_argument('checkpoint', help='FLIP checkpoint (.pth.tar)')
    parser.add_argument('--model', required=True, choices=MODELS,
                        help='the FLIP variant that saved it')
    parser.add_argument('--out', required=True, help='output .pth')
    parser.add_argument('--config', help='mmfas config to verify the strict '
                        'load with (default: the variant\'s '
                        '*_vitb16_oci2m_legacy.py)')
    parser.add_argument('--clip-weights', help='flip_v: CLIP weights that '
                        'fill the (unused) text tower, e.g. OpenAI '
                        'ViT-B-16.pt (default: random)')
    parser.add_argument('--no-verify', action='store_true',
                        help='do not load the result into the config')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    meta = run(args.checkpoint, args.model, args.out, args.config,
               args.clip_weights, verify=not args.no_verify)
    src = meta['converted_from']
    print(f'wrote {args.out} ({args.model}, from {args.checkpoint}, '
          f'dtypes {", ".join(src["dtypes"])} -> float32)')
    if 'filled_unused_keys' in src:
        print(f'filled {len(src["filled_unused_keys"])} text-tower keys '
              f'FLIP-V does not use from {src["filled_from"]}')
    if not args.no_verify:
        print('loads strictly into '
              f'{args.config or DEFAULT_CONFIGS[args.model]}; FLIP '
              'normalised with ImageNet mean/std: test with the *_legacy '
              'configs to compare with its numbers')
    return meta


if __name__ == '__main__':
    main()
