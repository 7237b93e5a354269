from typing import Dict, List, Optional, Union

import torch
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapperDict
from mmpretrain.structures import DataSample

from mmfas.engine.staged import staged_train_step
from mmfas.registry import MODELS
from mmfas.structures import score_rule
from ..data_preprocessors.multi_view import plain_view, split_views
from ..utils import enable_trainable_checkpoint


class BaseFASClassifier(BaseModel):
    """Base of every mmfas model: one ``forward(mode=...)``.

    Modes:

    - ``'loss'``: ``loss(inputs, data_samples)`` -> dict of losses.
    - ``'predict'``: ``predict(inputs, data_samples)`` -> data samples with
      ``live_score``, ``pred_score`` = ``[1 - live_score, live_score]`` and
      ``pred_label`` = ``live_score >= threshold``, all written by the score
      rule (:mod:`mmfas.structures.score_rule`) from the model's
      ``score_kind`` output (see ``score_output``).
    - ``'tensor'``: ``score_output(inputs)`` -> the raw output of the
      model's ``score_kind`` (``(B, 2)`` logits for ``'logits'``).

    Subclasses implement ``loss`` and the output of their score kind
    (``logits`` by default, see below). ``loss(inputs,
    data_samples, return_terms=True)`` returns ``(losses, terms)``, where
    ``terms`` holds the intermediate tensors of each branch (logits,
    embeddings, random draws) for tests and analysis. Training inputs are
    read with ``self._views(inputs)`` against the model's ``num_views``
    (layout: :mod:`mmfas.models.data_preprocessors.multi_view`); random
    draws go through ``draw_rand`` / ``draw_randint`` / ``draw_randperm``
    (an injectable :attr:`generator`).

    Scores: a model declares its ``score_kind`` (class attribute, one of
    :data:`~mmfas.structures.SCORE_KINDS`; default ``'logits'``) and
    ``score_output(inputs)`` returns the raw output of that kind:
    ``logits`` (``(B, 2)``, class order ``[spoof, live]``) for
    ``'logits'``, ``spoof_maps`` (a ``(B, ...)`` spoof cue map in ``[0, 1]``)
    for ``'spoof_map'``, ``distances`` (``(B, )`` >= 0, scaled by
    ``distance_scale``) for ``'distance'``; override ``score_output`` for
    another method name. :func:`~mmfas.structures.live_score` turns it into
    the liveness score. ``pred_label`` uses :attr:`decision_threshold` (set
    by :func:`mmfas.apis.init_model` from a deployment checkpoint), else the
    uncalibrated :data:`~mmfas.structures.DEFAULT_THRESHOLD`; never argmax.

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
                mode: str = 'tensor',
                stage: Optional[str] = None):
        if mode == 'loss':
            if stage is not None:
                return self.loss(inputs, data_samples, stage=stage)
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.score_output(self._plain_view(inputs))
        raise ValueError(f'{type(self).__name__}: invalid mode "{mode}", '
                         'expected "loss", "predict" or "tensor"')

    #: views per training sample the model's ``loss`` reads (layout:
    #: :mod:`mmfas.models.data_preprocessors.multi_view`); > 1 needs a
    #: ``MultiView`` training pipeline making that many views
    num_views: int = 1

    # ------------------------------------------------------ staged training
    def train_stages(self) -> Optional[Dict[str, list]]:
        """The model's optimisation stages, or None (one stage: ``loss``).

        A staged model returns an ordered mapping ``stage name ->
        members``, a member being a parameter-name prefix (``'decoder'``
        covers every parameter under ``decoder.``), a submodule or a
        parameter; frozen parameters are ignored, and every trainable
        parameter must be in exactly one stage. Per iteration each stage
        runs in that order (or the config's ``optim_wrapper.stage_order``):
        ``loss(inputs, data_samples, stage=name)`` -> backward -> step of
        the stage's own optimizer, the other stages' parameters switched off
        (``docs/staged_training.md``). Train it with
        ``optim_wrapper=dict(constructor='StagedOptimWrapperConstructor',
        ...)``.
        """
        return None

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        """mmengine's ``train_step``; with an ``OptimWrapperDict`` (a staged
        model) every stage runs once (:func:`mmfas.engine.staged_train_step`),
        its log variables prefixed ``'<stage>.'``."""
        if isinstance(optim_wrapper, OptimWrapperDict):
            return staged_train_step(self, data, optim_wrapper)
        stages = self.train_stages()
        if stages:
            raise ValueError(
                f'{type(self).__name__} trains in stages {list(stages)}: '
                "set optim_wrapper=dict(constructor='StagedOptimWrapper"
                "Constructor', ...) with one optimizer per stage "
                '(docs/staged_training.md)')
        return super().train_step(data, optim_wrapper)

    @staticmethod
    def _plain_view(inputs):
        """The plain view's batch (view 0 of multi-view inputs)."""
        return plain_view(inputs)

    def _views(self, inputs):
        """The training inputs checked against ``num_views``: the batch for
        a single-view model, the list of view batches otherwise."""
        return split_views(inputs, self.num_views, type(self).__name__)

    # Random draws of the model itself (template draws, prompt shuffles,
    # dropout masks) go through these, so a test can replay fixed draws:
    # ``model.generator = torch.Generator().manual_seed(0)``. None (default)
    # draws from the global RNG on the target device, as torch.rand* do.
    generator: Optional[torch.Generator] = None

    def _draw(self, fn, *args, device=None, **kwargs) -> torch.Tensor:
        g = self.generator
        if g is None:
            return fn(*args, device=device, **kwargs)
        return fn(*args, generator=g, device=g.device, **kwargs).to(device)

    def draw_rand(self, *size, device=None) -> torch.Tensor:
        """``torch.rand(*size)`` from :attr:`generator`."""
        return self._draw(torch.rand, *size, device=device)

    def draw_randint(self, high: int, size, device=None) -> torch.Tensor:
        """``torch.randint(high, size)`` from :attr:`generator`."""
        return self._draw(torch.randint, high, size, device=device)

    def draw_randperm(self, n: int, device=None) -> torch.Tensor:
        """``torch.randperm(n)`` from :attr:`generator`."""
        return self._draw(torch.randperm, n, device=device)

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

    #: True for a one-class model: training batches hold live faces only
    #: (tools such as the benchmark synthesise live-only batches for it)
    one_class: bool = False

    # ---------------------------------------------------------------- scores
    #: how ``score_output`` becomes a liveness score (score rule kinds)
    score_kind: str = 'logits'
    #: distance at which a ``'distance'`` score is 1/e
    distance_scale: float = 1.0
    #: decision threshold on the liveness score; None: the score rule's
    #: uncalibrated default (see :meth:`set_decision_threshold`)
    decision_threshold: Optional[float] = None
    _SCORE_METHODS = dict(
        logits='logits', spoof_map='spoof_maps', distance='distances')

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        score_rule.check_score_kind(cls.score_kind,
                                    f'{cls.__name__}.score_kind')

    def set_decision_threshold(self, threshold: Optional[float]) -> None:
        """Threshold of ``pred_label`` (live iff ``live_score >=
        threshold``); None: :data:`~mmfas.structures.DEFAULT_THRESHOLD`."""
        self.decision_threshold = None if threshold is None else \
            score_rule.check_threshold(threshold, 'decision_threshold')

    def score_output(self, inputs: torch.Tensor) -> torch.Tensor:
        """The raw output of the model's ``score_kind`` (see class doc)."""
        name = self._SCORE_METHODS[self.score_kind]
        fn = getattr(self, name, None)
        if fn is None:
            raise NotImplementedError(
                f'{type(self).__name__} declares score_kind='
                f'{self.score_kind!r}: implement `{name}(inputs)` or '
                'override `score_output`')
        return fn(inputs)

    def live_scores(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, )`` liveness scores in ``[0, 1]`` by the score rule."""
        return score_rule.live_score(self.score_output(inputs),
                                     self.score_kind, self.distance_scale)

    def predict(self, inputs, data_samples: Optional[List[DataSample]] = None
                ) -> List[DataSample]:
        scores = self.live_scores(self._plain_view(inputs)).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(scores.size(0))]
        if len(data_samples) != scores.size(0):
            raise ValueError(f'{type(self).__name__}.predict: '
                             f'{len(data_samples)} data samples for '
                             f'{scores.size(0)} scores')
        for sample, s in zip(data_samples, scores):
            score_rule.set_prediction(sample, s, self.decision_threshold)
        return data_samples
