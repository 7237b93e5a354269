"""Evaluate saved scores again, without the model.

    python tools/analysis_tools/eval_scores.py SCORES.csv \\
        [--threshold-policy val|test_eer|fixed] [--threshold T] \\
        [--val-target eer|apcer=0.05|bpcer=0.01] [--level video|frame] \\
        [--iso [--bootstrap N] [--seed S]] [--out metrics.json]

``SCORES.csv`` is a file :class:`~mmfas.evaluation.FASMetric` wrote next to
a run's log (:mod:`mmfas.evaluation.score_files`):

* ``fas_scores_<prefix>_<ckpt>.csv``: the rows the run evaluated (one per
  video for a video-level run). Without ``--level`` they are evaluated as
  they are: with the run's policy this reproduces the run's metrics
  exactly (``tools/test.py``'s JSON / log).
* ``fas_frames_<prefix>_<ckpt>.csv``: every frame score; ``--level video``
  (default) averages them per video as the metric does, ``--level frame``
  scores frames. ``--level`` on a scores file reads the frames file next to
  it.

The threshold policy is not stored in the files: give the run's
(``--threshold-policy``; default ``val``, the configs' default) to reproduce
it, or another one to see the run under it. ``--threshold T`` implies
``fixed``. Keys are printed (and written with ``--out``) as
``<prefix>/<key>`` like the run's JSON (``--prefix``, default ``fas``).
"""
import argparse
import json
import os
import os.path as osp
import sys
import warnings

from mmfas.evaluation.iso import OperatingPointWarning
from mmfas.evaluation.score_files import evaluate_score_file, parse_target


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Re-run FASMetric on a saved score file')
    parser.add_argument('scores', help='fas_scores_*.csv or '
                        'fas_frames_*.csv written by a test run')
    parser.add_argument('--threshold-policy',
                        choices=['val', 'test_eer', 'fixed'],
                        help="threshold policy (default: 'val', or 'fixed' "
                        'with --threshold)')
    parser.add_argument('--threshold', type=float,
                        help='threshold in [0, 1] for the fixed policy '
                        '(implies it)')
    parser.add_argument('--val-target', default='eer',
                        help="where the 'val' policy puts the threshold on "
                        "the validation rows: 'eer' (default), "
                        "'apcer=RATE' or 'bpcer=RATE'")
    parser.add_argument('--level', choices=['video', 'frame'],
                        help='re-aggregate the frame scores at this level '
                        '(needs the fas_frames_*.csv file; default: the '
                        "file's rows as evaluated by the run)")
    parser.add_argument('--modality',
                        help='frames file only: evaluate one modality')
    parser.add_argument('--tpr-at-fpr', type=float, nargs='+',
                        default=[1e-2, 1e-3, 1e-4],
                        help='FPRs of the TPR@FPR keys')
    parser.add_argument('--bpcer-at-apcer', type=float, nargs='+',
                        default=[0.05], help='APCERs of the BPCER@APCER keys')
    parser.add_argument('--iso', action='store_true',
                        help='ISO/IEC 30107-3 report (FASMetric iso=True)')
    parser.add_argument('--bootstrap', type=int,
                        help='--iso: bootstrap resamples (default 1000)')
    parser.add_argument('--seed', type=int,
                        help='--iso: bootstrap seed (default 0)')
    parser.add_argument('--prefix', default='fas',
                        help="key prefix, as the run's (default: fas)")
    parser.add_argument('--out', help='write the metrics to this .json')
    args = parser.parse_args(argv)
    if (args.bootstrap is not None or args.seed is not None) \
            and not args.iso:
        parser.error('--bootstrap / --seed belong to --iso')
    return args


def metric_kwargs(args) -> dict:
    """FASMetric.calculate's options from the command line."""
    policy, thr = args.threshold_policy, args.threshold
    if thr is not None:
        if policy not in (None, 'fixed'):
            raise ValueError('--threshold is only used by --threshold-'
                             f'policy fixed, got --threshold-policy {policy}')
        policy = 'fixed'
    elif policy == 'fixed':
        raise ValueError('--threshold-policy fixed needs --threshold')
    kwargs = dict(
        threshold_policy=policy or 'val',
        threshold=thr,
        tpr_at_fpr=tuple(args.tpr_at_fpr),
        bpcer_at_apcer=tuple(args.bpcer_at_apcer))
    if kwargs['threshold_policy'] == 'val':
        kwargs['val_target'] = parse_target(args.val_target, '--val-target')
    if args.iso:
        iso = {}
        if args.bootstrap is not None:
            iso['bootstrap'] = args.bootstrap
        if args.seed is not None:
            iso['seed'] = args.seed
        kwargs['iso'] = iso or True
    return kwargs


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        with warnings.catch_warnings():
            # printed below as WARNING lines
            warnings.simplefilter('ignore', OperatingPointWarning)
            metrics, details = evaluate_score_file(
                args.scores, level=args.level, modality=args.modality,
                return_details=True, **metric_kwargs(args))
    except (ValueError, FileNotFoundError) as e:
        sys.exit(f'eval_scores.py: {e}')
    prefix = args.prefix.rstrip('/')
    out = {f'{prefix}/{k}' if prefix else k: v for k, v in metrics.items()}
    print(f'{details["source"]} ({details["unit"]}): {details["message"]}')
    if details.get('iso_message'):
        print(details['iso_message'])
    for note in details.get('operating_point_notes', ()):
        print(f'WARNING: {note}')
    width = max(len(k) for k in out)
    for k, v in out.items():
        print(f'{k:<{width}}  {v!r}')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=1)
        print(f'wrote {args.out}')
    return out


if __name__ == '__main__':
    main()
