"""CoCoOp's meta-net: an input-conditional bias for prompt context vectors.

Conditional prompt learning (Zhou et al., CVPR 2022) adds, to every learnable
context vector of an image's prompts, a bias predicted from that image's
feature: ``ctx_i = ctx + meta_net(normalize(f_img))``. The text tower then
runs once per image (see :class:`~mmfas.models.utils.PromptLearner`,
``conditional=True``, and the per-image prompt shapes of
:meth:`~mmfas.models.backbones.OpenCLIPBackbone.encode_text`).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmfas.registry import MODELS

__all__ = ['MetaNet']


@MODELS.register_module()
class MetaNet(BaseModule):
    """``Linear(E, E // 16) -> ReLU -> Linear(E // 16, out_dim)`` on the
    L2-normalised image feature.

    Args:
        embed_dim (int): Image feature size E (CLIP joint space, 512 for
            ViT-B/16).
        out_dim (int): Output size, the text tower width (512 for ViT-B/16).
        hidden_dim (int, optional): Hidden size. Defaults to
            ``embed_dim // 16`` (32 for E = 512).
        normalize_input (bool): L2-normalise the input first (idempotent for
            features that already are). Defaults to True.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 embed_dim: int,
                 out_dim: int,
                 hidden_dim: Optional[int] = None,
                 normalize_input: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        hidden_dim = hidden_dim or max(1, embed_dim // 16)
        self.normalize_input = normalize_input
        self.linear1 = nn.Linear(embed_dim, hidden_dim)
        self.relu = nn.ReLU(inplace=True)
        self.linear2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, image_features: torch.Tensor) -> torch.Tensor:
        """(B, E) image features -> (B, out_dim) context bias."""
        x = image_features
        if self.normalize_input:
            x = F.normalize(x, dim=-1)
        return self.linear2(self.relu(self.linear1(x)))
