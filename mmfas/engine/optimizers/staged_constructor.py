"""Optimiser wrappers for staged training: one :class:`OptimWrapper` per
optimisation stage of a model, in an :class:`OptimWrapperDict`.

A model declares its stages with ``train_stages()`` (an ordered mapping
``stage name -> parameter-name prefixes``, see
:meth:`mmfas.models.classifiers.BaseFASClassifier.train_stages`); the config
names one optim wrapper per stage::

    optim_wrapper = dict(
        constructor='StagedOptimWrapperConstructor',
        # keys that are not stage names are defaults for every stage
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        image=dict(optimizer=dict(lr=1e-5)),   # merged over the default
        text=dict(clip_grad=dict(max_norm=1.0)))

See ``docs/staged_training.md``.
"""
import copy
import logging
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional

import torch
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper, OptimWrapperDict
from torch import nn

from mmfas.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = [
    'StagedOptimWrapperConstructor', 'StagedOptimWrapperDict',
    'resolve_stage_parameters', 'stage_parameters'
]

# per-stage keys that are merged one level deep over the shared defaults
_MERGED = ('optimizer', 'clip_grad', 'paramwise_cfg')


class StagedOptimWrapperDict(OptimWrapperDict):
    """:class:`OptimWrapperDict` whose order is the order the stages run in
    and which initialises every stage's iteration count (mmengine's
    ``OptimWrapperDict.initialize_count_status`` does nothing, which breaks
    gradient accumulation after a resume). Every stage runs once per
    iteration, so each stage's count is the iteration."""

    def initialize_count_status(self, model: nn.Module, cur_iter: int,
                                max_iters: int) -> None:
        for wrapper in self.optim_wrappers.values():
            wrapper.initialize_count_status(model, cur_iter, max_iters)


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + '.')


def resolve_stage_parameters(
        model: nn.Module, stages: Dict[str, Iterable]
) -> 'OrderedDict[str, List[str]]':
    """Names of the trainable parameters of every stage.

    Args:
        model (nn.Module): The (unwrapped) model.
        stages (dict): ``stage name -> members``; a member is a
            parameter-name prefix (matching a parameter name equal to it or
            starting with it and a dot: ``'head'`` matches ``head.fc.weight``
            but not ``header.w``), a submodule of ``model`` (all its
            parameters) or a parameter of ``model``.

    Returns:
        OrderedDict: ``stage name -> parameter names`` in ``stages``' order;
        parameters that do not require grad (frozen) belong to no stage.

    Raises:
        ValueError: naming the member, the parameters or the stages at
            fault when a member matches no parameter of the model, a stage
            has no trainable parameter, two stages share a parameter, or a
            trainable parameter belongs to no stage.
    """
    cls = type(model).__name__
    if not stages:
        raise ValueError(f'{cls}: no training stages declared')
    named = list(model.named_parameters())
    by_name = dict(named)
    name_of = {id(p): n for n, p in named}
    owner: Dict[str, str] = {}
    out: 'OrderedDict[str, List[str]]' = OrderedDict()
    for stage, members in stages.items():
        if isinstance(members, (str, nn.Module, nn.Parameter)):
            members = [members]
        names: List[str] = []
        for member in members:
            if isinstance(member, str):
                hits = [n for n, _ in named if _matches(n, member)]
                what = f'prefix "{member}"'
            elif isinstance(member, nn.Module):
                hits = [name_of.get(id(p)) for p in member.parameters()]
                what = f'submodule {type(member).__name__}'
            elif isinstance(member, torch.Tensor):
                hits = [name_of.get(id(member))]
                what = f'a {tuple(member.shape)} parameter'
            else:
                raise TypeError(
                    f'{cls}: stage "{stage}": members are parameter-name '
                    f'prefixes, submodules or parameters, got {member!r}')
            if not hits or None in hits:
                raise ValueError(
                    f'{cls}: stage "{stage}": {what} matches no parameter '
                    'of the model')
            for n in hits:
                if not by_name[n].requires_grad or n in names:
                    continue
                if n in owner:
                    raise ValueError(
                        f'{cls}: parameter "{n}" is in stage "{owner[n]}" '
                        f'and stage "{stage}"; a parameter may belong to '
                        'one stage only')
                owner[n] = stage
                names.append(n)
        if not names:
            raise ValueError(
                f'{cls}: stage "{stage}" has no trainable parameter (its '
                'members hold only frozen ones)')
        out[stage] = names
    orphans = [n for n, p in named if p.requires_grad and n not in owner]
    if orphans:
        shown = ', '.join(orphans[:10])
        more = f' and {len(orphans) - 10} more' if len(orphans) > 10 else ''
        raise ValueError(
            f'{cls}: trainable parameters in no stage ({list(out)}): '
            f'{shown}{more}. Add them to a stage or freeze them')
    return out


def stage_parameters(optim_wrapper: OptimWrapperDict
                     ) -> 'OrderedDict[str, List[torch.nn.Parameter]]':
    """``stage -> the parameters its optimizer owns``, in run order."""
    return OrderedDict(
        (name, [p for g in w.optimizer.param_groups for p in g['params']])
        for name, w in optim_wrapper.items())


def _restrict(wrapper: OptimWrapper, keep: set) -> None:
    """Drop from ``wrapper``'s optimizer every parameter not in ``keep``
    (ids), and the groups left empty."""
    optimizer = wrapper.optimizer
    if optimizer.state:
        raise RuntimeError('cannot restrict an optimizer that has state')
    groups = []
    for group in optimizer.param_groups:
        params = [p for p in group['params'] if id(p) in keep]
        if params:
            group['params'] = params
            groups.append(group)
    optimizer.param_groups[:] = groups
    if len(groups) <= 1:
        wrapper.base_param_settings = None


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class StagedOptimWrapperConstructor:
    """Build a :class:`StagedOptimWrapperDict` with one optim wrapper per
    stage of the model, each owning only its stage's trainable parameters.

    Config (``optim_wrapper``): the keys named like a stage of the model
    are that stage's optim-wrapper config (``type``, ``optimizer``,
    ``clip_grad``, ``accumulative_counts``, ``paramwise_cfg``,
    ``constructor`` of the stage, and ``params`` to override the model's
    prefixes for the stage); every other key is a default for all stages
    (a stage's own value wins; ``optimizer``, ``clip_grad`` and
    ``paramwise_cfg`` dicts are merged one level deep). ``stage_order``
    (a list of the stage names) changes the order the stages run in; by
    default it is the model's. ``tools/train.py --amp`` sets the shared
    ``type``, so every stage without its own ``type`` gets mixed precision.

    Each stage is built by its ``constructor`` (default mmengine's
    ``DefaultOptimWrapperConstructor``, so ``paramwise_cfg`` works as
    usual), then its optimizer keeps only the stage's parameters.

    Args:
        optim_wrapper_cfg (dict): The ``optim_wrapper`` config without
            ``constructor`` and ``paramwise_cfg``.
        paramwise_cfg (dict, optional): Shared ``paramwise_cfg``.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        if not isinstance(optim_wrapper_cfg, dict):
            raise TypeError('optim_wrapper must be a dict, got '
                            f'{type(optim_wrapper_cfg)}')
        self.cfg = copy.deepcopy(dict(optim_wrapper_cfg))
        self.paramwise_cfg = copy.deepcopy(paramwise_cfg)

    def __call__(self, model: nn.Module) -> StagedOptimWrapperDict:
        module = self._unwrap(model)
        declared = module.train_stages() if hasattr(
            module, 'train_stages') else None
        if not declared:
            raise ValueError(
                f'optim_wrapper: StagedOptimWrapperConstructor needs a model '
                f'that declares training stages (train_stages()); '
                f'{type(module).__name__} declares none')
        declared = OrderedDict(declared)
        cfg = copy.deepcopy(self.cfg)
        order = list(cfg.pop('stage_order', None) or declared)
        if sorted(order) != sorted(declared) or len(set(order)) != len(
                order):
            raise ValueError(
                f'optim_wrapper.stage_order={order} must list each stage of '
                f'{type(module).__name__} once: {list(declared)}')
        stage_cfgs = {name: cfg.pop(name, None) for name in declared}
        shared = cfg
        if self.paramwise_cfg is not None:
            shared['paramwise_cfg'] = self.paramwise_cfg
        for key, value in shared.items():
            if isinstance(value, dict) and 'optimizer' in value:
                raise ValueError(
                    f'optim_wrapper.{key} looks like a stage config but '
                    f'{type(module).__name__} has no stage "{key}" (its '
                    f'stages: {list(declared)})')
        prefixes = OrderedDict()
        merged_cfgs = {}
        for name in order:
            merged = self._merge(shared, stage_cfgs[name] or {})
            if 'optimizer' not in merged:
                raise ValueError(
                    f'optim_wrapper: no optimizer for stage "{name}": give '
                    f'optim_wrapper.{name}.optimizer or a shared '
                    'optim_wrapper.optimizer')
            prefixes[name] = merged.pop('params', declared[name])
            merged_cfgs[name] = merged
        names = resolve_stage_parameters(module, prefixes)
        params = dict(module.named_parameters())
        wrappers = OrderedDict()
        for name in order:
            stage_cfg = merged_cfgs[name]
            constructor = stage_cfg.pop('constructor',
                                        'DefaultOptimWrapperConstructor')
            stage_paramwise = stage_cfg.pop('paramwise_cfg', None)
            builder = OPTIM_WRAPPER_CONSTRUCTORS.build(
                dict(type=constructor, optim_wrapper_cfg=stage_cfg,
                     paramwise_cfg=stage_paramwise))
            wrapper = builder(module)
            _restrict(wrapper, {id(params[n]) for n in names[name]})
            wrappers[name] = wrapper
            n_elem = sum(params[n].numel() for n in names[name])
            print_log(
                f'stage "{name}": {type(wrapper).__name__}('
                f'{type(wrapper.optimizer).__name__}), '
                f'{len(names[name])} parameter tensors, {n_elem} elements',
                logger='current', level=logging.INFO)
        return StagedOptimWrapperDict(**wrappers)

    @staticmethod
    def _merge(shared: dict, own: dict) -> dict:
        if not isinstance(own, dict):
            raise TypeError(f'a stage optim_wrapper must be a dict, got '
                            f'{own!r}')
        out = copy.deepcopy(shared)
        for key, value in copy.deepcopy(own).items():
            if key in _MERGED and isinstance(value, dict) and isinstance(
                    out.get(key), dict) and value.get('type', out[key].get(
                        'type')) == out[key].get('type'):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
        return out

    @staticmethod
    def _unwrap(model: nn.Module) -> nn.Module:
        if not is_model_wrapper(model):
            return model
        from ..model_wrappers import StagedDistributedDataParallel
        if not isinstance(model, StagedDistributedDataParallel):
            raise TypeError(
                f'staged training runs under {type(model).__name__}, which '
                'runs one loss per iteration; set model_wrapper_cfg='
                "dict(type='StagedDistributedDataParallel') (tools/train.py "
                'does it for staged configs)')
        return model.module
