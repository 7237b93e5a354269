"""Time the FAS metric on random scores.

Example:
    python tools/analysis_tools/benchmark_metric.py --num 1000000
"""
import argparse
import time

import numpy as np

from mmfas.evaluation import FASMetric
from mmfas.evaluation import functional as F


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--num', type=int, default=1_000_000, help='number of frame scores')
    parser.add_argument('--frames-per-video', type=int, default=2)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()


def best_of(repeat, fn):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.num
    labels = rng.integers(0, 2, n)
    # float32-rounded softmax outputs: many ties, as from a real model
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0,
                     1).astype(np.float32).astype(np.float64)
    types = np.where(labels == 1, 'none',
                     rng.choice(['print', 'replay', 'mask'], n))
    roles = np.where(rng.random(n) < 0.3, 'val', 'test')

    def functional_pipeline():
        roc = F.BinaryROC(scores, labels, 1, types)
        roc.auc()
        _, thr = roc.eer()
        roc.tpr_at_fpr((1e-2, 1e-3, 1e-4))
        roc.bpcer_at_apcer(0.05)
        F.error_rates(scores, labels, thr, types)

    print(f'functional pipeline, {n} scores: '
          f'{best_of(args.repeat, functional_pipeline):.3f} s')
    frame = best_of(
        args.repeat, lambda: FASMetric.calculate(
            scores,
            labels,
            attack_types=types,
            eval_roles=roles,
            level='frame'))
    print(f'FASMetric.calculate level=frame, {n} frames: {frame:.3f} s')
    # each video id is built by integer division; ids are strings in practice
    vids = (np.arange(n) // args.frames_per_video).astype(str)
    labels_v = labels[np.arange(n) // args.frames_per_video *
                      args.frames_per_video]
    types_v = types[np.arange(n) // args.frames_per_video *
                    args.frames_per_video]
    roles_v = roles[np.arange(n) // args.frames_per_video *
                    args.frames_per_video]
    video = best_of(
        args.repeat, lambda: FASMetric.calculate(
            scores,
            labels_v,
            video_ids=vids,
            attack_types=types_v,
            eval_roles=roles_v,
            level='video'))
    print(f'FASMetric.calculate level=video, {n} frames '
          f'({n // args.frames_per_video} videos): {video:.3f} s')


if __name__ == '__main__':
    main()
