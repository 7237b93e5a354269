"""Distributed model wrapper for staged training."""
from typing import Dict, Union

import torch
from mmengine.model import MMDistributedDataParallel
from mmengine.optim import OptimWrapper, OptimWrapperDict
# mmengine's Runner.wrap_model looks wrappers up in its root registry
# without the default scope, so the wrapper is registered there.
from mmengine.registry import MODEL_WRAPPERS

from .staged import staged_train_step

__all__ = ['StagedDistributedDataParallel']


@MODEL_WRAPPERS.register_module()
class StagedDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that also runs staged models.

    With an :class:`OptimWrapperDict` (one optim wrapper per stage,
    :class:`~mmfas.engine.StagedOptimWrapperConstructor`) every stage's
    forward goes through DDP, so its gradients are all-reduced, and the
    parameters of the other stages, switched off during the stage, are
    found unused and keep ``grad is None``; this needs
    ``find_unused_parameters=True`` (the default here). With a single
    optim wrapper it is ``MMDistributedDataParallel``.

    ``tools/train.py`` picks it for staged configs
    (:func:`~mmfas.engine.use_staged_model_wrapper`).
    """

    def __init__(self, module, find_unused_parameters: bool = True,
                 **kwargs):
        super().__init__(module=module,
                         find_unused_parameters=find_unused_parameters,
                         **kwargs)

    def train_step(self, data: Union[dict, tuple, list],
                   optim_wrapper: OptimWrapper) -> Dict[str, torch.Tensor]:
        if isinstance(optim_wrapper, OptimWrapperDict):
            return staged_train_step(self.module, data, optim_wrapper,
                                     caller=self)
        return super().train_step(data, optim_wrapper)
