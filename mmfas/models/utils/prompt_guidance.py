"""Vision -> text guidance of LPI (``docs/methods/lpi.md``): text prompt
tokens cross-attend to the patch tokens of the same layer.

One :class:`PromptGuidance` serves one interaction layer. Its output is added
to the prompt tokens through a learnable scalar gate initialised at 0, so a
model that has not trained it computes exactly what the plain deep-prompt
model computes.
"""
from typing import Optional

import torch
from mmengine.model import BaseModule
from torch import nn

from mmfas.registry import MODELS

__all__ = ['PromptGuidance']


@MODELS.register_module()
class PromptGuidance(BaseModule):
    """Gated cross-attention from text prompt tokens to vision patch tokens.

    ``out = prompts + tanh(gate) * MHA(LN_t(prompts), LN_v(patches),
    LN_v(patches))`` with ``nn.MultiheadAttention`` (queries of the text
    width, keys and values of the vision width, output projected back to the
    text width). Pre-norms because the residual-stream tokens of a CLIP
    block are not normalised. **(design)** The gate is a scalar squashed by
    ``tanh`` (as Flamingo's gated cross-attention), initialised at
    ``gate_init`` = 0.

    Queries never interact in cross-attention, so the prompt tokens of all
    ``C`` class sequences of an image go through one call as ``C * n``
    queries: one attention call per layer for the whole batch.

    Args:
        text_dim (int): Text width (queries, output).
        vision_dim (int): Vision width (keys, values).
        num_heads (int): Attention heads; must divide ``text_dim``.
            Defaults to 8.
        dropout (float): Attention dropout. Defaults to 0.
        gate_init (float): Initial (pre-tanh) gate. Defaults to 0.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 text_dim: int,
                 vision_dim: int,
                 num_heads: int = 8,
                 dropout: float = 0.0,
                 gate_init: float = 0.0,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if num_heads < 1 or text_dim % num_heads:
            raise ValueError(f'PromptGuidance: num_heads={num_heads} must '
                             f'divide the text width {text_dim}')
        self.text_dim, self.vision_dim = text_dim, vision_dim
        self.norm_text = nn.LayerNorm(text_dim)
        self.norm_vision = nn.LayerNorm(vision_dim)
        self.attn = nn.MultiheadAttention(
            text_dim, num_heads, dropout=dropout, kdim=vision_dim,
            vdim=vision_dim, batch_first=True)
        self.gate = nn.Parameter(torch.tensor(float(gate_init)))

    def gate_value(self) -> torch.Tensor:
        """The effective gate ``tanh(gate)``."""
        return torch.tanh(self.gate)

    def forward(self, prompts: torch.Tensor,
                patches: torch.Tensor) -> torch.Tensor:
        """
        Args:
            prompts (Tensor): (B, Q, text_dim) prompt tokens of each image.
            patches (Tensor): (B, N, vision_dim) patch tokens of the images.

        Returns:
            Tensor: (B, Q, text_dim) guided prompt tokens.
        """
        if prompts.dim() != 3 or patches.dim() != 3 or \
                prompts.shape[0] != patches.shape[0] or \
                prompts.shape[-1] != self.text_dim or \
                patches.shape[-1] != self.vision_dim:
            raise ValueError(
                f'PromptGuidance: prompts {tuple(prompts.shape)} and patches '
                f'{tuple(patches.shape)}; expected (B, Q, {self.text_dim}) '
                f'and (B, N, {self.vision_dim})')
        q = self.norm_text(prompts)
        kv = self.norm_vision(patches).to(q.dtype)
        out, _ = self.attn(q, kv, kv, need_weights=False)
        return prompts + self.gate_value().to(out.dtype) * out.to(
            prompts.dtype)

    def extra_repr(self) -> str:
        return f'text_dim={self.text_dim}, vision_dim={self.vision_dim}'
