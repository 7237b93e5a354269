"""Mean predicted spoof cue maps of a spoof-map model (SLIP) on a test set.

SLIP's decoder predicts a spoof cue map per face (0 = live everywhere); its
liveness score comes from the map's mean. This tool runs the config's test
set through ``model.spoof_maps`` for each checkpoint and prints, per group
(live faces and each attack type), the number of frames and the mean map
value, and the gap ``mean(spoof) - mean(live)``: positive when the model
paints more cue on spoof faces than on live ones. With several checkpoints
(e.g. one per seed) it adds the mean and sample std of the gap::

    python tools/analysis_tools/slip_cue_maps.py \\
        configs/slip/slip_tiny_demo.py \\
        work_dirs/slip/seed_{0,1,2}/iter_300.pth --out work_dirs/slip/maps

``--out DIR`` writes ``cue_maps.json`` (the numbers) and ``mean_maps.npz``
(the mean 2-D map of every group, per checkpoint), and ``mean_maps.png``
when matplotlib is installed.
"""
import argparse
import json
import os
import os.path as osp
import statistics
import sys

import numpy as np
import torch
from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
for _p in (REPO, osp.dirname(osp.abspath(__file__))):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Mean predicted spoof cue maps (live vs each attack) '
        'of a spoof-map model on its config\'s test set.')
    p.add_argument('config', help='config of a spoof-map model (SLIP)')
    p.add_argument('checkpoints', nargs='+', help='one or more checkpoints '
                   '(e.g. the last checkpoint of each seed)')
    p.add_argument('--batch-size', type=int, default=64,
                   help='images per forward (default 64)')
    p.add_argument('--out', default=None,
                   help='folder for cue_maps.json, mean_maps.npz and '
                   '(with matplotlib) mean_maps.png')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value')
    return p.parse_args(argv)


@torch.no_grad()
def group_maps(model, loader) -> dict:
    """``{group: (frames, sum of maps (S, S))}``, groups ``'live'`` and
    each attack type."""
    sums = {}
    for data in loader:
        data = model.data_preprocessor(data, False)
        x = model._plain_view(data['inputs'])
        maps = model.spoof_maps(x).float()[:, 0]  # (B, S, S)
        for m, s in zip(maps, data['data_samples']):
            group = 'live' if int(s.gt_label) == 1 else \
                (s.get('attack_type') or 'spoof')
            n, total = sums.get(group, (0, torch.zeros_like(m)))
            sums[group] = (n + 1, total + m)
    return sums


def summarise(sums: dict) -> dict:
    """Per group: frames and mean map value; the spoof-minus-live gap."""
    if 'live' not in sums or len(sums) < 2:
        raise ValueError(f'the test set needs live and spoof faces; it has '
                         f'groups {sorted(sums)}')
    out = {g: dict(frames=n, mean=float(t.sum()) / (n * t.numel()))
           for g, (n, t) in sorted(sums.items())}
    spoof_n = sum(n for g, (n, _) in sums.items() if g != 'live')
    spoof_sum = sum(float(t.sum()) for g, (_, t) in sums.items()
                    if g != 'live')
    numel = next(iter(sums.values()))[1].numel()
    out['spoof (all attacks)'] = dict(frames=spoof_n,
                                      mean=spoof_sum / (spoof_n * numel))
    out['gap'] = out['spoof (all attacks)']['mean'] - out['live']['mean']
    return out


def _plot(path, maps_per_ckpt):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    groups = sorted(maps_per_ckpt[0])
    rows = len(maps_per_ckpt)
    vmax = max(float(m.max()) for d in maps_per_ckpt for m in d.values())
    fig, axes = plt.subplots(rows, len(groups), squeeze=False,
                             figsize=(2 * len(groups), 2 * rows))
    for r, d in enumerate(maps_per_ckpt):
        for c, g in enumerate(groups):
            ax = axes[r][c]
            ax.imshow(d[g], vmin=0, vmax=max(vmax, 1e-6), cmap='magma')
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(g, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main(argv=None):
    args = parse_args(argv)
    from oneclass_baseline import eval_loader

    from mmfas.apis import init_model
    from mmfas.utils import (load_config, merge_data_preprocessor,
                             register_all_modules)

    register_all_modules(init_default_scope=True)
    cfg = load_config(args.config, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_data_preprocessor(cfg)
    results, mean_maps = [], []
    for ckpt in args.checkpoints:
        if not osp.isfile(ckpt):
            raise FileNotFoundError(f'checkpoint {ckpt} does not exist')
        model = init_model(cfg, ckpt, device='cpu').eval()
        if not hasattr(model, 'spoof_maps'):
            raise ValueError(f'{args.config}: {type(model).__name__} '
                             'predicts no spoof cue maps (spoof_maps)')
        sums = group_maps(model, eval_loader(cfg.test_dataloader.dataset,
                                             None, args.batch_size))
        res = summarise(sums)
        results.append(dict(checkpoint=ckpt, groups=res))
        mean_maps.append({g: (t / n).numpy() for g, (n, t) in sums.items()})
        print(f'{ckpt}:')
        for g, v in res.items():
            if g != 'gap':
                print(f'  {g:<22} {v["frames"]:>6} frames  mean cue map '
                      f'{v["mean"]:.6f}')
        print(f'  gap spoof - live: {res["gap"]:+.3e}')
    gaps = [r['groups']['gap'] for r in results]
    summary = dict(config=args.config, runs=results, gaps=gaps,
                   gap_mean=statistics.mean(gaps),
                   gap_std=statistics.stdev(gaps) if len(gaps) > 1 else 0.0,
                   spoof_above_live=sum(g > 0 for g in gaps))
    print(f'gap spoof - live over {len(gaps)} checkpoint(s): '
          f'{summary["gap_mean"]:+.3e} +- {summary["gap_std"]:.3e}; '
          f'spoof above live in {summary["spoof_above_live"]} of '
          f'{len(gaps)}')
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(osp.join(args.out, 'cue_maps.json'), 'w') as f:
            json.dump(summary, f, indent=1)
        np.savez(osp.join(args.out, 'mean_maps.npz'), **{
            f'{i}_{g}': m for i, d in enumerate(mean_maps)
            for g, m in d.items()})
        if _plot(osp.join(args.out, 'mean_maps.png'), mean_maps):
            print(f'wrote {args.out}/mean_maps.png')
        print(f'wrote {args.out}/cue_maps.json and mean_maps.npz')
    return summary


if __name__ == '__main__':
    main()
