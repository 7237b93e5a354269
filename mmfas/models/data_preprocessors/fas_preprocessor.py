from typing import List, Optional, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS
from .multi_view import collated_views

#: OpenAI CLIP's normalisation (0-255 scale), what CLIP was trained with.
CLIP_MEAN = (122.7709383, 116.7460125, 104.09373615)
CLIP_STD = (68.5005327, 66.6321579, 70.32316305)
#: ImageNet's, which FLIP's reference code uses (legacy preset only).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@MODELS.register_module()
class FASDataPreprocessor(BaseDataPreprocessor):
    """Batch, convert BGR -> RGB and normalise FAS inputs.

    Input layouts (what :class:`PackFASInputs` makes per sample, and what
    the model receives):

    - a single image per sample ``(3, H, W)`` -> ``(B, 3, H, W)``; the
      image's modality (``rgb``, ``depth``, ``ir``) rides in the data
      sample (``modality``, ``modality_label``), depth and IR are 3-channel
      images normalised like RGB;
    - paired modalities stacked along channels ``(3 * M, H, W)`` ->
      ``(B, 3 * M, H, W)``, each 3-channel group converted and normalised
      alike (``modality='paired'``);
    - multi-view samples (``MultiView`` pipeline: a list of V images per
      sample, view 0 the plain view, e.g. FLIP-MCL's plain + two SimCLR
      views) -> a list of V batches ``(B, C, H, W)`` in view order, from
      either collate function's output. The layout is defined once in
      :mod:`mmfas.models.data_preprocessors.multi_view`; models read it with
      ``split_views`` / ``plain_view`` and declare ``num_views``.

    Args:
        mean (Sequence[float]): Per-channel mean (0-255 scale). Defaults to
            CLIP's (``CLIP_MEAN``).
        std (Sequence[float]): Per-channel std. Defaults to ``CLIP_STD``.
        to_rgb (bool): Images are loaded as BGR; flip them. Defaults to True.
        non_blocking (bool): Defaults to False.
    """

    def __init__(self,
                 mean: Sequence[float] = CLIP_MEAN,
                 std: Sequence[float] = CLIP_STD,
                 to_rgb: bool = True,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        if len(mean) != 3 or len(std) != 3:
            raise ValueError('FASDataPreprocessor: mean and std take 3 values'
                             f' (one per colour channel), got {mean}, {std}')
        self.register_buffer('mean', torch.tensor(mean).view(1, 3, 1, 1),
                             False)
        self.register_buffer('std', torch.tensor(std).view(1, 3, 1, 1),
                             False)
        self.to_rgb = to_rgb

    def _batch(self, images: Union[torch.Tensor, List[torch.Tensor]]):
        if isinstance(images, (list, tuple)):
            shapes = {tuple(i.shape) for i in images}
            if len(shapes) != 1:
                raise ValueError('FASDataPreprocessor: images of one batch '
                                 f'differ in shape {sorted(shapes)}; resize '
                                 'them in the pipeline')
            images = torch.stack(list(images))
        images = images.to(self.device, non_blocking=self._non_blocking)
        b, c, h, w = images.shape
        if c % 3:
            raise ValueError(f'FASDataPreprocessor: {c} channels is not a '
                             'multiple of 3')
        x = images.float().view(b, c // 3, 3, h, w)
        if self.to_rgb:
            x = x.flip(2)
        x = (x - self.mean.unsqueeze(1)) / self.std.unsqueeze(1)
        return x.view(b, c, h, w)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        data_samples: Optional[List[DataSample]] = data.get('data_samples')
        views = collated_views(inputs)
        if views is not None:
            batch = [self._batch(v) for v in views]
        else:
            batch = self._batch(inputs)
        if data_samples is not None:
            data_samples = self.cast_data(data_samples)
        return {'inputs': batch, 'data_samples': data_samples}
