"""Text -> vision prompts of coupled multi-modal prompt learning (MaPLe's
coupling function, used by LPI, ``docs/methods/lpi.md``).

One :class:`TextToVisionPrompt` serves one prompted layer: it maps that
layer's learnable text prompts (text width) to visual prompt tokens (vision
width), which :class:`~mmfas.models.backbones.OpenCLIPBackbone` appends after
the patch tokens the first time and overwrites at later layers.
"""
from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import nn

from mmfas.registry import MODELS

__all__ = ['TextToVisionPrompt']


@MODELS.register_module()
class TextToVisionPrompt(BaseModule):
    """``Linear(text_dim, vision_dim)`` (bias included, PyTorch's default
    init), as MaPLe's per-layer coupling function.

    Args:
        text_dim (int): Text width (input).
        vision_dim (int): Vision width (output).
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, text_dim: int, vision_dim: int,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Linear(text_dim, vision_dim)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """(..., text_dim) text prompts -> (..., vision_dim) visual prompts
        (e.g. (n, Dt) -> (n, Dv), shared by every image)."""
        if prompts.shape[-1] != self.proj.in_features:
            raise ValueError(f'TextToVisionPrompt: prompts of shape '
                             f'{tuple(prompts.shape)}; the last dim must be '
                             f'{self.proj.in_features}')
        return self.proj(prompts.to(self.proj.weight.dtype))
