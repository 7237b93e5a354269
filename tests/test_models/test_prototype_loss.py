"""issue 14 (LPI): PrototypeContrastiveLoss on hand-made features, its EMA
update, asymmetric per-domain prototypes, and the all-reduced update on two
gloo processes."""
import math
import os.path as osp

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mmfas.models.losses import PrototypeContrastiveLoss
from mmfas.registry import MODELS
from mmfas.utils import register_all_modules

register_all_modules(init_default_scope=False)


def _unit(*rows):
    t = torch.tensor(rows, dtype=torch.float32)
    return t / t.norm(dim=1, keepdim=True)


def _ema_loss(**kwargs):
    return PrototypeContrastiveLoss(feat_dim=2, **kwargs)


def test_registered():
    loss = MODELS.build(dict(type='PrototypeContrastiveLoss', feat_dim=4))
    assert isinstance(loss, PrototypeContrastiveLoss)
    assert loss.prototypes.shape == (2, 4) and not loss.seen.any()


def test_value_and_gradient_on_hand_made_features():
    tau = 0.5
    loss_fn = _ema_loss(temperature=tau, loss_weight=2.0).eval()
    # prototypes [spoof, live]: the x axis and the y axis (stored unnormed)
    loss_fn.prototypes.copy_(torch.tensor([[3.0, 0.0], [0.0, 0.5]]))
    loss_fn.seen.fill_(True)
    angles = [0.3, 2.0, -0.4]
    f = torch.tensor([[math.cos(a), math.sin(a)] for a in angles],
                     requires_grad=True)
    labels = torch.tensor([0, 1, 1])
    out = loss_fn(f, labels)

    # by hand: cos to [1, 0] is cos(a), to [0, 1] is sin(a)
    expected, grads = 0.0, []
    for a, y in zip(angles, labels.tolist()):
        z = [math.cos(a) / tau, math.sin(a) / tau]
        lse = math.log(math.exp(z[0]) + math.exp(z[1]))
        expected += lse - z[y]
        p = [math.exp(v - lse) for v in z]
        # dL/dz_k = p_k - [k == y]; dz/df = P / tau, projected on the
        # tangent of the unit circle at f (f is unit-norm)
        g = torch.tensor([(p[0] - (y == 0)) / tau, (p[1] - (y == 1)) / tau])
        fv = torch.tensor([math.cos(a), math.sin(a)])
        grads.append(g - (g @ fv) * fv)
    expected = 2.0 * expected / len(angles)
    assert out.item() == pytest.approx(expected, rel=1e-5)
    out.backward()
    torch.testing.assert_close(f.grad, 2.0 * torch.stack(grads) / 3,
                               rtol=1e-5, atol=1e-6)
    # eval mode: prototypes are untouched
    torch.testing.assert_close(loss_fn.prototypes,
                               torch.tensor([[3.0, 0.0], [0.0, 0.5]]))


def test_ema_update_first_sets_mean_then_moves_by_momentum():
    m = 0.75
    loss_fn = _ema_loss(momentum=m).train()
    f1 = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, -3.0]])
    loss_fn.update(f1, torch.tensor([1, 1, 1]))
    # only live seen; its prototype is the mean of the normalised features
    assert loss_fn.seen.tolist() == [False, True]
    torch.testing.assert_close(loss_fn.prototypes,
                               torch.tensor([[0.0, 0.0], [1 / 3, 0.0]]))
    f2 = _unit([1.0, 1.0], [1.0, 0.0], [0.0, 1.0])
    loss_fn.update(f2, torch.tensor([0, 1, 1]))
    live = m * torch.tensor([1 / 3, 0.0]) + (1 - m) * torch.tensor([.5, .5])
    torch.testing.assert_close(loss_fn.prototypes[1], live)
    torch.testing.assert_close(loss_fn.prototypes[0], f2[0])  # first time
    # the loss in training mode updates first, then scores
    before = loss_fn.prototypes.clone()
    feats = _unit([0.2, 1.0], [1.0, -0.1])
    labels = torch.tensor([1, 0])
    value = loss_fn(feats, labels)
    after = loss_fn.prototypes.clone()
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after[0], m * before[0] + (1 - m) * feats[1])
    ref = _ema_loss(momentum=m).eval()
    ref.prototypes.copy_(after)
    ref.seen.fill_(True)
    assert value.item() == pytest.approx(ref(feats, labels).item())


def test_unseen_prototype_left_out_and_eval_needs_seen():
    loss_fn = _ema_loss(temperature=0.1).train()
    f = _unit([1.0, 0.2], [0.8, 0.3])
    out = loss_fn(f, torch.tensor([1, 1]))  # spoof never seen
    # one prototype in the denominator: the loss is exactly 0
    assert out.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(out)
    loss_fn.eval()
    with pytest.raises(ValueError, match='not been seen'):
        loss_fn(f, torch.tensor([0, 1]))


def test_asymmetric_prototypes_per_domain():
    loss_fn = PrototypeContrastiveLoss(
        feat_dim=2, asymmetric=True, num_domains=3, momentum=0.5).train()
    assert loss_fn.num_prototypes == 4 and loss_fn.live_index == 3
    labels = torch.tensor([0, 0, 1, 1, 0])
    domains = torch.tensor([0, 2, 0, 2, 0])
    idx = loss_fn.prototype_index(labels, domains)
    assert idx.tolist() == [0, 2, 3, 3, 0]
    f = _unit([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0], [0.6, 0.8])
    loss_fn(f, labels, domains)
    # spoof of domain 0 = mean of samples 0 and 4; domain 1 unseen; domain
    # 2 = sample 1; live = mean of samples 2 and 3
    assert loss_fn.seen.tolist() == [True, False, True, True]
    torch.testing.assert_close(loss_fn.prototypes[0], (f[0] + f[4]) / 2)
    torch.testing.assert_close(loss_fn.prototypes[1], torch.zeros(2))
    torch.testing.assert_close(loss_fn.prototypes[2], f[1])
    torch.testing.assert_close(loss_fn.prototypes[3], (f[2] + f[3]) / 2)
    # the unseen domain-1 prototype is not a negative
    logits = loss_fn.prototype_logits(f)
    assert torch.isinf(logits[:, 1]).all() and torch.isfinite(
        logits[:, [0, 2, 3]]).all()
    # a spoof sample's negatives include the other domains' spoofs
    p = torch.nn.functional.normalize(loss_fn.prototypes[[0, 2, 3]], dim=-1)
    z = f[1] @ p.t() / 0.1
    expected = torch.logsumexp(z, 0) - z[1]
    one = loss_fn.eval()(f[1:2], labels[1:2], domains[1:2])
    assert one.item() == pytest.approx(expected.item(), abs=1e-6)


def test_asymmetric_errors():
    with pytest.raises(ValueError, match='num_domains'):
        PrototypeContrastiveLoss(feat_dim=2, asymmetric=True)
    with pytest.raises(ValueError, match='asymmetric'):
        PrototypeContrastiveLoss(prototypes='text', asymmetric=True,
                                 num_domains=2)
    loss_fn = PrototypeContrastiveLoss(feat_dim=2, asymmetric=True,
                                       num_domains=2)
    f = _unit([1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match='domain_label'):
        loss_fn(f, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r'domain_label \[2\]'):
        loss_fn(f, torch.tensor([0, 1]), torch.tensor([0, 2]))
    with pytest.raises(ValueError, match='labels must be'):
        loss_fn(f, torch.tensor([0, 2]), torch.tensor([0, 1]))


def test_learnable_prototypes_get_gradients():
    torch.manual_seed(0)
    loss_fn = PrototypeContrastiveLoss(feat_dim=3, prototypes='learnable')
    assert isinstance(loss_fn.prototypes, torch.nn.Parameter)
    f = torch.randn(4, 3, requires_grad=True)
    out = loss_fn.train()(f, torch.tensor([0, 1, 0, 1]))
    out.backward()
    assert loss_fn.prototypes.grad.abs().sum() > 0
    assert f.grad.abs().sum() > 0
    assert loss_fn.seen.all()


def test_text_prototypes_and_text_term():
    tau = 0.2
    f = _unit([1.0, 0.3], [0.2, 1.0])
    labels = torch.tensor([0, 1])
    text = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    loss_fn = PrototypeContrastiveLoss(prototypes='text', temperature=tau)
    z = f @ torch.nn.functional.normalize(text, dim=-1).t() / tau
    expected = torch.nn.functional.cross_entropy(z, labels)
    assert loss_fn(f, labels, text_features=text).item() == \
        pytest.approx(expected.item(), rel=1e-6)
    # per-image text features (B, C, E)
    per_image = text.unsqueeze(0).repeat(2, 1, 1)
    assert loss_fn(f, labels, text_features=per_image).item() == \
        pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match='text_features'):
        loss_fn(f, labels)
    # EMA prototypes + text term
    ema = PrototypeContrastiveLoss(feat_dim=2, temperature=tau,
                                   text_weight=0.5).eval()
    ema.prototypes.copy_(text)
    ema.seen.fill_(True)
    assert ema(f, labels, text_features=text).item() == pytest.approx(
        1.5 * expected.item(), rel=1e-6)


def test_prototypes_in_state_dict_and_restored():
    loss_fn = _ema_loss().train()
    loss_fn(_unit([1.0, 0.0], [0.0, 1.0]), torch.tensor([0, 1]))
    sd = loss_fn.state_dict()
    assert set(sd) == {'prototypes', 'seen'}
    fresh = _ema_loss()
    fresh.load_state_dict(sd)
    torch.testing.assert_close(fresh.prototypes, loss_fn.prototypes)
    assert fresh.seen.all()


# ------------------------------------------------------------ distributed
def _worker(rank, world, init_file, out_dir, feats, labels, domains):
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=world)
    try:
        torch.manual_seed(0)
        for asym in (False, True):
            loss_fn = PrototypeContrastiveLoss(
                feat_dim=feats.shape[-1], momentum=0.8, asymmetric=asym,
                num_domains=3 if asym else None).train()
            half = slice(rank * 4, rank * 4 + 4)
            for step in range(2):  # two steps: first set, then EMA
                f = feats[step][half].clone().requires_grad_(True)
                loss_fn(f, labels[step][half],
                        domains[step][half] if asym else None).backward()
            torch.save(dict(loss_fn.state_dict()),
                       osp.join(out_dir, f'{rank}_{int(asym)}.pt'))
    finally:
        dist.destroy_process_group()


def test_update_all_reduced_on_two_gloo_processes(tmp_path):
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(2, 8, 5, generator=g)
    # each rank's half misses a class or domain the other half has
    labels = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 0],
                           [1, 1, 0, 1, 0, 0, 1, 1]])
    domains = torch.tensor([[0, 1, 0, 1, 2, 2, 0, 2],
                            [0, 0, 1, 0, 1, 2, 2, 1]])
    mp.spawn(_worker, args=(2, str(tmp_path / 'init'), str(tmp_path), feats,
                            labels, domains), nprocs=2, join=True)
    for asym in (0, 1):
        r0 = torch.load(tmp_path / f'0_{asym}.pt')
        r1 = torch.load(tmp_path / f'1_{asym}.pt')
        assert torch.equal(r0['prototypes'], r1['prototypes'])
        assert torch.equal(r0['seen'], r1['seen'])
        single = PrototypeContrastiveLoss(
            feat_dim=5, momentum=0.8, asymmetric=bool(asym),
            num_domains=3 if asym else None).train()
        for step in range(2):
            single.update(feats[step], labels[step],
                          domains[step] if asym else None)
        torch.testing.assert_close(r0['prototypes'], single.prototypes,
                                   rtol=1e-6, atol=1e-6)
        assert torch.equal(r0['seen'], single.seen)
        # and not what one rank's half alone gives
        alone = PrototypeContrastiveLoss(
            feat_dim=5, momentum=0.8, asymmetric=bool(asym),
            num_domains=3 if asym else None).train()
        for step in range(2):
            alone.update(feats[step][:4], labels[step][:4],
                         domains[step][:4] if asym else None)
        assert not torch.allclose(r0['prototypes'], alone.prototypes)
