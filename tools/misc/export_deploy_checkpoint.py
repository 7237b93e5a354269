"""Write a deployment checkpoint: the weights plus a fixed decision threshold.

    # a threshold you chose
    python tools/misc/export_deploy_checkpoint.py CONFIG CKPT \\
        --threshold 0.42 --out deploy.pth
    # a threshold chosen on a development split at a target error rate
    python tools/misc/export_deploy_checkpoint.py CONFIG CKPT \\
        --target bpcer=0.05 \\
        --dev-scores WORK_DIR/RUN/fas_scores_fas_CKPT.csv --out deploy.pth

The output holds only ``state_dict`` and
``meta = {'fas_threshold': T, 'threshold_policy': P, 'classes':
['spoof', 'live'], 'score_kind': K, 'source': {...}}`` (``T`` a threshold on
the liveness score of the score rule, :mod:`mmfas.structures.score_rule`:
live iff ``live_score >= T``; ``K`` the model's score kind; ``source``: the
training checkpoint's path, sha256, iteration / epoch and the config).
``P`` is the policy that produced ``T``: ``'fixed'`` for ``--threshold``;
``'val'`` for ``--target`` (FASMetric's policy: the threshold at
``val_target`` of a validation split), with ``meta['val_target']`` (e.g.
``{'type': 'bpcer', 'value': 0.05}``) and ``meta['threshold_origin']``: the
score file (path, sha256), which rows (``dev_role``, their level and
counts) and the rates the threshold gives there (percent).

``--target bpcer=R`` takes the highest threshold whose BPCER on the dev
rows is ``<= R`` (live-only dev splits work), ``apcer=R`` the lowest whose
APCER (max over attack types) is ``<= R``, ``eer`` the EER threshold. The
dev rows are the ``eval_role='val'`` rows of a score file a test run wrote
(``fas_scores_*.csv``, or ``fas_frames_*.csv`` with ``--level``); mmfas'
test dataloaders hold the source validation split as ``'val'``. A score
file of a run on the dev split itself: ``--dev-role test`` (or ``all``).
The scores must come from CKPT: a file named after another checkpoint is
refused.
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
import math
import os
import os.path as osp
import warnings
from typing import Optional, Tuple, Union

import torch

from mmfas.evaluation.functional import DegenerateInputWarning
from mmfas.structures import score_rule
from mmfas.utils import safe_torch_load


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export weights + a fixed FAS threshold for deployment')
    parser.add_argument('config', help='the config the checkpoint was '
                        'trained with')
    parser.add_argument('checkpoint', help='training checkpoint')
    how = parser.add_mutually_exclusive_group(required=True)
    how.add_argument('--threshold', type=float,
                     help='decision threshold on the liveness score in '
                     '[0, 1] (live iff live_score >= threshold), e.g. '
                     'fas/threshold of a val-policy test run')
    how.add_argument('--target',
                     help="choose the threshold on --dev-scores: 'bpcer=R' "
                     "(highest threshold with BPCER <= R), 'apcer=R' "
                     "(lowest with APCER <= R) or 'eer'")
    parser.add_argument('--dev-scores', nargs='+',
                        help='--target: the score file of a test run of '
                        'CKPT (fas_scores_*.csv or fas_frames_*.csv)')
    parser.add_argument('--dev-role', default='val',
                        choices=['val', 'test', 'all'],
                        help="--target: which rows are the dev split "
                        "(default: the 'val' rows, the source validation "
                        'split of a test run)')
    parser.add_argument('--level', choices=['video', 'frame'],
                        help='--target: evaluate the dev frames at this '
                        "level (needs the fas_frames_*.csv); default: the "
                        "file's rows as the run evaluated them")
    parser.add_argument('--out', required=True, help='output .pth file')
    parser.add_argument('--no-verify', action='store_true',
                        help='do not load the weights into the model built '
                        'from CONFIG')
    args = parser.parse_args(argv)
    if args.target is not None and not args.dev_scores:
        parser.error('--target needs --dev-scores (the score file of a '
                     'test run of CKPT)')
    if args.target is None and (args.dev_scores or args.level):
        parser.error('--dev-scores / --level belong to --target')
    if args.dev_scores and len(args.dev_scores) != 1:
        parser.error('--dev-scores takes one score file (of one run of '
                     f'CKPT), got {len(args.dev_scores)}: '
                     + ' '.join(args.dev_scores))
    return args


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def threshold_from_dev_scores(dev_scores: str,
                              target: Union[str, dict],
                              checkpoint: Optional[str] = None,
                              dev_role: str = 'val',
                              level: Optional[str] = None
                              ) -> Tuple[float, dict]:
    """The threshold at ``target`` on the dev rows of a score file.

    Returns:
        tuple: ``(threshold, origin)``; ``origin`` says where it came from
        (the file, its sha256, the rows, their counts and the dev rates at
        the threshold in percent).

    Raises:
        ValueError: a score file named after another checkpoint, no dev
            rows, or a target the rows cannot meet (e.g. ``bpcer`` without
            live rows); each names the file.
    """
    from mmfas.evaluation import checkpoint_tag
    from mmfas.evaluation.score_files import (evaluate_score_file,
                                              parse_target)
    val_target = parse_target(target) if isinstance(target, str) else \
        dict(target)
    base = osp.splitext(osp.basename(dev_scores))[0]
    tag = checkpoint_tag(checkpoint)
    if tag and base.startswith(('fas_scores_', 'fas_frames_')) and \
            not base.endswith('_' + tag):
        raise ValueError(
            f'{dev_scores} is not named after the checkpoint {checkpoint} '
            f"(tools/test.py names score files '..._{tag}.csv'): a "
            'threshold chosen on another model\'s scores does not fit this '
            'one. Test CKPT (tools/test.py CONFIG CKPT) and pass its file.')
    with warnings.catch_warnings():
        # one-class dev splits: the metric's AUC / APCER warnings say
        # nothing about the threshold
        warnings.simplefilter('ignore', DegenerateInputWarning)
        metrics, details = evaluate_score_file(
            dev_scores, level=level, dev_role=dev_role,
            return_details=True, val_target=val_target)
    thr = metrics['threshold']
    if not math.isfinite(thr):
        raise ValueError(f'{dev_scores}: no threshold at {val_target} on '
                         f'the {dev_role!r} rows: {details["message"]}')
    origin = dict(
        dev_scores=osp.abspath(details['source']),
        sha256=sha256(details['source']),
        dev_role=dev_role,
        rows=details['unit'],
        num_live=metrics['num_live'],
        num_spoof=metrics['num_spoof'],
        message=details['message'])
    for key in ('BPCER', 'APCER', 'ACER', 'HTER'):
        if math.isfinite(metrics[key]):
            origin[key] = metrics[key]
    return score_rule.check_threshold(thr, 'the dev threshold'), origin


def export(config: str, checkpoint: str, threshold: Optional[float],
           out: str, verify: bool = True,
           target: Union[None, str, dict] = None,
           dev_scores: Optional[str] = None, dev_role: str = 'val',
           level: Optional[str] = None) -> dict:
    """Write the deployment checkpoint ``out``; returns its ``meta``.

    Either ``threshold`` (policy ``'fixed'``) or ``target`` with
    ``dev_scores`` (policy ``'val'``, see the module docstring)."""
    if (threshold is None) == (target is None):
        raise ValueError('give either a threshold or a target (with '
                         'dev_scores)')
    origin = None
    if target is not None:
        if not dev_scores:
            raise ValueError('a target needs dev_scores (a score file)')
        threshold, origin = threshold_from_dev_scores(
            dev_scores, target, checkpoint, dev_role, level)
        from mmfas.evaluation.score_files import parse_target
        val_target = parse_target(target) if isinstance(target, str) else \
            dict(target)
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
    if origin is not None:
        meta.update(threshold_policy='val', val_target=val_target,
                    threshold_origin=origin)
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
                  verify=not args.no_verify, target=args.target,
                  dev_scores=(args.dev_scores or [None])[0],
                  dev_role=args.dev_role, level=args.level)
    how = ''
    if 'threshold_origin' in meta:
        o = meta['threshold_origin']
        how = (f' at {meta["val_target"]} of the {o["dev_role"]!r} rows '
               f'({o["rows"]}: {o["num_live"]} live / {o["num_spoof"]} '
               f'spoof) of {o["dev_scores"]}: ' + ', '.join(
                   f'{k}={o[k]:.2f}%' for k in ('BPCER', 'APCER') if k in o))
    print(f'wrote {args.out}: fas_threshold={meta["fas_threshold"]}, '
          f'threshold_policy={meta["threshold_policy"]}{how}, '
          f'source={meta["source"]["checkpoint"]}')


if __name__ == '__main__':
    main()
