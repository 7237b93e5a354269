"""FLIP (ICCV 2023, "Cross-domain FAS with Language Guidance"): FLIP-V,
FLIP-IT and FLIP-MCL.

Class order everywhere is ``[spoof, live]`` (labels 0 = spoof, 1 = live); the
test score is ``softmax(logits)[:, 1]`` = P(live).
"""
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS
from .base import BaseFASClassifier


def _build(cfg):
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class FLIPV(BaseFASClassifier):
    """FLIP-V: CLIP vision tower + :class:`FLIPVHead` on the CLS token
    (after ``ln_post``, before ``proj``), cross-entropy.

    Args:
        backbone (dict): :class:`OpenCLIPBackbone` config.
        head (dict): Head config; ``in_channels`` defaults to the vision
            width. Defaults to ``dict(type='FLIPVHead')``.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor`` (CLIP mean/std).
        init_cfg (dict, optional): Defaults to None.
        **kwargs: :class:`BaseFASClassifier` options
            (``save_trainable_only``).
    """

    def __init__(self, backbone: dict, head: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(data_preprocessor, init_cfg, **kwargs)
        self.backbone = _build(backbone)
        head = dict(dict(type='FLIPVHead'), **(head or {}))
        head.setdefault('in_channels', self.backbone.vision_width)
        self.head = _build(head)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        cls = self.backbone.encode_image(inputs, return_dict=True)['cls']
        # the head's dropout mask comes from the model's generator when set
        return self.head(cls, generator=self.generator)

    def loss(self, inputs, data_samples: List[DataSample],
             return_terms: bool = False):
        """Cross-entropy; ``return_terms=True`` also returns
        ``dict(logits=(B, 2))``."""
        x = self._views(inputs)
        labels = self.gt_labels(data_samples, x.device)
        logits = self.logits(x)
        losses = dict(loss_ce=F.cross_entropy(logits, labels))
        return (losses, dict(logits=logits)) if return_terms else losses


@MODELS.register_module()
class FLIPIT(BaseFASClassifier):
    """FLIP-IT: image-text similarity with template ensembles.

    Class text embedding = mean of the class's template embeddings
    (averaged before normalising, then L2-normalised), recomputed at every
    training forward when the text tower trains (as the reference); cached
    in eval mode or when the text tower is frozen (:class:`TemplateBank`).
    ``logits = exp(logit_scale) * cos(image, class_text)``; the logit scale
    is trainable and never clamped.

    Args:
        backbone (dict): :class:`OpenCLIPBackbone` config (the whole CLIP
            trains by default).
        templates (dict): :class:`TemplateBank` config. Defaults to FLIP's
            six spoof + six real templates, order ``[spoof, real]``.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
        **kwargs: :class:`BaseFASClassifier` options
            (``save_trainable_only``).
    """

    def __init__(self, backbone: dict, templates: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(data_preprocessor, init_cfg, **kwargs)
        self.backbone = _build(backbone)
        templates = dict(dict(type='TemplateBank'), **(templates or {}))
        templates.setdefault('tokenizer', self.backbone.tokenize)
        self.templates = _build(templates)
        if self.templates.num_classes != 2:
            raise ValueError('FLIP needs templates for exactly 2 classes '
                             '[spoof, live], got '
                             f'{self.templates.class_names}')

    def similarity_logits(self, image_embeds: torch.Tensor,
                          class_embeds: torch.Tensor) -> torch.Tensor:
        img = F.normalize(image_embeds, dim=-1)
        return self.backbone.logit_scale.exp() * img @ class_embeds.to(
            img.dtype).t()

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        img = self.backbone.encode_image(inputs)
        return self.similarity_logits(
            img, self.templates.class_embeddings(self.backbone))

    def loss(self, inputs, data_samples: List[DataSample],
             return_terms: bool = False):
        """Cross-entropy; ``return_terms=True`` also returns
        ``dict(logits=(B, 2))``."""
        x = self._views(inputs)
        labels = self.gt_labels(data_samples, x.device)
        logits = self.logits(x)
        losses = dict(loss_ce=F.cross_entropy(logits, labels))
        return (losses, dict(logits=logits)) if return_terms else losses


@MODELS.register_module()
class FLIPMCL(FLIPIT):
    """FLIP-MCL: FLIP-IT cross-entropy on the plain view + SimCLR InfoNCE
    between two augmented views + image-text similarity consistency.

    Inputs in training are three views ``[plain, view1, view2]``
    (``num_views = 3``: ``mcl_train_pipeline`` in
    ``configs/_base_/datasets/fas_pipelines.py``; layout in
    :mod:`mmfas.models.data_preprocessors.multi_view`).

    Consistency (reference semantics): per sample of class c, ``P1`` = 3
    template indices drawn with replacement, ``P2`` = the templates not in
    ``P1``; ``d1 = cos(e1, mean raw template embeds of c over P1)``,
    ``d2 = cos(e2, mean over P2)``, loss = mean ``(d1 - d2)^2``, where
    ``e1``/``e2`` are the raw ``encode_image`` outputs of the two views.
    ``P1`` comes from :meth:`draw_templates` (the model's ``generator``).

    Args:
        backbone (dict): :class:`OpenCLIPBackbone` config.
        templates (dict, optional): :class:`TemplateBank` config.
        projector (dict): SimCLR projection MLP. Defaults to
            ``SimCLRProjector`` 512 -> 4096 -> 4096 -> 256 (``in_channels``
            defaults to the embedding width).
        contrastive_loss (dict): Defaults to ``InfoNCELoss(temperature=0.1)``.
        num_drawn (int): Templates drawn for ``P1``. Defaults to 3.
        loss_weights (dict): Weights of ``ce``, ``simclr``, ``consistency``.
            Defaults to 1.0 each.
    """

    num_views = 3  # [plain, view1, view2]

    def __init__(self, backbone: dict, templates: Optional[dict] = None,
                 projector: Optional[dict] = None,
                 contrastive_loss: Optional[dict] = None,
                 num_drawn: int = 3,
                 loss_weights: Optional[Dict[str, float]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(backbone, templates, data_preprocessor, init_cfg,
                         **kwargs)
        projector = dict(dict(type='SimCLRProjector'), **(projector or {}))
        projector.setdefault('in_channels', self.backbone.embed_dim)
        self.projector = _build(projector)
        self.contrastive_loss = _build(
            contrastive_loss or dict(type='InfoNCELoss', temperature=0.1))
        n_templates = len(self.templates.templates[0])
        if not 1 <= num_drawn < n_templates:
            raise ValueError(f'num_drawn must be in [1, {n_templates - 1}], '
                             f'got {num_drawn}')
        self.num_drawn = num_drawn
        weights = dict(ce=1.0, simclr=1.0, consistency=1.0)
        weights.update(loss_weights or {})
        self.loss_weights = weights

    def draw_templates(self, labels: torch.Tensor,
                       num_templates: int) -> torch.Tensor:
        """``P1``: ``num_drawn`` template indices per sample, drawn with
        replacement, ``(B, num_drawn)``. Override or set ``generator`` to
        fix the draws."""
        return self.draw_randint(num_templates,
                                 (labels.numel(), self.num_drawn),
                                 device=labels.device)

    def consistency_loss(self, e1: torch.Tensor, e2: torch.Tensor,
                         labels: torch.Tensor,
                         template_embeds: torch.Tensor,
                         return_terms: bool = False):
        """Vectorised over the batch; see the class docstring.
        ``return_terms=True`` also returns ``dict(drawn=P1, d1=, d2=)``."""
        n_t = template_embeds.size(1)
        per_sample = template_embeds[labels]  # (B, T, E)
        drawn = self.draw_templates(labels, n_t)
        counts = F.one_hot(drawn, n_t).sum(1).to(per_sample.dtype)  # (B, T)
        rest = (counts == 0).to(per_sample.dtype)
        mean1 = torch.einsum('bt,bte->be', counts / self.num_drawn,
                             per_sample)
        mean2 = torch.einsum('bt,bte->be', rest / rest.sum(1, keepdim=True),
                             per_sample)
        d1 = F.cosine_similarity(e1, mean1.to(e1.dtype), dim=-1)
        d2 = F.cosine_similarity(e2, mean2.to(e2.dtype), dim=-1)
        loss = ((d1 - d2)**2).mean()
        if return_terms:
            return loss, dict(drawn=drawn, d1=d1, d2=d2)
        return loss

    def loss(self, inputs: Union[List[torch.Tensor], torch.Tensor],
             data_samples: List[DataSample], return_terms: bool = False):
        """The three losses; ``return_terms=True`` also returns the terms
        of each branch: ``logits`` (plain view, (B, 2)), ``embeds1`` /
        ``embeds2`` (the SimCLR views' ``encode_image``), ``proj1`` /
        ``proj2`` (projector outputs), ``drawn`` (P1), ``d1`` / ``d2``
        (the consistency cosines)."""
        plain, v1, v2 = self._views(inputs)
        labels = self.gt_labels(data_samples, plain.device)
        raw = self.templates.template_embeddings(self.backbone)  # (2, T, E)
        class_embeds = F.normalize(raw.mean(1), dim=-1)
        logits = self.similarity_logits(self.backbone.encode_image(plain),
                                        class_embeds)
        ce = F.cross_entropy(logits, labels)
        e1 = self.backbone.encode_image(v1)
        e2 = self.backbone.encode_image(v2)
        z1, z2 = self.projector(e1), self.projector(e2)
        simclr = self.contrastive_loss(z1, z2)
        cons, cons_terms = self.consistency_loss(e1, e2, labels, raw,
                                                 return_terms=True)
        w = self.loss_weights
        losses = dict(loss_ce=w['ce'] * ce, loss_simclr=w['simclr'] * simclr,
                      loss_consistency=w['consistency'] * cons)
        if not return_terms:
            return losses
        return losses, dict(logits=logits, embeds1=e1, embeds2=e2,
                            proj1=z1, proj2=z2, **cons_terms)
