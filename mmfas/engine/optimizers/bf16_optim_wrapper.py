from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from mmfas.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16AmpOptimWrapper(OptimWrapper):
    """Mixed precision with bfloat16 autocast, on any device, CPU included.

    mmengine's ``AmpOptimWrapper`` refuses to build without a GPU; bfloat16
    needs no loss scaling, so this wrapper only adds the autocast context
    around the forward pass. ``tools/train.py --amp`` picks it on machines
    without CUDA (``AmpOptimWrapper`` with dynamic loss scaling on GPUs).
    Weights and optimizer states stay in float32.
    """

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        with super().optim_context(model), autocast(dtype=torch.bfloat16):
            yield
