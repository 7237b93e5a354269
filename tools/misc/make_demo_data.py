"""Generate the synthetic multi-domain FAS demo dataset (mmfas' default data).

The data is SYNTHETIC: procedurally drawn faces with print / replay / mask
attacks and partial-occlusion attacks at named regions (with their region
masks), seen by four simulated cameras (domains DemoA-DemoD); every frame
carries captions. See
``mmfas/datasets/demo_data.py`` and the README.md written into the output.

Idempotent: if ``--out`` already holds a complete demo dataset made with the
same settings (``demo_meta.json``), nothing is done unless ``--force``.

Example::

    python tools/misc/make_demo_data.py --out data/demo
    python tools/misc/make_demo_data.py --out data/demo_mm \\
        --modalities rgb depth ir
"""
import argparse
import os.path as osp
import sys
import time

from mmfas.datasets.demo_data import (DEMO_ATTACK_TYPES, DEMO_DOMAINS,
                                      DEMO_MODALITIES, format_summary,
                                      is_demo_dataset_complete,
                                      load_demo_meta, make_demo_dataset)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Generate the synthetic multi-domain face anti-spoofing '
        'demo dataset (procedurally drawn faces, not real people).')
    p.add_argument('--out', default='data/demo',
                   help='output folder = data_root (default: data/demo)')
    p.add_argument('--seed', type=int, default=0, help='random seed')
    p.add_argument('--subjects', type=int, default=50,
                   help='subjects per domain (>= 3; default: 50)')
    p.add_argument('--frames-per-video', type=int, default=2,
                   help='frames per video (default: 2)')
    p.add_argument('--live-videos', type=int, default=2,
                   help='live videos per subject (default: 2)')
    p.add_argument('--attack-videos', type=int, default=1,
                   help='videos per subject and attack type (default: 1)')
    p.add_argument('--attack-types', nargs='+', default=list(DEMO_ATTACK_TYPES),
                   choices=DEMO_ATTACK_TYPES, help='attack types to make')
    p.add_argument('--domains', nargs='+', default=list(DEMO_DOMAINS),
                   choices=DEMO_DOMAINS, help='camera domains to make')
    p.add_argument('--modalities', nargs='+', default=['rgb'],
                   choices=DEMO_MODALITIES,
                   help='image modalities (default: rgb)')
    p.add_argument('--workers', type=int, default=None,
                   help='worker processes (default: number of CPUs, max 8; '
                   '0 = in this process)')
    p.add_argument('--force', action='store_true',
                   help='regenerate even if the output is up to date')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = dict(num_subjects=args.subjects,
                    frames_per_video=args.frames_per_video,
                    live_videos_per_subject=args.live_videos,
                    attack_videos_per_type=args.attack_videos,
                    attack_types=args.attack_types, domains=args.domains,
                    modalities=args.modalities, seed=args.seed)
    if not args.force and is_demo_dataset_complete(args.out, **settings):
        meta = load_demo_meta(args.out)
        print(f'{args.out}: synthetic demo dataset already up to date '
              f'(same settings, see {osp.join(args.out, "demo_meta.json")}); '
              'nothing to do (use --force to regenerate).')
        print(format_summary(meta['summary']))
        return 0
    t0 = time.time()
    try:
        summary = make_demo_dataset(args.out, num_workers=args.workers,
                                    **settings)
    except (ValueError, FileExistsError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'Wrote the SYNTHETIC demo dataset to {args.out} '
          f'in {time.time() - t0:.1f}s:')
    print(format_summary(summary))
    print('annotation files (relative to data_root): ' +
          ', '.join(summary['ann_files'] + summary['partial_ann_files']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
