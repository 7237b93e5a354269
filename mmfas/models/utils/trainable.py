"""Checkpoints that hold only what a method trains.

A frozen-CLIP method (prompt learning, adapters) trains a few thousand
parameters next to ~150 M frozen ones. :func:`trainable_state_dict` drops the
frozen parameters (``requires_grad=False``) and keeps everything else
(trainable parameters and persistent buffers, e.g. EMA prototypes).

:func:`enable_trainable_checkpoint` makes a module do that by itself, through
PyTorch's state-dict hooks, which both ``torch.nn.Module.state_dict`` /
``load_state_dict`` and mmengine's ``get_state_dict`` / ``load_state_dict``
(Runner checkpoints, ``load_from``, resume) honour:

* saving omits the frozen parameters;
* loading fills in a frozen parameter that the file lacks with its current
  value (the pretrained weights loaded at construction), so a
  trainable-only checkpoint loads strictly; a *trainable* parameter missing
  from the file, or an unexpected key, is still an error under ``strict``.

Which parameters count as frozen is read when saving or loading, so set the
freezing policy before building the Runner.
"""
from collections import OrderedDict
from typing import Dict, List

import torch
from torch import nn

__all__ = [
    'trainable_state_dict', 'frozen_parameter_names',
    'enable_trainable_checkpoint'
]


def frozen_parameter_names(module: nn.Module) -> List[str]:
    """Names (as in ``module.state_dict()``) of parameters that do not
    require grad."""
    return [n for n, p in module.named_parameters() if not p.requires_grad]


def trainable_state_dict(module: nn.Module,
                         keep_vars: bool = False) -> Dict[str, torch.Tensor]:
    """``module.state_dict()`` without its frozen parameters."""
    frozen = set(frozen_parameter_names(module))
    return OrderedDict((k, v) for k, v in module.state_dict(
        keep_vars=keep_vars).items() if k not in frozen)


def _drop_frozen_hook(module, state_dict, prefix, local_metadata):
    for name in frozen_parameter_names(module):
        state_dict.pop(prefix + name, None)
    return state_dict


def _fill_frozen_pre_hook(module, state_dict, prefix, local_metadata, strict,
                          missing_keys, unexpected_keys, error_msgs):
    # Runs before the module's own parameters are loaded, and the children
    # are loaded from this same dict afterwards, so filling here covers the
    # whole subtree.
    for name, param in module.named_parameters():
        if not param.requires_grad and prefix + name not in state_dict:
            state_dict[prefix + name] = param.detach()


def enable_trainable_checkpoint(module: nn.Module) -> nn.Module:
    """Make ``module``'s state dicts hold only its trainable part (see the
    module docstring). Idempotent; returns ``module``."""
    if getattr(module, '_mmfas_trainable_checkpoint', False):
        return module
    module._register_state_dict_hook(_drop_frozen_hook)
    module._register_load_state_dict_pre_hook(_fill_frozen_pre_hook,
                                              with_module=True)
    module._mmfas_trainable_checkpoint = True
    return module
