"""One-class baseline from a config's backbone: distance to the mean live
embedding.

For a one-class config (live-only sources, e.g. ``configs/slip/*``), the
baseline needs no training: the (pretrained) CLIP image embeddings of the
sources' live training frames give a mean live embedding ``mu``; a frame's
distance is ``d = 1 - cos(E_I(x), mu)`` and its liveness score
``exp(-d / scale)`` (the score rule's ``distance`` kind). The scores of the
config's validation and test sets then go through
:meth:`~mmfas.evaluation.FASMetric.calculate` with the config's test
evaluator settings (threshold policy and target), so the numbers sit next
to the method's own run on the same protocol::

    python tools/analysis_tools/oneclass_baseline.py configs/slip/slip_tiny_demo.py
    python tools/analysis_tools/oneclass_baseline.py CONFIG --checkpoint CKPT

``--checkpoint`` loads a trained model's weights first (e.g. to measure the
same distance on a fine-tuned backbone); without it the backbone is the one
the config builds (its ``pretrained`` weights).
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch
from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO not in sys.path:
    sys.path.insert(0, REPO)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='One-class baseline: distance of the CLIP image '
        'embedding to the mean live embedding of the sources.')
    p.add_argument('config', help='a one-class config (live-only sources)')
    p.add_argument('--checkpoint', default=None,
                   help='model checkpoint to load first (default: the '
                   "config's pretrained backbone)")
    p.add_argument('--scale', type=float, default=0.1,
                   help='distance scale of the liveness score exp(-d/scale) '
                   '(monotone: changes no ranking; default 0.1)')
    p.add_argument('--batch-size', type=int, default=64,
                   help='images per forward (default 64)')
    p.add_argument('--out', default=None,
                   help='write the metrics as JSON to this file')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value (as '
                   'tools/test.py)')
    return p.parse_args(argv)


def eval_loader(dataset_cfg, pipeline, batch_size):
    """An ordered, single-process loader over ``dataset_cfg`` (its own
    pipeline, or ``pipeline``)."""
    from mmengine.runner import Runner
    ds = dict(dataset_cfg)
    if pipeline is not None:
        ds['pipeline'] = pipeline
    return Runner.build_dataloader(dict(
        batch_size=batch_size, num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        collate_fn=dict(type='default_collate'), dataset=ds))


@torch.no_grad()
def _embed(model, loader):
    embeds, metas = [], []
    for data in loader:
        data = model.data_preprocessor(data, False)
        x = model._plain_view(data['inputs'])
        e = model.backbone.encode_image(x, normalize=True)
        embeds.append(e.float())
        for s in data['data_samples']:
            metas.append(dict(
                label=int(s.gt_label), video_id=s.get('video_id'),
                attack_type=s.get('attack_type', 'none'),
                domain=s.get('domain'),
                eval_role=s.get('eval_role') or 'test'))
    return torch.cat(embeds), metas


def main(argv=None):
    args = parse_args(argv)
    from mmfas.apis import init_model
    from mmfas.evaluation import FASMetric
    from mmfas.structures import live_score
    from mmfas.utils import (load_config, merge_data_preprocessor,
                             register_all_modules)

    register_all_modules(init_default_scope=True)
    opts = args.cfg_options
    cfg = load_config(args.config, opts)
    if opts:
        cfg.merge_from_dict(opts)
    cfg = merge_data_preprocessor(cfg)
    model = init_model(cfg, args.checkpoint, device='cpu')
    model.eval()

    train = cfg.train_dataloader.dataset
    if train.get('label') != 'live':
        raise ValueError(f'{args.config}: train_dataloader.dataset.label is '
                         f'{train.get("label")!r}; the one-class baseline '
                         "needs live-only sources (label='live')")
    test_pipeline = cfg.test_dataloader.dataset.get('pipeline') or \
        cfg.val_dataloader.dataset.get('pipeline')
    if test_pipeline is None:  # ConcatDataset: the first member's
        test_pipeline = cfg.test_dataloader.dataset.datasets[0].pipeline
    live, _ = _embed(model, eval_loader(train, test_pipeline,
                                        args.batch_size))
    mu = torch.nn.functional.normalize(live.mean(0), dim=0)
    emb, metas = _embed(model, eval_loader(cfg.test_dataloader.dataset,
                                           None, args.batch_size))
    dist = (1 - emb @ mu).clamp_min(0)
    scores = live_score(dist, 'distance', args.scale).numpy()

    ev = dict(cfg.test_evaluator)
    metrics, details = FASMetric.calculate(
        scores=scores,
        labels=np.array([m['label'] for m in metas]),
        video_ids=[m['video_id'] for m in metas],
        attack_types=[m['attack_type'] for m in metas],
        domains=[m['domain'] for m in metas],
        eval_roles=[m['eval_role'] for m in metas],
        threshold_policy=ev.get('threshold_policy', 'val'),
        val_target=ev.get('val_target'),
        threshold=ev.get('threshold'),
        level=ev.get('level', 'video'),
        return_details=True)
    print(f'one-class baseline (1 - cos to the mean live embedding of '
          f'{len(live)} source live frames), {args.config}')
    print(details['message'])
    for k in ('HTER', 'AUC', 'EER', 'APCER', 'BPCER', 'threshold'):
        print(f'  {k}: {metrics[k]:.4f}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f,
                      indent=1)
    return metrics


if __name__ == '__main__':
    main()
