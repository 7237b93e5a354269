"""Plot a test run's scores: ROC, DET, score histograms, APCER per attack.

    python tools/analysis_tools/plot_results.py WORK_DIR [WORK_DIR ...]
        [--out-dir DIR] [--pattern 'fas_scores_*best*.csv'] [--threshold T]

Reads every ``fas_scores_*.csv`` (written by ``tools/test.py`` and
``tools/train.py --test`` into ``WORK_DIR/<timestamp>/``) under the given
work dirs (a multi-seed work dir holds one per seed and checkpoint) and
writes, per CSV, ``plot_<name>_{roc,det,hist,apcer}.png`` next to it (or
into ``--out-dir``); with several CSVs also ``compare_roc.png`` and
``compare_det.png`` with every curve overlaid (into ``--out-dir``, else the
first work dir). The threshold marked is the one the run used, read from
its log (see :mod:`mmfas.visualization.score_plots`); ``--threshold``
marks another. Needs matplotlib (``pip install matplotlib``).
"""
import argparse
import sys

from mmfas.visualization import plot_results
from mmfas.visualization.score_plots import SCORES_GLOB


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Plot ROC / DET / histograms / APCER per attack type '
        "from a test run's fas_scores_*.csv files")
    p.add_argument('work_dirs', nargs='+', metavar='WORK_DIR',
                   help='work dirs, log dirs or fas_scores_*.csv files')
    p.add_argument('--out-dir', default=None,
                   help='where to write the PNGs (default: next to each '
                   'CSV; overlays in the first WORK_DIR)')
    p.add_argument('--pattern', default=SCORES_GLOB,
                   help='file name glob of the score CSVs (default '
                   f'{SCORES_GLOB!r})')
    p.add_argument('--threshold', type=float, default=None,
                   help="mark this threshold instead of the run's own")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    files = plot_results(args.work_dirs, out_dir=args.out_dir,
                         pattern=args.pattern, threshold=args.threshold)
    print(f'wrote {len(files)} PNG files')
    return files


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, ImportError) as e:
        sys.exit(f'plot_results: {e}')
