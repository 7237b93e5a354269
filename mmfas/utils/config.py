"""Config fixes shared by ``tools/train.py`` and ``tools/test.py``."""
import os.path as osp

from mmengine.config import Config

DATALOADER_FIELDS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def fix_dataloader_cfg(cfg: Config,
                       pin_memory: bool = None,
                       persistent_workers: bool = None) -> Config:
    """Give every dataloader a valid ``persistent_workers``/``pin_memory``.

    mmpretrain's tools force ``persistent_workers=True``, which PyTorch
    rejects when ``num_workers=0``. Here ``persistent_workers`` defaults to
    True only when the loader has workers, and is switched off (with no
    error) when it has none.
    """
    for field in DATALOADER_FIELDS:
        loader = cfg.get(field, None)
        if loader is None:
            continue
        workers = loader.get('num_workers', 0)
        if persistent_workers is not None:
            loader['persistent_workers'] = persistent_workers
        else:
            loader.setdefault('persistent_workers', workers > 0)
        if workers == 0:
            loader['persistent_workers'] = False
        if pin_memory is not None:
            loader['pin_memory'] = pin_memory
    return cfg


def set_amp(cfg: Config) -> Config:
    """Turn on mixed precision: ``AmpOptimWrapper`` (fp16, dynamic loss
    scaling) on GPUs, :class:`~mmfas.engine.BF16AmpOptimWrapper` (bfloat16
    autocast) on machines without CUDA, where mmengine's wrapper refuses to
    build."""
    import torch
    optim = cfg.get('optim_wrapper', None)
    if optim is None:
        raise KeyError('--amp needs an "optim_wrapper" in the config')
    if optim.get('type', 'OptimWrapper') in ('AmpOptimWrapper',
                                             'BF16AmpOptimWrapper'):
        return cfg
    if torch.cuda.is_available():
        optim['type'] = 'AmpOptimWrapper'
        optim.setdefault('loss_scale', 'dynamic')
    else:
        optim['type'] = 'BF16AmpOptimWrapper'
    return cfg


def set_work_dir(cfg: Config, work_dir, config_path: str) -> Config:
    """``--work-dir`` wins, then the config's ``work_dir``, then
    ``./work_dirs/<config name>`` (mmpretrain's convention)."""
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(config_path))[0])
    return cfg
