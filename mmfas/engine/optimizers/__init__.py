from .bf16_optim_wrapper import BF16AmpOptimWrapper
from .staged_constructor import (StagedOptimWrapperConstructor,
                                 StagedOptimWrapperDict,
                                 resolve_stage_parameters, stage_parameters)

__all__ = [
    'BF16AmpOptimWrapper', 'StagedOptimWrapperConstructor',
    'StagedOptimWrapperDict', 'resolve_stage_parameters', 'stage_parameters'
]
