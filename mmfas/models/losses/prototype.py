"""Prototype-based contrastive loss of LPI (``docs/methods/lpi.md``).

For an L2-normalised image feature ``f`` with positive prototype ``p_y``::

    L_pcl = -log( exp(cos(f, p_y) / tau) / sum_k exp(cos(f, p_k) / tau) )

averaged over the batch; the sum runs over the prototypes that have been
seen (see below). The paper gives no code; every choice here is ours
**(design)** and a switch:

* ``prototypes='ema'``: each prototype is an exponential moving average of
  the batch means of the normalised features assigned to it,
  ``p <- m p + (1 - m) mean`` (``momentum`` m); the first batch that holds a
  prototype's samples sets it to their mean. The update runs in training
  mode *before* the loss is computed (the prototypes then include the
  current batch, detached), so every sample's positive prototype exists from
  the first step. Per-prototype feature sums and counts are all-reduced
  across processes before the update, so every rank holds identical
  prototypes, equal to the single-process update on the concatenated batch.
  They are persistent buffers: in every checkpoint, restored on resume.
* ``prototypes='learnable'``: the prototypes are parameters trained by the
  loss (initialised as random unit vectors).
* ``prototypes='text'``: the class text features passed in are the
  prototypes (symmetric only); the loss is then a cross-entropy over
  ``cos(f, t_c) / tau``.
* ``text_weight`` > 0 adds that text term to an ``'ema'`` / ``'learnable'``
  loss (image features pulled toward their class text feature as well).
* ``asymmetric=False``: one prototype per class, ``[spoof, live]`` (the
  score rule's class order). ``asymmetric=True``: one spoof prototype per
  source domain and one live prototype, ``[spoof_0 .. spoof_{D-1}, live]``;
  the domain of a sample is its data sample's ``domain_label``. The spoof
  prototypes of the other domains are negatives of a spoof sample, so spoof
  stays dispersed across domains while live is pulled to one compact
  prototype.

A prototype no sample has reached yet (``seen`` is False: e.g. the spoof
prototype of a domain absent from training when ``num_domains`` is larger
than the number of source domains) is left out of the denominator; the
``seen`` flags are all-reduced and checkpointed with the prototypes.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from mmengine import dist
from torch import nn

from mmfas.registry import MODELS
from mmfas.structures import score_rule

__all__ = ['PrototypeContrastiveLoss']

MODES = ('ema', 'learnable', 'text')


@MODELS.register_module()
class PrototypeContrastiveLoss(nn.Module):
    """Prototype-based contrastive loss (see the module docstring).

    Args:
        feat_dim (int, optional): Feature size E; required unless
            ``prototypes='text'`` (LPI fills in the CLIP embedding size).
        prototypes (str): ``'ema'``, ``'learnable'`` or ``'text'``. Defaults
            to ``'ema'``.
        momentum (float): EMA momentum m in ``[0, 1)``. Defaults to 0.9.
        asymmetric (bool): One spoof prototype per source domain and one
            live prototype. Defaults to False.
        num_domains (int, optional): Source domains D (asymmetric only;
            ``domain_label`` must be below it).
        temperature (float): tau. Defaults to 0.1.
        text_weight (float): Weight of the text-prototype term added to an
            ``'ema'`` / ``'learnable'`` loss. Defaults to 0.
        loss_weight (float): lambda of ``CE + lambda * L_pcl``. Defaults to
            1.0.

    Attributes:
        prototypes (Tensor): (K, E) buffer (``'ema'``) or parameter
            (``'learnable'``); K = 2, or D + 1 when asymmetric.
        seen (Tensor): (K, ) bool buffer, whether a sample has reached each
            prototype.
    """

    def __init__(self,
                 feat_dim: Optional[int] = None,
                 prototypes: str = 'ema',
                 momentum: float = 0.9,
                 asymmetric: bool = False,
                 num_domains: Optional[int] = None,
                 temperature: float = 0.1,
                 text_weight: float = 0.0,
                 loss_weight: float = 1.0):
        super().__init__()
        if prototypes not in MODES:
            raise ValueError(f'PrototypeContrastiveLoss: prototypes='
                             f'{prototypes!r}; choose from {MODES}')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'PrototypeContrastiveLoss: momentum must be in '
                             f'[0, 1), got {momentum}')
        if temperature <= 0:
            raise ValueError(f'PrototypeContrastiveLoss: temperature must be '
                             f'> 0, got {temperature}')
        if text_weight < 0:
            raise ValueError(f'PrototypeContrastiveLoss: text_weight must be '
                             f'>= 0, got {text_weight}')
        if asymmetric:
            if prototypes == 'text':
                raise ValueError(
                    'PrototypeContrastiveLoss: asymmetric=True needs '
                    "prototypes='ema' or 'learnable' (text features give one "
                    'prototype per class, not per domain)')
            if not isinstance(num_domains, int) or isinstance(
                    num_domains, bool) or num_domains < 1:
                raise ValueError(
                    'PrototypeContrastiveLoss: asymmetric=True needs '
                    f'num_domains (the source domains), got {num_domains!r}')
        elif num_domains is not None:
            raise ValueError('PrototypeContrastiveLoss: num_domains is only '
                             'used with asymmetric=True')
        self.mode = prototypes
        self.momentum = float(momentum)
        self.asymmetric = bool(asymmetric)
        self.num_domains = num_domains
        self.temperature = float(temperature)
        self.text_weight = float(text_weight)
        self.loss_weight = float(loss_weight)
        self.feat_dim = feat_dim
        if prototypes == 'text':
            return
        if not isinstance(feat_dim, int) or feat_dim < 1:
            raise ValueError(f'PrototypeContrastiveLoss: feat_dim is needed '
                             f'for prototypes={prototypes!r}, got '
                             f'{feat_dim!r}')
        k = self.num_prototypes
        if prototypes == 'ema':
            self.register_buffer('prototypes', torch.zeros(k, feat_dim))
        else:
            self.prototypes = nn.Parameter(
                F.normalize(torch.randn(k, feat_dim), dim=-1))
        self.register_buffer('seen', torch.zeros(k, dtype=torch.bool))

    # ------------------------------------------------------------ structure
    @property
    def num_prototypes(self) -> int:
        return self.num_domains + 1 if self.asymmetric else len(
            score_rule.CLASSES)

    @property
    def uses_domains(self) -> bool:
        """Whether :meth:`forward` needs ``domain_labels``."""
        return self.asymmetric

    @property
    def live_index(self) -> int:
        """Index of the live prototype."""
        return self.num_domains if self.asymmetric else score_rule.LIVE_INDEX

    def prototype_index(self, labels: torch.Tensor,
                        domain_labels: Optional[torch.Tensor] = None
                        ) -> torch.Tensor:
        """(B, ) index of each sample's positive prototype: its label
        (symmetric), or its domain for spoof and ``D`` for live
        (asymmetric)."""
        labels = labels.reshape(-1).long()
        bad = (labels != score_rule.SPOOF_INDEX) & (
            labels != score_rule.LIVE_INDEX)
        if bool(bad.any()):
            raise ValueError(f'PrototypeContrastiveLoss: labels must be '
                             f'{score_rule.SPOOF_INDEX} (spoof) or '
                             f'{score_rule.LIVE_INDEX} (live), got '
                             f'{labels[bad].unique().tolist()}')
        if not self.asymmetric:
            return labels
        if domain_labels is None:
            raise ValueError(
                'PrototypeContrastiveLoss: asymmetric prototypes need the '
                "samples' domain_label (FASDataset sets it)")
        domains = domain_labels.reshape(-1).long().to(labels.device)
        if domains.numel() != labels.numel():
            raise ValueError(f'PrototypeContrastiveLoss: {domains.numel()} '
                             f'domain labels for {labels.numel()} samples')
        out = (domains < 0) | (domains >= self.num_domains)
        if bool(out.any()):
            raise ValueError(
                f'PrototypeContrastiveLoss: domain_label '
                f'{domains[out].unique().tolist()} outside 0..'
                f'{self.num_domains - 1}; set num_domains to the number of '
                'source domains')
        return torch.where(labels == score_rule.LIVE_INDEX,
                           torch.full_like(domains, self.live_index), domains)

    # --------------------------------------------------------------- update
    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor,
               domain_labels: Optional[torch.Tensor] = None) -> None:
        """One update from a batch (all-reduced across processes): the
        ``seen`` flags, and for ``'ema'`` the moving averages."""
        if self.mode == 'text':
            return
        index = self.prototype_index(labels, domain_labels)
        f = F.normalize(features.detach().float(), dim=-1)
        k, e = self.num_prototypes, f.shape[-1]
        stats = f.new_zeros(k, e + 1)
        stats[:, :e].index_add_(0, index, f)
        stats[:, e].index_add_(0, index, f.new_ones(index.numel()))
        dist.all_reduce(stats, op='sum')
        counts = stats[:, e]
        present = counts > 0
        if self.mode == 'ema':
            means = stats[:, :e] / counts.clamp(min=1).unsqueeze(1)
            old = self.prototypes.float()
            ema = self.momentum * old + (1 - self.momentum) * means
            new = torch.where(self.seen.unsqueeze(1), ema, means)
            self.prototypes.copy_(
                torch.where(present.unsqueeze(1), new, old).to(
                    self.prototypes.dtype))
        self.seen |= present

    # ----------------------------------------------------------------- loss
    def prototype_logits(self, features: torch.Tensor) -> torch.Tensor:
        """(B, K) ``cos(f, p_k) / tau``, ``-inf`` for unseen prototypes."""
        f = F.normalize(features.float(), dim=-1)
        p = F.normalize(self.prototypes.float(), dim=-1)
        logits = f @ p.t() / self.temperature
        return logits.masked_fill(~self.seen.unsqueeze(0), float('-inf'))

    def text_logits(self, features: torch.Tensor,
                    text_features: Optional[torch.Tensor]) -> torch.Tensor:
        """(B, 2) ``cos(f, t_c) / tau`` for class text features ``(2, E)``
        or per image ``(B, 2, E)``."""
        if text_features is None:
            raise ValueError(
                f'PrototypeContrastiveLoss: prototypes={self.mode!r} with '
                f'text_weight={self.text_weight} needs text_features')
        f = F.normalize(features.float(), dim=-1)
        t = F.normalize(text_features.float(), dim=-1)
        n_cls = len(score_rule.CLASSES)
        if t.dim() == 2 and t.shape[0] == n_cls:
            return f @ t.t() / self.temperature
        if t.dim() == 3 and t.shape[:2] == (f.shape[0], n_cls):
            return torch.einsum('be,bce->bc', f, t) / self.temperature
        raise ValueError(f'PrototypeContrastiveLoss: text_features of shape '
                         f'{tuple(text_features.shape)}; expected ({n_cls}, '
                         f'E) or (B, {n_cls}, E) for {f.shape[0]} features')

    def forward(self,
                features: torch.Tensor,
                labels: torch.Tensor,
                domain_labels: Optional[torch.Tensor] = None,
                text_features: Optional[torch.Tensor] = None
                ) -> torch.Tensor:
        """``loss_weight * L_pcl`` for (B, E) features (normalised here).

        In training mode (``self.training``) the prototypes are updated from
        this batch first (``'ema'`` / ``'learnable'``).
        """
        if features.dim() != 2 or (self.feat_dim is not None
                                   and features.shape[1] != self.feat_dim):
            raise ValueError(f'PrototypeContrastiveLoss: features of shape '
                             f'{tuple(features.shape)}; expected (B, '
                             f'{self.feat_dim or "E"})')
        labels = labels.reshape(-1).long().to(features.device)
        if labels.numel() != features.shape[0]:
            raise ValueError(f'PrototypeContrastiveLoss: {labels.numel()} '
                             f'labels for {features.shape[0]} features')
        if self.mode == 'text':
            self.prototype_index(labels)  # label check
            loss = F.cross_entropy(self.text_logits(features, text_features),
                                   labels)
            return self.loss_weight * loss
        index = self.prototype_index(labels, domain_labels)
        if self.training:
            self.update(features, labels, domain_labels)
        missing = ~self.seen[index]
        if bool(missing.any()):
            raise ValueError(
                f'PrototypeContrastiveLoss: prototypes '
                f'{index[missing].unique().tolist()} have not been seen yet '
                '(the loss in eval mode needs a trained prototype for '
                'every sample)')
        loss = F.cross_entropy(self.prototype_logits(features), index)
        if self.text_weight > 0:
            loss = loss + self.text_weight * F.cross_entropy(
                self.text_logits(features, text_features), labels)
        return self.loss_weight * loss

    def extra_repr(self) -> str:
        return (f'prototypes={self.mode!r}, asymmetric={self.asymmetric}, '
                f'num_domains={self.num_domains}, momentum={self.momentum}, '
                f'temperature={self.temperature}, text_weight='
                f'{self.text_weight}, loss_weight={self.loss_weight}')
