"""SLIP's loss terms (AAAI 2025), on channel-normalised feature maps.

All maps are ``(B, E, h, w)`` and L2-normalised over channels at every
location, so ``cos(a, b)`` is the per-location dot product, averaged over
locations and the batch (:func:`map_cos`). Cue maps are ``(B, 1, S, S)``.

Terms (weights 1 except the feature terms, 0.8 in SLIP):

* ``L_L``  live:  ``MSE(D(z), 0) + MSE(D(t1), 0)``
* ``L_S``  spoof: ``MSE(D(t2), m)``
* ``L_FA`` alignment: ``-cos(z, t1) + cos(z, t2)``
* ``L_FD`` disentanglement of live / spoof / content prompt maps: mean over
  the three pairs of ``|cos|`` (default) or ``cos^2``. The official code
  uses the signed cosine, whose optimum is anti-correlation, not
  independence (``mode='signed'`` reproduces it).
* ``L_R``  fusion: ``1 - cos(t4, R(t1, t2))``. The official code has the
  sign inverted (``cos - 1``: it pushes the fused map *away* from the
  hybrid prompt); ``reference=True`` reproduces it.
* ``L_A``  augmentation: ``MSE(D(R(z, t2)), m)``.
"""
from itertools import combinations
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = ['map_cos', 'live_loss', 'spoof_loss', 'alignment_loss',
           'disentangle_loss', 'fusion_loss', 'augmentation_loss',
           'FD_MODES']

FD_MODES = ('abs', 'square', 'signed')


def map_cos(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean cosine over locations of two ``(B, E, h, w)`` maps (normalised
    here again, so unnormalised inputs are fine)."""
    if a.shape != b.shape:
        raise ValueError(f'map_cos: shapes differ {tuple(a.shape)} vs '
                         f'{tuple(b.shape)}')
    return F.cosine_similarity(a, b, dim=1, eps=1e-8).mean()


def live_loss(d_z: torch.Tensor, d_t1: torch.Tensor = None) -> torch.Tensor:
    """``L_L``: live images and live prompts decode to all-zero maps."""
    loss = F.mse_loss(d_z, torch.zeros_like(d_z))
    if d_t1 is not None:
        loss = loss + F.mse_loss(d_t1, torch.zeros_like(d_t1))
    return loss


def spoof_loss(d_t2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``L_S``: a spoof prompt decodes to its region's cue map."""
    return F.mse_loss(d_t2, target)


def alignment_loss(z, t1, t2) -> torch.Tensor:
    """``L_FA = -cos(z, t1) + cos(z, t2)`` (live image toward the live
    prompt, away from the spoof prompt)."""
    return -map_cos(z, t1) + map_cos(z, t2)


def disentangle_loss(maps: Sequence[torch.Tensor],
                     mode: str = 'abs') -> torch.Tensor:
    """``L_FD``: mean over pairs of ``|cos|``, ``cos^2`` or the signed
    cosine (official) of the given prompt maps (t1, t2, t3)."""
    if mode not in FD_MODES:
        raise ValueError(f'disentangle_loss: mode must be one of {FD_MODES}, '
                         f'got {mode!r}')
    if len(maps) < 2:
        raise ValueError('disentangle_loss needs at least two maps')
    terms = []
    for a, b in combinations(maps, 2):
        c = F.cosine_similarity(a, b, dim=1, eps=1e-8)
        if mode == 'abs':
            c = c.abs()
        elif mode == 'square':
            c = c.pow(2)
        terms.append(c.mean())
    return torch.stack(terms).mean()


def fusion_loss(t4, fused, reference: bool = False) -> torch.Tensor:
    """``L_R = 1 - cos(t4, R(t1, t2))``; ``reference=True``: the official
    code's inverted sign, ``cos - 1``."""
    c = map_cos(t4, fused)
    return c - 1 if reference else 1 - c


def augmentation_loss(d_fused: torch.Tensor,
                      target: torch.Tensor) -> torch.Tensor:
    """``L_A``: pseudo-spoof features ``R(z, t2)`` decode to the cue map."""
    return F.mse_loss(d_fused, target)
