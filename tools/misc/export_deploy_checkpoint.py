"""Write a deployment checkpoint: the weights plus a fixed decision threshold.

    python tools/misc/export_deploy_checkpoint.py CONFIG CKPT \\
        --threshold 0.42 --out deploy.pth

The output holds only ``state_dict`` and
``meta = {'fas_threshold': T, 'threshold_policy': 'fixed', 'classes':
['spoof', 'live'], 'score_kind': K, 'source': {...}}`` (``T`` a threshold on
the liveness score of the score rule, :mod:`mmfas.structures.score_rule`:
live iff ``live_score >= T``; ``K`` the model's score kind; ``source``: the
training checkpoint's path, sha256, iteration / epoch and the config).
Optimizer state, message hub and schedulers are dropped. A trainable-only
checkpoint (``save_trainable_only=True`` models) stays trainable-only:
``init_model`` loads the pretrained CLIP underneath.

``mmfas.apis.init_model`` reads the threshold back (and refuses a checkpoint
whose ``classes`` / ``score_kind`` differ from the model's): the model's
``predict`` and ``inference_model`` then label an image live when
``live_score >= T``, and ``tools/test.py`` evaluates the checkpoint with
``threshold_policy='fixed'`` at ``T`` unless told otherwise. The checkpoint
is read with ``mmfas.utils.safe_torch_load`` (``weights_only``), and unless
``--no-verify`` the weights are loaded into the model built from CONFIG
first, so a checkpoint that does not match the config is refused.
"""
import argparse
import hashlib
import os
import os.path as osp

import torch

from mmfas.structures import score_rule
from mmfas.utils import safe_torch_load


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export weights + a fixed FAS threshold for deployment')
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='training checkpoint')
    parser.add_argument('--threshold', type=float, required=True,
                        help='decision threshold on the liveness score in '
                        '[0, 1] (live iff live_score >= threshold), e.g. '
                        'fas/threshold of a val-policy test run')
    parser.add_argument('--out', required=True, help='output .pth file')
    parser.add_argument('--no-verify', action='store_true',
                        help='do not load the weights into the model built '
                        'from CONFIG')
    return parser.parse_args(argv)


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def export(config: str, checkpoint: str, threshold: float, out: str,
           verify: bool = True) -> dict:
    threshold = score_rule.check_threshold(threshold, '--threshold')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    ckpt = safe_torch_load(checkpoint, map_location='cpu')
    if not isinstance(ckpt, dict):
        raise TypeError(f'{checkpoint}: not a dict checkpoint')
    state = ckpt['state_dict'] if 'state_dict' in ckpt else ckpt
    old_meta = (ckpt.get('meta') or {}) if 'state_dict' in ckpt else {}
    if not state or not all(isinstance(v, torch.Tensor)
                            for v in state.values()):
        raise ValueError(f'{checkpoint}: no tensor state_dict')
    state = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in state.items()}
    if verify:
        from mmfas.apis import init_model
        model = init_model(config, checkpoint, device='cpu')  # raises on
        # a mismatch
        score_kind = model.score_kind
    else:
        score_kind = _score_kind(config)
    source = dict(checkpoint=osp.abspath(checkpoint),
                  sha256=sha256(checkpoint), config=str(config))
    for key in ('iter', 'epoch', 'mmengine_version', 'time'):
        if isinstance(old_meta.get(key), (int, float, str)):
            source[key] = old_meta[key]
    meta = dict(fas_threshold=threshold, threshold_policy='fixed',
                classes=list(score_rule.CLASSES), score_kind=score_kind,
                source=source)
    out_dir = osp.dirname(osp.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    torch.save(dict(state_dict=state, meta=meta), out)
    # the written file must load through the safe loader
    back = safe_torch_load(out, map_location='cpu')
    assert back['meta']['fas_threshold'] == float(threshold)
    return meta


def _score_kind(config: str) -> str:
    """The score kind of the config's model class, without building it."""
    from mmengine.config import Config

    from mmfas.registry import MODELS
    from mmfas.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(config)
    cls = MODELS.get(cfg.model['type'])
    if cls is None:
        raise KeyError(f'{config}: model type {cfg.model["type"]!r} is not '
                       'registered')
    return score_rule.check_score_kind(getattr(cls, 'score_kind', 'logits'))


def main(argv=None):
    args = parse_args(argv)
    meta = export(args.config, args.checkpoint, args.threshold, args.out,
                  verify=not args.no_verify)
    print(f'wrote {args.out}: fas_threshold={meta["fas_threshold"]}, '
          f'threshold_policy=fixed, source={meta["source"]["checkpoint"]}')


if __name__ == '__main__':
    main()
