"""issue 14 (LPI): the layer-wise interaction reduces to the plain
deep-prompt model with the gates at 0, the fast per-image text path is
exact, gradients reach exactly the trainable set, prototypes are
checkpointed."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmfas.models.classifiers.lpi import LPI, resolve_interaction_layers
from mmfas.registry import MODELS
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules(init_default_scope=False)


def _backbone_cfg(depth=2, **kwargs):
    cfg = tiny_backbone_cfg(**kwargs)
    cfg['arch']['vision_cfg']['layers'] = depth
    cfg['arch']['text_cfg']['layers'] = depth
    return cfg


def _model(depth=2, seed=0, freeze='all', **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('interaction_layers', tuple(range(depth)))
    kwargs.setdefault('layers_of', None)
    return MODELS.build(dict(type='LPI',
                             backbone=_backbone_cfg(depth, freeze=freeze),
                             **kwargs))


def _samples(n, domains=3):
    out = []
    for i in range(n):
        s = DataSample().set_gt_label(i % 2)
        s.set_field(torch.tensor([(i // 2) % domains]), 'domain_label')
        out.append(s)
    return out


def _images(n=4, seed=1):
    return torch.randn(n, 3, 32, 32,
                       generator=torch.Generator().manual_seed(seed))


def _set_gates(model, value):
    with torch.no_grad():
        for g in model.guidance.values():
            g.gate.fill_(value)


def _plain_deep_prompt_logits(model, images, project=True):
    """The plain deep-prompt model on the same weights, each tower on its
    own through encode_image / encode_text (77-token text, C sequences)."""
    bb = model.backbone
    out = model.prompt_learner()
    vision = None
    if project:
        vision = {i: model.text_to_vision[str(i)](out['prompts'][i])
                  for i in model.interaction_layers}
    img = bb.encode_image(images, prompts=vision, normalize=True)
    txt = bb.encode_text(out['token_ids'], prompts=out['prompts'],
                         normalize=True)
    return bb.logit_scale.exp() * img @ txt.t()


@pytest.mark.parametrize('layers', [(0, 1), (1, ), (1, 3)])
def test_gates_at_zero_equal_the_plain_deep_prompt_model(layers):
    depth = 4 if 3 in layers else 2
    model = _model(depth, interaction_layers=layers).eval()
    # give the cross-attention non-trivial weights: only the gate hides it
    with torch.no_grad():
        for p in model.guidance.parameters():
            p.normal_(0, 0.5)
    _set_gates(model, 0.0)
    x = _images()
    with torch.no_grad():
        ref = _plain_deep_prompt_logits(model, x)
        torch.testing.assert_close(model.logits(x), ref, rtol=1e-5,
                                   atol=1e-5)
        _set_gates(model, 0.7)  # the same model with the gates open differs
        assert not torch.allclose(model.logits(x), ref, atol=1e-3)


def test_no_interaction_modules_equal_the_plain_text_prompt_model():
    full = _model(2, interaction_layers=(0, 1))
    bare = _model(2, interaction_layers=(0, 1), guidance=None,
                  text_to_vision=None, prototype_loss=None)
    missing, unexpected = bare.load_state_dict(full.state_dict(),
                                               strict=False)
    assert not missing and all(k.startswith(
        ('guidance.', 'text_to_vision.', 'prototype_loss.'))
        for k in unexpected)
    assert bare.guidance is None and bare.text_to_vision is None
    x = _images()
    with torch.no_grad():
        logits = bare.eval().logits(x)
        ref = _plain_deep_prompt_logits(bare, x, project=False)
        torch.testing.assert_close(logits, ref, rtol=1e-5, atol=1e-5)
        # text shared by the images: no per-image text without guidance
        assert bare.extract_feats(x)['text'].shape == (2, 32)


def _reference_per_image_logits(model, images):
    """Guidance through forward_joint with 77-token text per image from the
    start (text_per_image=True), no truncation or late expansion."""
    bb = model.backbone
    out = model.prompt_learner()
    b = images.shape[0]

    def callback(layer, v, t):
        if str(layer) not in model.guidance:
            return
        sl = t.prompt_slice
        p = t.x[:, sl]
        c, n = t.num_texts, p.shape[1]
        g = model.guidance[str(layer)](p.reshape(b, c * n, -1),
                                       v.patch_tokens())
        x = t.x.clone()
        x[:, sl] = g.reshape(b * c, n, -1)
        t.x = x

    vout, tout = bb.forward_joint(
        images, out['token_ids'], callback,
        vision_prompts=model.vision_prompts(out['prompts']),
        text_prompts=out['prompts'], text_per_image=True, normalize=True)
    return bb.logit_scale.exp() * torch.einsum('be,bce->bc', vout['embeds'],
                                               tout['embeds'])


@pytest.mark.parametrize('layers,depth', [((1, ), 2), ((0, 1), 2),
                                          ((2, 3), 4)])
def test_fast_text_path_is_exact(layers, depth):
    model = _model(depth, interaction_layers=layers).eval()
    _set_gates(model, 0.8)
    assert model._text_length is not None and model._text_length < 77
    x = _images(3)
    with torch.no_grad():
        ref = _reference_per_image_logits(model, x)
        feats = model.extract_feats(x)
        got = model.similarity_logits(feats['image'], feats['text'])
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
        # the text is per image and depends on the image
        assert feats['text'].shape == (3, 2, 32)
        assert not torch.allclose(feats['text'][0], feats['text'][1])
        slow = copy.deepcopy(model)
        slow.truncate_text = False
        torch.testing.assert_close(slow.logits(x), ref, rtol=1e-5,
                                   atol=1e-5)


def _trainable_prefixes(model):
    prefixes = ('prompt_learner.ctx', 'prompt_learner.deep_ctx.',
                'guidance.', 'text_to_vision.')
    if model.prototype_loss is not None and \
            model.prototype_loss.mode == 'learnable':
        prefixes += ('prototype_loss.prototypes', )
    return prefixes


@pytest.mark.parametrize('prototypes', ['ema', 'learnable'])
def test_gradients_reach_exactly_the_trainable_set(prototypes):
    model = _model(2, interaction_layers=(0, 1), prototype_loss=dict(
        type='PrototypeContrastiveLoss', prototypes=prototypes))
    _set_gates(model, 0.5)  # closed gates pass no gradient to the attention
    model.train()
    losses = model.loss(_images(6), _samples(6))
    assert set(losses) == {'loss_ce', 'loss_pcl'}
    sum(losses.values()).backward()
    prefixes = _trainable_prefixes(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters()
                         if n.startswith(prefixes)}
    assert any(n.startswith('guidance.0.gate') for n in trainable)
    for n, p in model.named_parameters():
        if n in trainable:
            assert p.grad is not None and p.grad.abs().sum() > 0, n
        else:
            assert n.startswith('backbone.') and p.grad is None, n
    assert not any(p.requires_grad for p in model.backbone.parameters())


def test_fine_tuning_switch_trains_clip():
    model = _model(2, interaction_layers=(1, ), freeze='none')
    model.train()
    sum(model.loss(_images(4), _samples(4)).values()).backward()
    grads = [p.grad for p in model.backbone.parameters()]
    assert all(g is not None for g in grads)
    assert model.backbone.clip.visual.conv1.weight.grad.abs().sum() > 0


def test_asymmetric_prototypes_follow_domain_labels():
    model = _model(2, interaction_layers=(1, ), prototype_loss=dict(
        type='PrototypeContrastiveLoss', asymmetric=True, num_domains=3))
    model.train()
    samples = _samples(4, domains=3)  # spoofs of domains 0 and 1 only
    model.loss(_images(4), samples)
    assert model.prototype_loss.seen.tolist() == [True, True, False, True]
    for s in samples:
        del s.domain_label
    with pytest.raises(ValueError, match='domain_label'):
        model.loss(_images(4), samples)


def test_prototypes_saved_with_trainable_only_checkpoint_and_restored():
    model = _model(2, interaction_layers=(1, ), save_trainable_only=True)
    model.train()
    model.loss(_images(4), _samples(4))
    sd = model.state_dict()
    assert 'prototype_loss.prototypes' in sd and 'prototype_loss.seen' in sd
    assert sd['prototype_loss.seen'].all()
    fresh = _model(2, interaction_layers=(1, ), save_trainable_only=True)
    assert not fresh.prototype_loss.seen.any()
    fresh.load_state_dict(sd)
    torch.testing.assert_close(fresh.prototype_loss.prototypes,
                               model.prototype_loss.prototypes)
    assert fresh.prototype_loss.seen.all()


def test_loss_terms_and_predict_scores():
    model = _model(2, interaction_layers=(1, ), prototype_loss=None)
    _set_gates(model, 0.3)
    x = _images(4)
    losses, terms = model.train().loss(x, _samples(4), return_terms=True)
    assert set(losses) == {'loss_ce'}
    assert terms['logits'].shape == (4, 2)
    torch.testing.assert_close(
        losses['loss_ce'], F.cross_entropy(terms['logits'],
                                           torch.tensor([0, 1, 0, 1])))
    model.eval()
    with torch.no_grad():
        preds = model.predict(x)
        live = torch.softmax(model.logits(x), dim=1)[:, 1]
    torch.testing.assert_close(torch.stack([p.live_score for p in preds]),
                               live)


def test_interaction_layers_scaled_to_depth():
    assert resolve_interaction_layers((3, 6, 9), 12, 12) == (3, 6, 9)
    assert resolve_interaction_layers((3, 6, 9), 12, 2) == (0, 1)
    assert resolve_interaction_layers((3, 6, 9), 12, 24) == (6, 12, 18)
    assert resolve_interaction_layers(11, 12, 2) == (1, )
    assert resolve_interaction_layers((-1, ), None, 4) == (3, )
    with pytest.raises(ValueError, match='outside'):
        resolve_interaction_layers((12, ), 12, 12)
    with pytest.raises(ValueError, match='outside'):
        resolve_interaction_layers((2, ), None, 2)
    with pytest.raises(ValueError, match='empty'):
        resolve_interaction_layers((), 12, 12)
    with pytest.raises(ValueError, match='integer'):
        resolve_interaction_layers((True, ), 12, 12)
    model = _model(2, interaction_layers=(3, 6, 9), layers_of=12)
    assert model.interaction_layers == (0, 1)
    assert set(model.guidance) == {'0', '1'}
    assert model.prompt_learner.deep_layers == (1, )


def test_bad_options_are_errors():
    with pytest.raises(ValueError, match='class order'):
        _model(2, class_names=('live', 'spoof'))
    with pytest.raises(ValueError, match='set by LPI'):
        _model(2, prompt=dict(deep_layers=(1, )))
    with pytest.raises(ValueError, match='class_specific'):
        _model(2, prompt=dict(class_specific=True))
    assert isinstance(_model(2, class_names=('attack', 'real')), LPI)
