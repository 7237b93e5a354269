"""Decorrelation between two sets of feature vectors (CM-CLIP's modal
generalisation 1: content-prompt vs modality-prompt text features).

:class:`DecorrelationLoss` takes ``x`` ``(..., N, E)`` and ``y``
``(..., K, E)`` (same leading dimensions, e.g. a batch of per-image text
features) and averages a dependence measure ``d(x_i, y_j)`` over every pair
``(i, j)`` (and the leading dimensions). The measures (our design where
CM-CLIP's description leaves it open: "the squared cosine (or covariance /
HSIC)"):

* ``'cosine2'`` (default): ``cos(x_i, y_j)^2``; 0 iff the two vectors are
  orthogonal, at most 1.
* ``'covariance'``: the squared covariance of the two L2-normalised vectors
  with their ``E`` coordinates as paired observations, scaled by ``E`` so
  it is ``((a - mean a) . (b - mean b))^2`` for the normalised ``a, b``: the
  squared cosine of the centred vectors times their squared norms; 0 iff the
  centred vectors are orthogonal, at most 1.
* ``'hsic'``: the biased HSIC estimator (Gretton et al. 2005)
  ``tr(K H L H) / (E - 1)^2`` between the coordinates of the normalised
  ``a`` and ``b`` as ``E`` paired scalar observations, Gaussian kernels
  whose bandwidth is the median pairwise distance (or ``hsic_sigma``); a
  non-linear dependence measure, >= 0, 0 when one vector is constant.

The features are the text embeddings of the prompts; none of the measures
needs a batch of paired samples, so they work on the ``(C, E)`` / ``(M, E)``
class and modality features of a non-conditional prompt learner too.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from mmfas.registry import MODELS

__all__ = ['DecorrelationLoss', 'DECORRELATION_MODES', 'pairwise_dependence']

DECORRELATION_MODES = ('cosine2', 'covariance', 'hsic')


def _gaussian_gram(v: torch.Tensor, sigma: Optional[float]) -> torch.Tensor:
    """(..., E) scalars -> (..., E, E) Gaussian kernel matrices."""
    d2 = (v.unsqueeze(-1) - v.unsqueeze(-2))**2
    if sigma is None:
        # median heuristic on the off-diagonal distances (detached)
        e = v.shape[-1]
        off = ~torch.eye(e, dtype=torch.bool, device=v.device)
        med = d2.detach()[..., off].median(dim=-1).values
        s2 = med.clamp_min(1e-12)[..., None, None]
    else:
        s2 = torch.as_tensor(float(sigma)**2, dtype=v.dtype,
                             device=v.device)
    return torch.exp(-d2 / (2 * s2))


def pairwise_dependence(x: torch.Tensor, y: torch.Tensor,
                        mode: str = 'cosine2',
                        hsic_sigma: Optional[float] = None) -> torch.Tensor:
    """``d(x_i, y_j)`` for every pair: ``(..., N, K)`` (see the module
    docstring for the modes)."""
    if mode not in DECORRELATION_MODES:
        raise ValueError(f'decorrelation mode={mode!r}; choose from '
                         f'{DECORRELATION_MODES}')
    if x.shape[-1] != y.shape[-1] or x.shape[:-2] != y.shape[:-2]:
        raise ValueError(f'decorrelation: features {tuple(x.shape)} and '
                         f'{tuple(y.shape)} must be (..., N, E) and '
                         '(..., K, E) with the same leading dims and E')
    a = F.normalize(x.float(), dim=-1)
    b = F.normalize(y.float(), dim=-1)
    if mode == 'cosine2':
        return (a @ b.transpose(-1, -2))**2
    if mode == 'covariance':
        a = a - a.mean(-1, keepdim=True)
        b = b - b.mean(-1, keepdim=True)
        return (a @ b.transpose(-1, -2))**2
    # hsic: every (i, j) pair of kernel matrices
    e = a.shape[-1]
    if e < 2:
        raise ValueError('decorrelation hsic needs E >= 2 coordinates')
    h = torch.eye(e, device=a.device) - 1.0 / e
    k = h @ _gaussian_gram(a, hsic_sigma) @ h  # (..., N, E, E) centred
    l_ = _gaussian_gram(b, hsic_sigma)  # (..., K, E, E)
    # tr(HKH L) = sum of the elementwise product (both symmetric)
    return torch.einsum('...npq,...kpq->...nk', k, l_) / (e - 1)**2


@MODELS.register_module()
class DecorrelationLoss(nn.Module):
    """Mean pairwise dependence between two feature sets, times a weight.

    Args:
        mode (str): ``'cosine2'``, ``'covariance'`` or ``'hsic'`` (module
            docstring). Defaults to ``'cosine2'``.
        loss_weight (float): Defaults to 1.0.
        hsic_sigma (float, optional): Fixed Gaussian bandwidth for
            ``'hsic'``; None: the median heuristic. Defaults to None.
    """

    def __init__(self, mode: str = 'cosine2', loss_weight: float = 1.0,
                 hsic_sigma: Optional[float] = None):
        super().__init__()
        if mode not in DECORRELATION_MODES:
            raise ValueError(f'DecorrelationLoss: mode={mode!r}; choose from '
                             f'{DECORRELATION_MODES}')
        if hsic_sigma is not None and hsic_sigma <= 0:
            raise ValueError(f'DecorrelationLoss: hsic_sigma must be > 0, '
                             f'got {hsic_sigma}')
        self.mode = mode
        self.loss_weight = loss_weight
        self.hsic_sigma = hsic_sigma

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """
        Args:
            x (Tensor): (..., N, E), e.g. content (category) prompt features.
            y (Tensor): (..., K, E), e.g. modality prompt features.

        Returns:
            Tensor: scalar, ``loss_weight * mean d(x_i, y_j)``.
        """
        d = pairwise_dependence(x, y, self.mode, self.hsic_sigma)
        return self.loss_weight * d.mean().to(x.dtype)

    def extra_repr(self) -> str:
        return f'mode={self.mode!r}, loss_weight={self.loss_weight}'
