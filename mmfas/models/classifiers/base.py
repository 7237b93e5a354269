from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS
from ..utils import enable_trainable_checkpoint


class BaseFASClassifier(BaseModel):
    """Base of every mmfas model: one ``forward(mode=...)``.

    Modes:

    - ``'loss'``: ``loss(inputs, data_samples)`` -> dict of losses.
    - ``'predict'``: ``predict(inputs, data_samples)`` -> data samples with
      ``pred_score`` = softmax over ``[spoof, live]`` (column 1 is the
      liveness score FASMetric reads) and ``pred_label``.
    - ``'tensor'``: ``logits(inputs)`` -> raw ``(B, 2)`` logits.

    Subclasses implement ``logits`` and ``loss``; a model whose natural
    output is not a 2-way logit (e.g. SLIP's cue map) overrides
    ``predict_scores`` to return the ``(B, 2)`` probabilities.

    Args:
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor`` (CLIP mean/std).
        save_trainable_only (bool): Checkpoints omit frozen parameters and
            load back onto the pretrained model strictly
            (:func:`~mmfas.models.utils.enable_trainable_checkpoint`); for
            frozen-CLIP methods, whose full ViT-B/16 checkpoint would be
            ~600 MB. Defaults to False.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 save_trainable_only: bool = False):
        if data_preprocessor is None:
            data_preprocessor = dict(type='FASDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        if save_trainable_only:
            # the hooks read requires_grad when saving / loading, so
            # submodules built after this point are covered
            enable_trainable_checkpoint(self)

    def forward(self,
                inputs: Union[torch.Tensor, List[torch.Tensor]],
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.logits(self._plain_view(inputs))
        raise ValueError(f'{type(self).__name__}: invalid mode "{mode}", '
                         'expected "loss", "predict" or "tensor"')

    @staticmethod
    def _plain_view(inputs):
        """The un-augmented batch (view 0 of multi-view inputs)."""
        return inputs[0] if isinstance(inputs, (list, tuple)) else inputs

    @staticmethod
    def gt_labels(data_samples: List[DataSample],
                  device=None) -> torch.Tensor:
        if not data_samples or 'gt_label' not in data_samples[0]:
            raise ValueError('training needs data samples with gt_label')
        return torch.cat([s.gt_label for s in data_samples]).to(device)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, inputs, data_samples) -> Dict[str, torch.Tensor]:
        raise NotImplementedError

    def predict_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.logits(inputs).float(), dim=1)

    def predict(self, inputs, data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        probs = self.predict_scores(self._plain_view(inputs)).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(probs.size(0))]
        for sample, p in zip(data_samples, probs):
            sample.set_pred_score(p).set_pred_label(p.argmax())
        return data_samples
