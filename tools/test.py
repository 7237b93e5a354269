"""Test a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR]``

The metric's threshold policy comes from the config (``test_evaluator``);
``--threshold-policy`` overrides it (``val`` = honest default, ``test_eer`` =
legacy, ``fixed`` with ``--threshold``). A deployment checkpoint
(``tools/misc/export_deploy_checkpoint.py``, ``meta['fas_threshold']``) is
tested at its own threshold with policy ``fixed`` (logged as such) unless
``--threshold-policy`` / ``--threshold`` say otherwise.

``--plot`` draws the ROC / DET curves, score histograms and APCER per
attack type of the score CSVs next to them
(:func:`mmfas.visualization.plot_results`; matplotlib).

``--out preds.pkl`` dumps every data sample with ``pred_label`` decided by
the score rule at the threshold the metric used (``live_score >=
threshold``, :class:`~mmfas.evaluation.FASMetric` ``out_file_path``). The
score / ROC CSV files are named by the checkpoint
(``fas_scores_fas_<checkpoint>.csv``).

The checkpoint (a local path or a URL, both loaded with ``weights_only``) is
loaded strictly (:class:`~mmfas.engine.runner.FASRunner`): a key the model
lacks or a model key the checkpoint lacks is an error naming them, except the
frozen pretrained weights a trainable-only checkpoint omits.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.dist import is_main_process
from mmengine.model import is_model_wrapper

from mmfas.engine.runner import FASRunner
from mmfas.evaluation import checkpoint_tag, set_file_tag
from mmfas.structures import score_rule
from mmfas.utils import (fix_dataloader_cfg, prepare_launcher,
                         register_all_modules, safe_torch_load,
                         set_work_dir)
from mmfas.utils.config import load_config, merge_data_preprocessor


def parse_args():
    parser = argparse.ArgumentParser(description='Test an mmfas model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='dir for logs, scores and ROC')
    parser.add_argument('--out', help='dump the predictions (.pkl), '
                        'pred_label = live_score >= the threshold the metric '
                        'used')
    parser.add_argument('--threshold-policy',
                        choices=['val', 'test_eer', 'fixed'],
                        help='override the metric threshold policy (default: '
                        "the config's, or fixed at a deployment checkpoint's "
                        "meta['fas_threshold'])")
    parser.add_argument('--threshold', type=float,
                        help='threshold in [0, 1] for --threshold-policy '
                        "fixed (implies it; default: the checkpoint's "
                        "meta['fas_threshold'])")
    parser.add_argument('--amp', action='store_true',
                        help='mixed precision inference (test_cfg.fp16)')
    parser.add_argument('--plot', action='store_true',
                        help='after the test, plot ROC / DET / score '
                        'histograms / APCER per attack next to the score '
                        'CSVs (needs matplotlib)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config settings, key=value')
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


def _evaluators(cfg):
    ev = cfg.test_evaluator
    return ev if isinstance(ev, (list, tuple)) else [ev]


def _is_fas_metric(ev) -> bool:
    t = ev.get('type') if isinstance(ev, dict) else None
    name = t if isinstance(t, str) else getattr(t, '__name__', '')
    return name.split('.')[-1] == 'FASMetric'


def read_deploy_threshold(checkpoint: str):
    """``meta['fas_threshold']`` of a (deployment) checkpoint, or None."""
    if osp.isfile(checkpoint):
        try:  # only the small meta is read: memory-map the tensors
            ckpt = safe_torch_load(checkpoint, map_location='cpu', mmap=True)
        except RuntimeError:  # a legacy (non-zip) file cannot be mapped
            ckpt = safe_torch_load(checkpoint, map_location='cpu')
    else:  # a URL: mmengine's loaders, made safe by mmfas (and cached)
        from mmengine.runner.checkpoint import CheckpointLoader
        ckpt = CheckpointLoader.load_checkpoint(checkpoint,
                                                map_location='cpu')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    thr = meta.get('fas_threshold') if isinstance(meta, dict) else None
    if thr is None:
        return None
    return score_rule.check_threshold(
        thr, f"meta['fas_threshold'] of {checkpoint}")


def resolve_threshold(args, deploy_threshold=None):
    """The test's ``(policy, threshold, note)`` from the flags and the
    checkpoint: explicit flags win, then a deployment checkpoint's
    threshold (policy ``fixed``), then the config (``(None, None, note)``).
    """
    policy, thr = args.threshold_policy, args.threshold
    if thr is not None:
        thr = score_rule.check_threshold(thr, '--threshold')
        if policy is None:
            policy = 'fixed'
        elif policy != 'fixed':
            raise ValueError(f'--threshold is only used by --threshold-'
                             f'policy fixed, got --threshold-policy {policy}')
    ckpt = f"the deployment checkpoint {args.checkpoint} (meta['fas_" \
        f"threshold']={deploy_threshold})"
    if deploy_threshold is None:
        if policy == 'fixed' and thr is None:
            raise ValueError(
                '--threshold-policy fixed needs --threshold: the checkpoint '
                f"{args.checkpoint} carries no meta['fas_threshold'] (write "
                'one with tools/misc/export_deploy_checkpoint.py)')
        note = None if policy is None else (
            f'threshold_policy={policy!r} from the command line' +
            (f' at threshold={thr}' if thr is not None else ''))
        return policy, thr, note
    if policy is None or (policy == 'fixed' and thr is None):
        return 'fixed', deploy_threshold, (
            f"threshold_policy='fixed' at threshold={deploy_threshold} "
            f'from {ckpt}')
    return policy, thr, (
        f'threshold_policy={policy!r}' +
        (f' at threshold={thr}' if thr is not None else '') +
        f' from the command line, overriding {ckpt}')


def merge_args(cfg, args, deploy_threshold=None):
    set_work_dir(cfg, args.work_dir, args.config)
    cfg.load_from = args.checkpoint
    # the checkpoint must match the model (FASRunner): a missing or
    # unexpected key is an error, except the frozen pretrained weights a
    # trainable-only checkpoint omits
    cfg.load_strict = True
    if args.amp:
        cfg.setdefault('test_cfg', {})['fp16'] = True
    policy, thr, note = resolve_threshold(args, deploy_threshold)
    fas_evs = [ev for ev in _evaluators(cfg) if _is_fas_metric(ev)]
    if policy is not None:
        for ev in fas_evs:
            ev['threshold_policy'] = policy
            if policy == 'fixed':
                ev['threshold'] = thr
                ev['threshold_origin'] = (
                    'the command line (--threshold)'
                    if args.threshold is not None else
                    "the deployment checkpoint's meta['fas_threshold'] "
                    f'({args.checkpoint})')
            else:
                ev.pop('threshold', None)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must end with .pkl, got {args.out}')
        if len(fas_evs) == 1:
            # the metric knows the threshold it uses: it dumps the samples
            # with pred_label decided at that threshold
            fas_evs[0]['out_file_path'] = args.out
        elif not fas_evs:
            evs = list(_evaluators(cfg))
            evs.append(dict(type='DumpResults', out_file_path=args.out))
            cfg.test_evaluator = evs
        else:
            raise ValueError(
                f'--out: the test evaluator has {len(fas_evs)} FASMetrics, '
                'each with its own threshold; set out_file_path on one of '
                'them with --cfg-options')
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    fix_dataloader_cfg(cfg)
    prepare_launcher(cfg, args.launcher)
    return cfg


def main():
    args = parse_args()
    if args.plot:  # fail before testing, with the install command
        from mmfas.visualization import require_matplotlib
        require_matplotlib()
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    deploy_threshold = read_deploy_threshold(args.checkpoint)
    policy, thr, note = resolve_threshold(args, deploy_threshold)
    cfg = merge_data_preprocessor(merge_args(cfg, args, deploy_threshold))
    runner = FASRunner.from_cfg(cfg)
    if note:
        runner.logger.info(f'Test threshold: {note}')
    if policy == 'fixed':
        # the model's own pred_label decides at the same threshold
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if hasattr(model, 'set_decision_threshold'):
            model.set_decision_threshold(thr)
    # name the score / ROC files by the tested checkpoint
    set_file_tag(runner.test_loop.evaluator, checkpoint_tag(args.checkpoint))
    runner.test()
    if args.plot and is_main_process():
        from mmfas.visualization import plot_results
        plot_results([runner.log_dir], logger=runner.logger.info)


if __name__ == '__main__':
    main()
