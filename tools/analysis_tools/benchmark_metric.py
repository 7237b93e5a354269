"""Time the FAS metric on random scores against scikit-learn.

The reference is scikit-learn's ``roc_auc_score + roc_curve`` on the same
scores and labels (AUC and the curve only, no EER, threshold or APCER). Each
case is run once to warm up, then ``--repeat`` times alternating with the
reference on the same inputs; the script prints the median times and the
median of the paired ratios ``reference / case`` (> 1: mmfas is faster).

Cases, all on ``--num`` frame scores with attack types:

- ``calculate frame``: ``FASMetric.calculate(level='frame',
  threshold_policy='test_eer')``: every score in one split, exactly the
  reference's input (the headline number);
- ``calculate frame val/test``: the default ``threshold_policy='val'`` with
  30 % of the frames in the source validation split;
- ``calculate video``: ``level='video'`` with ``--frames-per-video`` frames a
  video (string video ids), so video aggregation is included;
- ``BinaryROC``: the functional API, one ROC serving AUC, EER, TPR@FPR,
  BPCER@APCER and the error rates per attack type at the EER threshold.

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
    parser.add_argument('--frames-per-video', type=int, default=2,
                        help='frames per video id of the synthetic scores')
    parser.add_argument(
        '--repeat', type=int, default=7, help='timed runs of each case')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the synthetic scores')
    parser.add_argument(
        '--cases',
        nargs='+',
        default=['frame', 'val', 'video', 'functional'],
        choices=['frame', 'val', 'video', 'functional'],
        help='which cases to time (default: all)')
    parser.add_argument(
        '--min-ratio',
        type=float,
        default=None,
        help='exit with status 1 if the headline (first) case is not this '
        'many times faster than scikit-learn')
    return parser.parse_args()


def make_data(n, frames_per_video, seed):
    """Scores like a model's: float32 softmax outputs (many ties), labels
    constant per video, three attack types, 30 % of the videos in the
    validation split."""
    rng = np.random.default_rng(seed)
    num_videos = -(-n // frames_per_video)
    video = np.arange(n) // frames_per_video
    labels = rng.integers(0, 2, num_videos)[video]
    scores = np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0,
                     1).astype(np.float32).astype(np.float64)
    types = np.where(labels == 1, 'none',
                     rng.choice(['print', 'replay', 'mask'],
                                num_videos)[video])
    roles = np.where(rng.random(num_videos) < 0.3, 'val', 'test')[video]
    return dict(
        scores=scores,
        labels=labels,
        types=types,
        roles=roles,
        video_ids=video.astype(str))


def paired(repeat, reference, case):
    """Warm both up, then alternate them ``repeat`` times. Returns the
    median times and the median of the per-pair ratios."""
    reference(), case()
    ref_times, times = [], []
    for _ in range(repeat):
        for fn, out in ((reference, ref_times), (case, times)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    ratios = np.asarray(ref_times) / np.asarray(times)
    return np.median(ref_times), np.median(times), np.median(ratios)


def main():
    args = parse_args()
    try:
        from sklearn.metrics import roc_auc_score, roc_curve
    except ImportError as e:
        raise SystemExit('benchmark_metric.py compares with scikit-learn: '
                         f'pip install scikit-learn ({e})')
    d = make_data(args.num, args.frames_per_video, args.seed)
    scores, labels, types = d['scores'], d['labels'], d['types']
    n = args.num

    def sklearn_pair():
        roc_auc_score(labels, scores)
        roc_curve(labels, scores)

    def functional():
        roc = F.BinaryROC(scores, labels, 1, types)
        roc.auc()
        _, thr = roc.eer()
        roc.tpr_at_fpr((1e-2, 1e-3, 1e-4))
        roc.bpcer_at_apcer(0.05)
        roc.error_rates(thr)

    cases = dict(
        frame=('calculate frame (test_eer, one split)',
               lambda: FASMetric.calculate(
                   scores,
                   labels,
                   attack_types=types,
                   level='frame',
                   threshold_policy='test_eer')),
        val=('calculate frame val/test (policy val)',
             lambda: FASMetric.calculate(
                 scores,
                 labels,
                 attack_types=types,
                 eval_roles=d['roles'],
                 level='frame')),
        video=(f'calculate video ({-(-n // args.frames_per_video)} videos)',
               lambda: FASMetric.calculate(
                   scores,
                   labels,
                   video_ids=d['video_ids'],
                   attack_types=types,
                   eval_roles=d['roles'],
                   level='video')),
        functional=('BinaryROC (AUC, EER, TPR@FPR, BPCER@APCER, rates)',
                    functional))

    print(f'{n} frame scores, {len(np.unique(scores))} distinct; reference: '
          'sklearn roc_auc_score + roc_curve on the same scores; '
          f'median of {args.repeat} paired runs after a warm-up')
    print(f'{"case":52s} {"sklearn s":>10s} {"mmfas s":>10s} {"ratio":>7s}')
    headline = None
    for key in args.cases:
        name, fn = cases[key]
        ref_t, t, ratio = paired(args.repeat, sklearn_pair, fn)
        headline = ratio if headline is None else headline
        print(f'{name:52s} {ref_t:10.3f} {t:10.3f} {ratio:6.2f}x')
    if args.min_ratio is not None and headline < args.min_ratio:
        raise SystemExit(f'{args.cases[0]}: {headline:.2f}x is below '
                         f'--min-ratio {args.min_ratio}')


if __name__ == '__main__':
    main()
