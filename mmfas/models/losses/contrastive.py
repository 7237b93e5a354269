import torch
import torch.nn as nn
import torch.nn.functional as F

from mmfas.registry import MODELS


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    """SimCLR's NT-Xent loss between two views.

    For a batch of B pairs ``(z1[i], z2[i])`` the 2B embeddings are
    L2-normalised; each one's positive is its pair, the negatives are the
    other 2B - 2 embeddings; cross-entropy over cosine / temperature.

    Args:
        temperature (float): Fixed temperature (FLIP-MCL: 0.1, not the CLIP
            logit scale). Defaults to 0.1.
        loss_weight (float): Defaults to 1.0.
    """

    def __init__(self, temperature: float = 0.1, loss_weight: float = 1.0):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'InfoNCELoss: temperature must be > 0, got '
                             f'{temperature}')
        self.temperature = temperature
        self.loss_weight = loss_weight

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        if z1.shape != z2.shape:
            raise ValueError(f'InfoNCELoss: view shapes differ {z1.shape} vs '
                             f'{z2.shape}')
        b = z1.size(0)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        sim = z @ z.t() / self.temperature
        sim = sim.masked_fill(torch.eye(2 * b, dtype=torch.bool,
                                        device=z.device), float('-inf'))
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)]).to(
            z.device)
        return self.loss_weight * F.cross_entropy(sim, target)
