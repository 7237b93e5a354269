"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]``

The metric's threshold policy comes from the config (``test_evaluator``);
``--threshold-policy`` overrides it (``val`` = honest default, ``test_eer`` =
legacy, ``fixed`` with ``--threshold``).
"""
import argparse
import os

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mmfas.utils import (fix_dataloader_cfg, prepare_launcher,
                         register_all_modules, set_work_dir)


def parse_args():
    parser = argparse.ArgumentParser(description='Test an mmfas model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir for logs, scores and ROC')
    parser.add_argument('--out', help='dump the raw predictions (.pkl)')
    parser.add_argument('--threshold-policy',
                        choices=['val', 'test_eer', 'fixed'],
                        help='override the metric threshold policy')
    parser.add_argument('--threshold', type=float,
                        help='threshold for --threshold-policy fixed')
    parser.add_argument('--amp', action='store_true')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def _evaluators(cfg):
    ev = cfg.test_evaluator
    return ev if isinstance(ev, (list, tuple)) else [ev]


def merge_args(cfg, args):
    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.setdefault('test_cfg', {})['fp16'] = True
    if args.threshold_policy is not None or args.threshold is not None:
        for ev in _evaluators(cfg):
            if args.threshold_policy is not None:
                ev['threshold_policy'] = args.threshold_policy
            if args.threshold is not None:
                ev['threshold'] = args.threshold
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl, got {args.out}')
        evs = list(_evaluators(cfg))
        evs.append(dict(type='DumpResults', out_file_path=args.out))
        cfg.test_evaluator = evs
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    fix_dataloader_cfg(cfg)
    prepare_launcher(cfg, args.launcher)
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(args.config)
    cfg = merge_args(cfg, args)
    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
