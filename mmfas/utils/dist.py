"""Launcher helpers that make mmengine's distributed paths work on CPU-only
machines as well as on GPUs."""
import os
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config, ConfigDict


def prepare_launcher(cfg: Config, launcher: str) -> Config:
    """Adjust ``cfg`` for ``launcher`` before the Runner is built.

    mmengine's ``_init_dist_pytorch`` calls ``torch.cuda.set_device``
    unconditionally and its default DDP wrapper passes
    ``device_ids=[LOCAL_RANK]``, so a ``torchrun`` launch dies on a machine
    without CUDA. When ``launcher='pytorch'`` and CUDA is absent we

    * initialise the process group ourselves with the ``gloo`` backend (the
      Runner then skips its own ``init_dist``), and
    * wrap the model with ``MMDistributedDataParallel(device_ids=None)``.

    On GPUs nothing changes (NCCL via mmengine, ``dist_cfg`` honoured).

    Args:
        cfg (Config): The full config; modified in place and returned.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    cfg.launcher = launcher
    if launcher != 'none':
        # staged models need a DDP wrapper that runs every stage
        from mmfas.engine.staged import use_staged_model_wrapper
        use_staged_model_wrapper(cfg)
    if launcher == 'none' or torch.cuda.is_available():
        return cfg
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel')
    wrapper.setdefault('device_ids', None)
    wrapper.setdefault('broadcast_buffers', False)
    if cfg.get('find_unused_parameters', False):
        wrapper.setdefault('find_unused_parameters', True)
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch' and not dist.is_initialized():
        for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
            if key not in os.environ:
                raise RuntimeError(
                    f'--launcher pytorch needs the environment variable '
                    f'{key} (set by torchrun / tools/dist_train.sh)')
        timeout = dist_cfg.get('timeout', 1800)
        dist.init_process_group(
            backend='gloo',
            rank=int(os.environ['RANK']),
            world_size=int(os.environ['WORLD_SIZE']),
            timeout=timedelta(seconds=timeout))
    return cfg
