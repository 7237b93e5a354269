"""DecorrelationLoss (CM-CLIP's modal generalisation 1)."""
import pytest
import torch
import torch.nn.functional as F

from mmfas.models.losses import DecorrelationLoss
from mmfas.models.losses.decorrelation import pairwise_dependence
from mmfas.registry import MODELS


def _orthogonal_sets(n=2, k=3, e=16, seed=0):
    """Two sets of vectors, every x_i orthogonal to every y_j (and, after
    centring, still orthogonal: the basis is orthogonal to the ones
    vector)."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(e, n + k + 1, generator=g)
    basis[:, 0] = 1.0  # the first column: the constant direction
    q, _ = torch.linalg.qr(basis)
    q = q[:, 1:]  # orthonormal and orthogonal to (1, ..., 1)
    scale = torch.rand(n + k, generator=g) + 0.5
    vecs = (q * scale).t()
    return vecs[:n], vecs[n:]


def test_cosine2_zero_for_orthogonal_and_positive_otherwise():
    x, y = _orthogonal_sets()
    loss = DecorrelationLoss()
    assert loss.mode == 'cosine2'
    assert loss(x, y).abs().item() < 1e-10
    # a shared component makes it positive, and it is the mean cos^2
    y2 = y + 0.3 * x[:1]
    val = loss(x, y2)
    assert val.item() > 1e-3
    cos = F.normalize(x, dim=-1) @ F.normalize(y2, dim=-1).t()
    assert torch.allclose(val, (cos**2).mean(), atol=1e-6)
    # identical directions: 1; the weight scales it
    assert torch.allclose(loss(x[:1], 2 * x[:1]), torch.tensor(1.0))
    assert torch.allclose(DecorrelationLoss(loss_weight=0.5)(x, y2),
                          0.5 * val)


def test_covariance_and_hsic():
    x, y = _orthogonal_sets()
    cov = DecorrelationLoss(mode='covariance')
    assert cov(x, y).abs().item() < 1e-10  # centred vectors orthogonal
    # a common offset along (1, ..., 1): correlated for the cosine, not for
    # the covariance (it is removed by centring)
    xs, ys = x + 0.2, y + 0.2
    assert DecorrelationLoss()(xs, ys).item() > 1e-3
    assert cov(xs, ys).abs().item() < 1e-10
    y2 = y + 0.5 * x[:1]
    assert cov(x, y2).item() > 1e-3
    hsic = DecorrelationLoss(mode='hsic')
    g = torch.Generator().manual_seed(1)
    a = torch.randn(1, 32, generator=g)
    same = hsic(a, a).item()
    indep = hsic(a, torch.randn(1, 32, generator=g)).item()
    assert same > 0 and indep >= 0 and same > 2 * indep
    # a constant vector has no dependence with anything
    const = torch.ones(1, 32)
    assert hsic(a, const).abs().item() < 1e-8
    assert DecorrelationLoss(mode='hsic', hsic_sigma=0.1)(a, a).item() > 0


def test_batched_shapes_and_gradients():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 2, 8, generator=g, requires_grad=True)
    y = torch.randn(4, 3, 8, generator=g)
    for mode in ('cosine2', 'covariance', 'hsic'):
        d = pairwise_dependence(x, y, mode)
        assert d.shape == (4, 2, 3)
        # per image the same as on its own
        assert torch.allclose(d[1], pairwise_dependence(x[1], y[1], mode),
                              atol=1e-6)
        loss = DecorrelationLoss(mode=mode)(x, y)
        grad, = torch.autograd.grad(loss, x)
        assert grad.abs().sum() > 0


def test_errors_and_registry():
    with pytest.raises(ValueError, match='mode'):
        DecorrelationLoss(mode='pearson')
    with pytest.raises(ValueError, match='hsic_sigma'):
        DecorrelationLoss(mode='hsic', hsic_sigma=0.0)
    with pytest.raises(ValueError, match='same leading dims'):
        DecorrelationLoss()(torch.randn(2, 8), torch.randn(3, 4))
    with pytest.raises(ValueError, match='same leading dims'):
        DecorrelationLoss()(torch.randn(2, 2, 8), torch.randn(3, 3, 8))
    built = MODELS.build(dict(type='DecorrelationLoss', mode='covariance',
                              loss_weight=2.0))
    assert built.mode == 'covariance' and built.loss_weight == 2.0
