"""The staged training step: every optimisation stage of a model runs once
per iteration, in order, each with its own forward, loss, backward and
optimizer step (``docs/staged_training.md``).

During a stage the parameters of the other stages are switched off
(``requires_grad=False``, ``temporarily_frozen`` in
:mod:`mmfas.models.utils.trainable`), so the stage's backward computes no
gradient for them: they end the stage with ``grad is None`` and their
optimizers (Adam moments, weight decay) never see them. The stage's own gradients are freed by its optimizer's
``zero_grad`` (``set_to_none``) after its step.
"""
from collections import OrderedDict
from typing import Dict, Optional, Union

import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapperDict
from torch import nn

from .optimizers.staged_constructor import stage_parameters

__all__ = ['staged_train_step', 'is_staged_optim_wrapper_cfg',
           'use_staged_model_wrapper']


def staged_train_step(model: nn.Module, data: Union[dict, tuple, list],
                      optim_wrapper: OptimWrapperDict,
                      caller: Optional[nn.Module] = None
                      ) -> Dict[str, torch.Tensor]:
    """Run every stage of ``model`` once on ``data``.

    Args:
        model (nn.Module): The model (unwrapped), with ``train_stages()``,
            ``data_preprocessor`` and ``parse_losses``; ``forward(...,
            mode='loss', stage=name)`` returns the stage's losses.
        data: A batch from the dataloader (preprocessed once, shared by
            the stages).
        optim_wrapper (OptimWrapperDict): One optim wrapper per stage, in
            run order (:class:`StagedOptimWrapperConstructor`).
        caller (nn.Module, optional): What runs the forward: a DDP wrapper
            of ``model`` (so gradients are synchronised), else ``model``.

    Returns:
        dict: Every stage's log variables, named ``'<stage>.<name>'``, and
        ``'loss'``, the sum of the stages' total losses.
    """
    from mmfas.models.utils.trainable import temporarily_frozen
    caller = model if caller is None else caller
    declared = model.train_stages() if hasattr(model, 'train_stages') \
        else None
    if not declared or set(declared) != set(optim_wrapper.keys()):
        raise ValueError(
            f'{type(model).__name__} declares the stages '
            f'{list(declared or [])} but the optim wrapper has '
            f'{list(optim_wrapper.keys())}: build it with '
            "optim_wrapper=dict(constructor='StagedOptimWrapperConstructor', "
            '...)')
    owned = stage_parameters(optim_wrapper)
    data = model.data_preprocessor(data, True)
    log_vars = OrderedDict(loss=0.)
    for stage, wrapper in optim_wrapper.items():
        others = [p for name, params in owned.items() if name != stage
                  for p in params]
        with temporarily_frozen(others):
            with wrapper.optim_context(caller):
                if isinstance(data, dict):
                    losses = caller(**data, mode='loss', stage=stage)
                elif isinstance(data, (list, tuple)):
                    losses = caller(*data, mode='loss', stage=stage)
                else:
                    raise TypeError('the data preprocessor must return a '
                                    f'dict, list or tuple, got {type(data)}')
            parsed, stage_vars = model.parse_losses(losses)
            wrapper.update_params(parsed)
        log_vars['loss'] = log_vars['loss'] + stage_vars['loss'].detach()
        for key, value in stage_vars.items():
            log_vars[f'{stage}.{key}'] = value.detach()
    return log_vars


def is_staged_optim_wrapper_cfg(cfg: Config) -> bool:
    """Whether ``cfg.optim_wrapper`` uses
    :class:`StagedOptimWrapperConstructor`."""
    optim = cfg.get('optim_wrapper', None) or {}
    constructor = optim.get('constructor', None) if isinstance(
        optim, dict) else None
    if isinstance(constructor, type):
        constructor = constructor.__name__
    return isinstance(constructor, str) and constructor.split(
        '.')[-1] == 'StagedOptimWrapperConstructor'


def use_staged_model_wrapper(cfg: Config) -> Config:
    """For distributed runs of a staged config, wrap the model with
    :class:`~mmfas.engine.StagedDistributedDataParallel` (mmengine's DDP
    wrapper runs a single loss per iteration). A config that names its own
    ``model_wrapper_cfg`` is left alone."""
    if is_staged_optim_wrapper_cfg(cfg) and not cfg.get(
            'model_wrapper_cfg', None):
        cfg.model_wrapper_cfg = dict(type='StagedDistributedDataParallel',
                                     broadcast_buffers=False,
                                     find_unused_parameters=True)
    return cfg
