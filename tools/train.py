"""Train a model: ``python tools/train.py CONFIG [--work-dir DIR] [--amp] ...``

Multi-GPU / multi-node / CPU multi-process: ``bash tools/dist_train.sh CONFIG N``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.runner import Runner

from mmfas.evaluation import checkpoint_tag, set_file_tag
from mmfas.utils import (fix_dataloader_cfg, prepare_launcher,
                         register_all_modules, set_amp,
                         set_work_dir)
from mmfas.utils.config import (enable_auto_scale_lr, load_config,
                                merge_data_preprocessor)


def parse_args():
    parser = argparse.ArgumentParser(description='Train an mmfas model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or without a value from the '
        'latest checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true',
                        help='automatic mixed precision (bf16 on CPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='do not evaluate checkpoints during training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual total batch size '
                        '(devices x batch_size) / auto_scale_lr.base_batch_'
                        'size of the config (the batch its lr was set for)')
    parser.add_argument('--seed', type=int, default=None,
                        help='random seed (overrides randomness.seed)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic cuDNN / algorithms')
    parser.add_argument(
        '--test', action='store_true',
        help='after training, test the last and the best-by-source-val '
        'checkpoints with the test dataloader and evaluator (score / ROC '
        'files named by checkpoint)')
    parser.add_argument('--no-pin-memory', action='store_true',
                        help='pin_memory=False in every dataloader')
    parser.add_argument('--no-persistent-workers', action='store_true',
                        help='persistent_workers=False in every dataloader '
                        '(default: True where num_workers > 0)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value (e.g. '
        'train_dataloader.batch_size=8)')
    parser.add_argument('--launcher',
                        choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help='set by torch.distributed launchers; the '
                        'LOCAL_RANK environment variable wins')
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def merge_args(cfg, args):
    if args.no_validate:
        cfg.val_cfg = None
        cfg.val_dataloader = None
        cfg.val_evaluator = None
    set_work_dir(cfg, args.work_dir, args.config)
    if args.amp:
        set_amp(cfg)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        enable_auto_scale_lr(cfg)
    if args.seed is not None or args.deterministic:
        randomness = cfg.setdefault('randomness', {})
        if args.seed is not None:
            randomness['seed'] = args.seed
        if args.deterministic:
            randomness['deterministic'] = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    fix_dataloader_cfg(
        cfg,
        pin_memory=False if args.no_pin_memory else None,
        persistent_workers=False if args.no_persistent_workers else None)
    prepare_launcher(cfg, args.launcher)
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    cfg = merge_data_preprocessor(merge_args(cfg, args))
    runner = Runner.from_cfg(cfg)
    runner.train()
    if args.test:
        test_last_and_best(runner)


def test_last_and_best(runner):
    """Test the final weights, then the checkpoint the CheckpointHook chose
    on the source validation split (never on the target test set)."""
    if runner.cfg.get('test_dataloader') is None:
        raise ValueError('--test needs test_dataloader/test_evaluator in '
                         'the config')
    # each test names its score / ROC files by its checkpoint, so the
    # second test does not overwrite the first one's
    evaluator = runner.test_loop.evaluator
    last = runner.message_hub.get_info('last_ckpt')
    names = (f'iter_{runner.iter}.pth', f'epoch_{runner.epoch}.pth')
    last_tag = (checkpoint_tag(last)
                if last and osp.basename(last) in names else
                f'iter_{runner.iter}')
    runner.logger.info('Testing the LAST checkpoint')
    set_file_tag(evaluator, last_tag)
    runner.test()
    best = runner.message_hub.get_info('best_ckpt')
    if best and osp.isfile(best):
        runner.logger.info(f'Testing the BEST-by-source-val checkpoint '
                           f'{best}')
        runner.load_checkpoint(best)
        set_file_tag(evaluator, checkpoint_tag(best))
        runner.test()


if __name__ == '__main__':
    main()
