"""SLIP classifier: feature maps, stage losses, reference switches."""
import copy

import pytest
import torch

from mmfas.models.losses import slip_loss
from mmfas.registry import MODELS
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules(init_default_scope=False)

TINY = tiny_backbone_cfg(image_size=64, pretrained=None,
                         tokenizer='ViT-B-16', freeze='none')


def build(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='SLIP', backbone=copy.deepcopy(TINY),
                             **kwargs))


def live_samples(n):
    from mmpretrain.structures import DataSample
    return [DataSample().set_gt_label(1) for _ in range(n)]


def test_maps_are_channel_normalised_and_decoder_fits_grid():
    m = build()
    x = torch.randn(2, 3, 64, 64)
    z, zhat, emb = m.image_maps(x)
    assert z.shape == zhat.shape == (2, 32, 4, 4)
    assert torch.allclose(z.norm(dim=1), torch.ones(2, 4, 4), atol=1e-5)
    # z_hat is the projected patch grid (after ln_post and proj)
    out = m.backbone.encode_image(x, return_dict=True, proj_patches=True)
    assert torch.allclose(zhat.flatten(2).transpose(1, 2),
                          out['patch_embeds'], atol=1e-6)
    t = m.text_maps(['This is a live face.'] * 2, zhat)
    assert torch.allclose(t.norm(dim=1), torch.ones(2, 4, 4), atol=1e-5)
    assert m.spoof_maps(x).shape == (2, 1, 32, 32)
    assert m.spoofness(x).shape == (2, )


def test_stage_losses_and_replayable_draws():
    m = build()
    x = torch.randn(3, 3, 64, 64)
    g = torch.Generator().manual_seed(5)
    m.set_generator(g)
    a = m.loss(x, live_samples(3), stage='image')
    assert set(a) == {'loss_live', 'loss_spoof', 'loss_augment',
                      'loss_align'}
    m.set_generator(torch.Generator().manual_seed(5))
    b = m.loss(x, live_samples(3), stage='image')
    for k in a:
        assert torch.equal(a[k], b[k])
    t = m.loss(x, live_samples(3), stage='text')
    assert set(t) == {'loss_live_text', 'loss_spoof', 'loss_fusion',
                      'loss_augment', 'loss_disentangle', 'loss_align'}
    with pytest.raises(ValueError, match='unknown stage'):
        m.loss(x, live_samples(3), stage='both')


def test_one_class_training_refuses_spoof_labels():
    from mmpretrain.structures import DataSample
    m = build()
    with pytest.raises(ValueError, match='one-class'):
        m.loss(torch.randn(2, 3, 64, 64),
               [DataSample().set_gt_label(0), DataSample().set_gt_label(1)],
               stage='image')


def test_stages_split_the_parameters():
    m = build()
    stages = m.train_stages()
    ids = {s: {id(p) for p in ps} for s, ps in stages.items()}
    assert not ids['image'] & ids['text']
    names = {id(p): n for n, p in m.named_parameters()}
    image = {names[i] for i in ids['image']}
    text = {names[i] for i in ids['text']}
    assert any(n.startswith('decoder.') for n in image)
    assert any(n.startswith('fusion.') for n in text)
    assert 'backbone.clip.token_embedding.weight' in text
    assert 'backbone.clip.positional_embedding' in text
    assert 'backbone.clip.text_projection' in text
    assert 'backbone.clip.visual.proj' in image
    assert 'backbone.clip.logit_scale' not in image | text


def _terms(m, x, seed=1):
    m.set_generator(torch.Generator().manual_seed(seed))
    return m.loss_terms(x)


def test_reference_switches_change_exactly_their_terms(monkeypatch):
    x = torch.randn(2, 3, 64, 64)
    base = _terms(build(), x)
    # L_R sign
    r = _terms(build(reference=dict(fusion_sign=True)), x)
    assert torch.allclose(r['fusion'], -base['fusion'])
    for k in ('live', 'spoof', 'align', 'disentangle', 'augment'):
        assert torch.equal(r[k], base[k]), k
    # signed L_FD: the same maps, the official signed cosine
    seen = []
    real_fd = slip_loss.disentangle_loss

    def spy(maps, mode='abs'):
        seen.append(mode)
        return real_fd(maps, mode)

    monkeypatch.setattr(slip_loss, 'disentangle_loss', spy)
    r = _terms(build(reference=dict(fd_signed=True)), x)
    assert seen == ['signed']
    _terms(build(), x)
    assert seen == ['signed', 'abs']
    for k in ('live', 'spoof', 'align', 'fusion', 'augment'):
        assert torch.equal(r[k], base[k]), k
    # 0..255 cue maps: same draws, targets x255
    r = _terms(build(reference=dict(map_scale=True)), x)
    assert torch.allclose(r['target'], base['target'] * 255)
    assert torch.equal(r['live'], base['live'])
    # raw residual-stream patch map: every feature term moves
    r = _terms(build(reference=dict(patch_map=True)), x)
    assert not torch.allclose(r['align'], base['align'])
    # per-image stretch changes the image features
    r = _terms(build(reference=dict(stretch=True)), x)
    assert not torch.allclose(r['d_z'], base['d_z'])
    with pytest.raises(ValueError, match='unknown reference'):
        build(reference=dict(typo=True))


def test_reference_score_divides_by_255():
    x = torch.randn(2, 3, 64, 64)
    a, b = build(), build(reference=dict(map_scale=True))
    b.load_state_dict(a.state_dict())
    assert torch.allclose(b.spoof_maps(x) * 255, a.spoof_maps(x),
                          atol=1e-6)
