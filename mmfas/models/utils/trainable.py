"""Checkpoints that hold only what a method trains.

A frozen-CLIP method (prompt learning, adapters) trains a few thousand
parameters next to ~150 M frozen ones. :func:`trainable_state_dict` drops the
frozen parameters (``requires_grad=False``) and keeps everything else
(trainable parameters and persistent buffers, e.g. EMA prototypes).

:func:`enable_trainable_checkpoint` makes a module do that by itself, through
PyTorch's state-dict hooks, which both ``torch.nn.Module.state_dict`` /
``load_state_dict`` and mmengine's ``get_state_dict`` / ``load_state_dict``
(Runner checkpoints, ``load_from``, resume) honour:

* saving omits the frozen parameters that rebuilding the model gives back
  (the pretrained weights loaded at construction);
* loading fills in such a frozen parameter that the file lacks with its
  current value, so a trainable-only checkpoint loads strictly; a
  *trainable* parameter missing from the file, or an unexpected key, is
  still an error under ``strict``.

Frozen weights that were randomly initialised (a backbone built with
``pretrained=None`` records that with :func:`set_weights_source`) cannot be
rebuilt: every construction draws others. Trainable-only saving keeps them
in the checkpoint (logged once), so it stays self-contained, and loading a
file that lacks them raises an error naming them instead of silently
keeping another random draw (:func:`unrestorable_parameter_names`).
Parameters under no recorded source are assumed to be rebuilt identically.

Which parameters count as frozen is read when saving or loading, so set the
freezing policy before building the Runner. A parameter that a staged
training step switched off only for the other stage's forward
(:func:`temporarily_frozen`) is not frozen: the checkpoint keeps the union of
every stage's trainable parameters, whenever it is written.
"""
from collections import OrderedDict
from contextlib import contextmanager
from typing import Dict, Iterable, List, Optional

import torch
from torch import nn

__all__ = [
    'trainable_state_dict', 'frozen_parameter_names',
    'enable_trainable_checkpoint', 'is_frozen', 'temporarily_frozen'
]

# set on a parameter while temporarily_frozen() has switched it off
_SUSPENDED = '_mmfas_stage_suspended'


def is_frozen(param: nn.Parameter) -> bool:
    """Whether ``param`` is frozen: it does not require grad and was not
    switched off for a moment by :func:`temporarily_frozen`."""
    return not param.requires_grad and not getattr(param, _SUSPENDED, False)


@contextmanager
def temporarily_frozen(params: Iterable[nn.Parameter]):
    """Set ``requires_grad=False`` on ``params`` inside the block (no
    gradient is computed for them) and restore it afterwards, even on an
    error. Staged training uses it for the parameters of the stages that
    are not running; checkpoints written meanwhile still hold them
    (:func:`is_frozen`)."""
    params = [p for p in params if p.requires_grad]
    for p in params:
        setattr(p, _SUSPENDED, True)
        p.requires_grad_(False)
    try:
        yield params
    finally:
        for p in params:
            p.requires_grad_(True)
            delattr(p, _SUSPENDED)


def frozen_parameter_names(module: nn.Module) -> List[str]:
    """Names (as in ``module.state_dict()``) of the frozen parameters
    (:func:`is_frozen`)."""
    return [n for n, p in module.named_parameters() if is_frozen(p)]


def trainable_state_dict(module: nn.Module,
                         keep_vars: bool = False) -> Dict[str, torch.Tensor]:
    """``module.state_dict()`` without its frozen parameters."""
    frozen = set(droppable_frozen_names(module))
    return OrderedDict((k, v) for k, v in module.state_dict(
        keep_vars=keep_vars).items() if k not in frozen)


def _drop_frozen_hook(module, state_dict, prefix, local_metadata):
    for name in droppable_frozen_names(module):
        state_dict.pop(prefix + name, None)
    return state_dict


def _fill_frozen_pre_hook(module, state_dict, prefix, local_metadata, strict,
                          missing_keys, unexpected_keys, error_msgs):
    # Runs before the module's own parameters are loaded, and the children
    # are loaded from this same dict afterwards, so filling here covers the
    # whole subtree. Only frozen weights the model rebuilds (pretrained) are
    # filled in; randomly initialised ones missing from the file are an error
    # whatever ``strict`` says (``strict`` is always True here).
    unrestorable = set(unrestorable_parameter_names(module))
    absent = []
    for name, param in module.named_parameters():
        if not is_frozen(param) or prefix + name in state_dict:
            continue
        if name in unrestorable:
            absent.append(prefix + name)
        else:
            state_dict[prefix + name] = param.detach()
    if absent:
        raise RuntimeError(
            f'the checkpoint lacks {len(absent)} frozen parameter(s) '
            f'({_summarise(absent)}) that this model initialised randomly '
            '(no pretrained weights, e.g. a backbone with pretrained=None): '
            'loading it would keep a different random draw at every build. '
            'Configure the pretrained weights the checkpoint was trained on, '
            'or load a checkpoint that holds every parameter (trainable-only '
            'checkpoints now store randomly initialised frozen weights).')


# ------------------------------------------------------ weights provenance
_SOURCE_ATTR = '_mmfas_weights_source'


def set_weights_source(module: nn.Module, source: Optional[str]) -> None:
    """Record where ``module``'s parameters came from when it was built:
    ``source`` names the pretrained weights (tag or path), None means they
    were randomly initialised. Read by :func:`unrestorable_parameter_names`
    (the nearest recorded ancestor of a parameter decides)."""
    setattr(module, _SOURCE_ATTR, 'random' if source is None else str(source))


def unrestorable_parameter_names(module: nn.Module) -> List[str]:
    """Names (as in ``module.state_dict()``) of the parameters that lie
    under a submodule recorded as randomly initialised
    (:func:`set_weights_source` with None): building the model again does
    not give them back."""
    sources = {name: getattr(m, _SOURCE_ATTR)
               for name, m in module.named_modules()
               if hasattr(m, _SOURCE_ATTR)}
    if not sources:
        return []
    out = []
    for name, _ in module.named_parameters():
        parts = name.split('.')[:-1]
        for i in range(len(parts), -1, -1):
            src = sources.get('.'.join(parts[:i]))
            if src is not None:
                if src == 'random':
                    out.append(name)
                break
    return out


def droppable_frozen_names(module: nn.Module) -> List[str]:
    """The frozen parameters a trainable-only checkpoint may omit: frozen
    (:func:`frozen_parameter_names`) and not randomly initialised
    (:func:`unrestorable_parameter_names`). The first time a module keeps
    random frozen weights this way, it says so in the log."""
    frozen = frozen_parameter_names(module)
    random_init = set(unrestorable_parameter_names(module))
    kept = [n for n in frozen if n in random_init]
    if kept and not getattr(module, '_mmfas_logged_random_frozen', False):
        import logging

        from mmengine.logging import print_log
        print_log(
            f'{type(module).__name__}: {len(kept)} frozen parameter(s) '
            f'({_summarise(kept)}) are randomly initialised (no pretrained '
            'weights); trainable-only checkpoints store them too, so the '
            'checkpoint reproduces this model.', logger='current',
            level=logging.WARNING)
        module._mmfas_logged_random_frozen = True
    return [n for n in frozen if n not in random_init]


def _summarise(names: List[str], shown: int = 3) -> str:
    head = ', '.join(names[:shown])
    return head + (f', ... ({len(names) - shown} more)'
                   if len(names) > shown else '')


__all__ += ['set_weights_source', 'unrestorable_parameter_names',
            'droppable_frozen_names']


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
