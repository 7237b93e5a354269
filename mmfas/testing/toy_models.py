"""Small models for tests of the training machinery (no CLIP).

Configs reach them with
``custom_imports=dict(imports=['mmfas.testing.toy_models'])``.
"""
from collections import OrderedDict
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmfas.models.classifiers.base import BaseFASClassifier
from mmfas.registry import MODELS

__all__ = ['ToyTwoStageClassifier']


@MODELS.register_module()
class ToyTwoStageClassifier(BaseFASClassifier):
    """A two-stage image-"text" classifier shaped like SLIP's alternation.

    - ``stem``: a frozen conv ("pretrained", initialised from a fixed seed,
      so every process builds the same one);
    - stage ``image``: ``image_encoder`` (conv -> pool -> linear);
    - stage ``text``: ``class_embed`` (one learned vector per class
      ``[spoof, live]``) and ``text_fusion`` (linear).

    ``logits = scale * cos(image feature, fused class vector)``; both
    stages' losses depend on both stages' parameters, so the stage that
    does not run must be switched off to keep its gradients empty:

    - image step: ``loss_ce`` + ``loss_feat`` (0.01 x mean squared
      feature);
    - text step: ``loss_ce`` + ``loss_sep`` (squared cosine between the
      two class vectors).

    Args:
        channels (int): Conv channels. Defaults to 8.
        embed_dim (int): Feature size. Defaults to 8.
        scale (float): Logit scale. Defaults to 10.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
        **kwargs: :class:`BaseFASClassifier` options
            (``save_trainable_only``).
    """

    def __init__(self, channels: int = 8, embed_dim: int = 8,
                 scale: float = 10., data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, **kwargs):
        super().__init__(data_preprocessor, init_cfg, **kwargs)
        self.stem = nn.Conv2d(3, channels, 4, stride=4)
        g = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            self.stem.weight.copy_(
                torch.randn(self.stem.weight.shape, generator=g) * 0.2)
            self.stem.bias.zero_()
        self.stem.requires_grad_(False)
        self.image_encoder = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.GELU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(channels, embed_dim))
        self.class_embed = nn.Parameter(torch.randn(2, embed_dim))
        self.text_fusion = nn.Linear(embed_dim, embed_dim)
        self.scale = scale

    def train_stages(self) -> Dict[str, List[str]]:
        return OrderedDict(image=['image_encoder'],
                           text=['class_embed', 'text_fusion'])

    def image_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(self.stem(x))

    def class_features(self) -> torch.Tensor:
        return self.text_fusion(self.class_embed)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        img = F.normalize(self.image_features(inputs), dim=-1)
        txt = F.normalize(self.class_features(), dim=-1)
        return self.scale * img @ txt.t()

    def loss(self, inputs, data_samples, stage: Optional[str] = None
             ) -> Dict[str, torch.Tensor]:
        x = self._plain_view(inputs)
        labels = self.gt_labels(data_samples, x.device)
        feat = self.image_features(x)
        txt = self.class_features()
        logits = self.scale * F.normalize(feat, dim=-1) @ F.normalize(
            txt, dim=-1).t()
        losses = dict(loss_ce=F.cross_entropy(logits.float(), labels))
        if stage == 'image':
            losses['loss_feat'] = 0.01 * feat.float().pow(2).mean()
        elif stage == 'text':
            losses['loss_sep'] = F.cosine_similarity(
                txt[0:1].float(), txt[1:2].float()).pow(2).sum()
        else:
            raise ValueError(f'{type(self).__name__}.loss: unknown stage '
                             f'{stage!r}, expected one of '
                             f'{list(self.train_stages())}')
        return losses
