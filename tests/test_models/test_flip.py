"""FLIP-V / FLIP-IT / FLIP-MCL against docs/methods/flip.md."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfas.models.classifiers import FLIPIT, FLIPMCL, FLIPV
from mmfas.models.heads import FLIPVHead
from mmfas.models.losses import InfoNCELoss
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules()

TINY = tiny_backbone_cfg()


def _samples(labels):
    return [DataSample().set_gt_label(int(y)) for y in labels]


def _inputs(b=4):
    torch.manual_seed(1)
    return torch.randn(b, 3, 32, 32)


def test_flipv_head_column_norm_written_back():
    torch.manual_seed(0)
    head = FLIPVHead(in_channels=8, hidden_channels=6, dropout=0.0)
    assert torch.allclose(head.bottleneck.bias, torch.full((6, ), 0.1))
    x = torch.randn(3, 8)
    out = head(x)
    assert out.shape == (3, 2)
    # every input column of the 2 x 6 weight has unit norm (dim 0)
    assert torch.allclose(head.classifier.weight.norm(dim=0),
                          torch.ones(6), atol=1e-6)
    # the forward used f / (sqrt(||f||) sqrt(2))
    f = F.relu(head.bottleneck(x))
    f = f / (f.norm(dim=1, keepdim=True).sqrt() * 2**0.5)
    assert torch.allclose(out, head.classifier(f), atol=1e-6)
    rows = FLIPVHead(in_channels=8, hidden_channels=6, column_norm=False)
    w = rows.classifier.weight.clone()
    rows(x)
    assert torch.equal(w, rows.classifier.weight)


def test_flipv_loss_and_predict():
    model = FLIPV(backbone=TINY)
    x = _inputs()
    losses = model(x, _samples([0, 1, 1, 0]), mode='loss')
    assert set(losses) == {'loss_ce'} and losses['loss_ce'].requires_grad
    model.eval()
    out = model(x, _samples([0, 1, 1, 0]), mode='predict')
    scores = torch.stack([s.pred_score for s in out])
    assert torch.allclose(scores.sum(1), torch.ones(4), atol=1e-6)
    logits = model(x, mode='tensor')
    assert torch.allclose(scores[:, 1], logits.softmax(1)[:, 1], atol=1e-6)


def test_flipit_logits_match_definition_and_cache():
    model = FLIPIT(backbone=TINY)
    assert model.templates.class_names == ['spoof', 'real']
    bb = model.backbone
    x = _inputs()
    with torch.no_grad():
        raw = bb.encode_text(model.templates.token_ids)  # (12, E)
        cls = F.normalize(raw.view(2, 6, -1).mean(1), dim=-1)
        img = F.normalize(bb.encode_image(x), dim=-1)
        expected = bb.logit_scale.exp() * img @ cls.t()
        assert torch.allclose(model.logits(x), expected, atol=1e-5)
    # train mode with a trainable text tower: recomputed every forward
    calls = {'n': 0}
    orig = bb.encode_text

    def counting(*a, **k):
        calls['n'] += 1
        return orig(*a, **k)

    bb.encode_text = counting
    model.train()
    model(x, _samples([0, 1, 0, 1]), mode='loss')
    model(x, _samples([0, 1, 0, 1]), mode='loss')
    assert calls['n'] == 2
    # eval: computed once, then cached
    model.eval()
    calls['n'] = 0
    for _ in range(3):
        model(x, mode='predict')
    assert calls['n'] == 1


def test_flipit_gradients_reach_both_towers_and_logit_scale():
    model = FLIPIT(backbone=TINY)
    losses = model(_inputs(), _samples([0, 1, 0, 1]), mode='loss')
    losses['loss_ce'].backward()
    bb = model.backbone
    assert bb.logit_scale.grad is not None
    assert any(p.grad is not None for p in bb.vision_parameters())
    assert any(p.grad is not None for p in bb.text_parameters())


def test_infonce_matches_loop():
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 5), torch.randn(4, 5)
    loss = InfoNCELoss(temperature=0.1)(z1, z2)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    total = 0.
    for i in range(8):
        pos = (i + 4) % 8
        logits = torch.tensor([z[i] @ z[j] / 0.1 for j in range(8) if j != i])
        target = [j for j in range(8) if j != i].index(pos)
        total += -F.log_softmax(logits, 0)[target]
    assert torch.allclose(loss, total / 8, atol=1e-5)


def test_mcl_consistency_matches_loop():
    model = FLIPMCL(backbone=TINY, projector=dict(hidden_channels=16,
                                                  out_channels=8))
    torch.manual_seed(0)
    e1, e2 = torch.randn(5, 32), torch.randn(5, 32)
    labels = torch.tensor([0, 1, 1, 0, 1])
    tmpl = torch.randn(2, 6, 32)
    torch.manual_seed(7)
    loss = model.consistency_loss(e1, e2, labels, tmpl)
    torch.manual_seed(7)
    drawn = torch.randint(6, (5, 3))
    ref = 0.
    for i in range(5):
        p1 = drawn[i].tolist()  # with replacement
        p2 = [t for t in range(6) if t not in p1]
        m1 = tmpl[labels[i], p1].mean(0)
        m2 = tmpl[labels[i], p2].mean(0)
        d1 = F.cosine_similarity(e1[i], m1, dim=0)
        d2 = F.cosine_similarity(e2[i], m2, dim=0)
        ref += (d1 - d2)**2
    assert torch.allclose(loss, ref / 5, atol=1e-6)


def test_mcl_loss_three_views():
    model = FLIPMCL(backbone=TINY, projector=dict(hidden_channels=16,
                                                  out_channels=8))
    x = _inputs()
    losses = model([x, x + 0.1, x - 0.1], _samples([0, 1, 0, 1]),
                   mode='loss')
    assert set(losses) == {'loss_ce', 'loss_simclr', 'loss_consistency'}
    sum(losses.values()).backward()
    assert model.projector.mlp[0].weight.grad is not None
    with pytest.raises(ValueError, match='3 views'):
        model(x, _samples([0, 1, 0, 1]), mode='loss')
    model.eval()
    out = model(x, mode='predict')
    assert out[0].pred_score.shape == (2, )


def test_save_trainable_only_checkpoint_roundtrip(tmp_path):
    # frozen pretrained CLIP (a weights file): the checkpoint omits it
    weights = str(tmp_path / 'clip.pth')
    torch.save(FLIPV(backbone=TINY).backbone.clip.state_dict(), weights)
    cfg = dict(TINY, freeze='all', pretrained=weights)
    model = FLIPV(backbone=cfg, save_trainable_only=True)
    state = model.state_dict()
    assert not any(k.startswith('backbone.clip.') and 'visual' in k
                   for k in state)
    assert 'head.bottleneck.weight' in state
    other = FLIPV(backbone=copy.deepcopy(cfg), save_trainable_only=True)
    other.load_state_dict(state, strict=True)
    assert torch.equal(other.head.bottleneck.weight,
                       model.head.bottleneck.weight)
    # a randomly initialised frozen CLIP is kept: the file is self-contained
    rand = FLIPV(backbone=dict(TINY, freeze='all'), save_trainable_only=True)
    assert 'backbone.clip.visual.proj' in rand.state_dict()


def test_flipv_dropout_draws_replay_from_generator():
    """FLIP-V's dropout mask comes from the model's generator: the same
    seed replays the same draws whatever the global RNG does, and the mask
    is the one a fresh generator with that seed gives."""
    model = FLIPV(backbone=TINY).train()
    x, samples = _inputs(), _samples([0, 1, 1, 0])
    model.generator = torch.Generator().manual_seed(5)
    losses, terms = model.loss(x, samples, return_terms=True)
    torch.manual_seed(123)  # the global RNG plays no part
    model.generator = torch.Generator().manual_seed(5)
    again, terms2 = model.loss(x, samples, return_terms=True)
    # (the head renormalises its weight in place at every forward, hence
    # allclose rather than equal)
    assert torch.allclose(terms['logits'], terms2['logits'], atol=1e-6)
    assert torch.allclose(losses['loss_ce'], again['loss_ce'], atol=1e-6)
    assert torch.allclose(losses['loss_ce'],
                          F.cross_entropy(terms['logits'],
                                          torch.tensor([0, 1, 1, 0])))
    # written out: relu(bottleneck(cls)) * mask / (1 - p), mask from seed 5
    head = model.head
    with torch.no_grad():
        cls = model.backbone.encode_image(x, return_dict=True)['cls']
        f = F.relu(head.bottleneck(cls))
        keep = torch.rand(f.shape,
                          generator=torch.Generator().manual_seed(5)) >= 0.5
        f = f * keep / 0.5
        f = f / (f.norm(dim=1, keepdim=True).sqrt() * 2**0.5)
        assert torch.allclose(terms['logits'], head.classifier(f), atol=1e-6)
    # another seed draws another mask
    model.generator = torch.Generator().manual_seed(6)
    _, terms3 = model.loss(x, samples, return_terms=True)
    assert not torch.allclose(terms['logits'], terms3['logits'])


def test_flipit_loss_returns_logits():
    model = FLIPIT(backbone=TINY)
    x, labels = _inputs(), torch.tensor([0, 1, 0, 1])
    losses, terms = model.loss(x, _samples(labels), return_terms=True)
    assert terms['logits'].shape == (4, 2)
    assert torch.allclose(losses['loss_ce'],
                          F.cross_entropy(terms['logits'], labels))
    with torch.no_grad():
        assert torch.allclose(terms['logits'], model.logits(x), atol=1e-5)


def test_mcl_template_draws_replay_and_terms():
    model = FLIPMCL(backbone=TINY, projector=dict(hidden_channels=16,
                                                  out_channels=8))
    x = _inputs()
    views = [x, x + 0.1, x - 0.1]
    labels = torch.tensor([0, 1, 0, 1])
    model.generator = torch.Generator().manual_seed(11)
    losses, terms = model.loss(views, _samples(labels), return_terms=True)
    # P1 is the generator's draw
    expected = torch.randint(6, (4, 3),
                             generator=torch.Generator().manual_seed(11))
    assert torch.equal(terms['drawn'], expected)
    # every loss is its terms' function
    assert torch.allclose(losses['loss_ce'],
                          F.cross_entropy(terms['logits'], labels))
    assert torch.allclose(losses['loss_consistency'],
                          ((terms['d1'] - terms['d2'])**2).mean())
    assert torch.allclose(losses['loss_simclr'],
                          model.contrastive_loss(terms['proj1'],
                                                 terms['proj2']))
    assert terms['embeds1'].shape == (4, 32) and terms['proj2'].shape == (4, 8)
    # an overriding draw is used as is
    fixed = torch.tensor([[0, 0, 0], [1, 2, 3], [5, 5, 4], [2, 2, 2]])
    model.draw_templates = lambda labels, n: fixed
    _, terms = model.loss(views, _samples(labels), return_terms=True)
    assert torch.equal(terms['drawn'], fixed)


def test_views_checked_against_num_views():
    x = _inputs()
    samples = _samples([0, 1, 0, 1])
    assert FLIPIT.num_views == 1 and FLIPMCL.num_views == 3
    with pytest.raises(ValueError, match='FLIPIT trains on 1 view per sample'
                       ', got 3'):
        FLIPIT(backbone=TINY)([x, x, x], samples, mode='loss')
    mcl = FLIPMCL(backbone=TINY, projector=dict(hidden_channels=16,
                                                out_channels=8))
    with pytest.raises(ValueError, match='3 views per sample, got 2'):
        mcl([x, x], samples, mode='loss')
    # predict and tensor modes read the plain view (view 0)
    mcl.eval()
    with torch.no_grad():
        assert torch.equal(mcl([x, x + 1, x - 1], mode='tensor'),
                           mcl(x, mode='tensor'))
