import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmfas.registry import MODELS


@MODELS.register_module()
class FLIPVHead(BaseModule):
    """FLIP-V's classifier on the CLIP CLS token (before ``proj``).

    ``Linear(in, hidden)`` (init N(0, 0.005), bias 0.1) -> ReLU -> Dropout
    -> ``f / (sqrt(||f||) * sqrt(2))`` -> ``Linear(hidden, 2)`` (init
    N(0, 0.01), bias 0). Output columns are ``[spoof, live]``.

    With ``column_norm=True`` (the reference behaviour, default) the
    classifier weight (2 x hidden) is L2-normalised along dim 0 — each input
    column across the two classes, not per class row — at every forward, and
    the normalised tensor is written back into the parameter.

    Args:
        in_channels (int): CLS width (768 for ViT-B). Defaults to 768.
        hidden_channels (int): Defaults to 512.
        num_classes (int): Defaults to 2.
        dropout (float): Defaults to 0.5.
        column_norm (bool): Reference weight normalisation. Defaults to True.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, in_channels: int = 768, hidden_channels: int = 512,
                 num_classes: int = 2, dropout: float = 0.5,
                 column_norm: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.bottleneck = nn.Linear(in_channels, hidden_channels)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden_channels, num_classes)
        self.column_norm = column_norm
        nn.init.normal_(self.bottleneck.weight, 0, 0.005)
        nn.init.constant_(self.bottleneck.bias, 0.1)
        nn.init.normal_(self.classifier.weight, 0, 0.01)
        nn.init.constant_(self.classifier.bias, 0.0)

    def drop(self, f: torch.Tensor,
             generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Dropout (training only). The mask comes from ``generator``
        when given (replayable draws), else from ``nn.Dropout``."""
        p = self.dropout.p
        if generator is None or not self.training or p == 0:
            return self.dropout(f)
        keep = torch.rand(f.shape, generator=generator,
                          device=generator.device).to(f.device) >= p
        return f * keep.to(f.dtype) / (1 - p)

    def forward(self, cls_token: torch.Tensor,
                generator: Optional[torch.Generator] = None) -> torch.Tensor:
        f = self.drop(F.relu(self.bottleneck(cls_token)), generator)
        f = f / (f.norm(dim=1, keepdim=True).sqrt() * math.sqrt(2))
        if self.column_norm:
            with torch.no_grad():
                self.classifier.weight.copy_(
                    F.normalize(self.classifier.weight, dim=0))
        return self.classifier(f)


@MODELS.register_module()
class SimCLRProjector(BaseModule):
    """SimCLR projection MLP: ``in -> hidden, BN, ReLU, hidden -> hidden, BN,
    ReLU, hidden -> out`` (FLIP-MCL: 512 -> 4096 -> 4096 -> 256).

    Call it once per view so BatchNorm sees each view's batch separately.
    """

    def __init__(self, in_channels: int = 512, hidden_channels: int = 4096,
                 out_channels: int = 256, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg)
        self.mlp = nn.Sequential(
            nn.Linear(in_channels, hidden_channels),
            nn.BatchNorm1d(hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, hidden_channels),
            nn.BatchNorm1d(hidden_channels), nn.ReLU(inplace=True),
            nn.Linear(hidden_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x)
