"""TemplateBank, TextFeatureCache, PromptLearner, MetaNet."""
from unittest import TestCase

import torch
import torch.nn.functional as F
from torch import nn

from mmfas.models.backbones import OpenCLIPBackbone
from mmfas.models.utils import (FLIP_TEMPLATES, MetaNet, PromptLearner,
                                TemplateBank, average_class_embeddings,
                                placeholder_token_ids)
from mmfas.registry import MODELS
from mmfas.testing import tiny_clip_arch

TINY = tiny_clip_arch()


def tiny(**kwargs):
    torch.manual_seed(0)
    return OpenCLIPBackbone(arch=TINY, **kwargs)


class CountingBackbone(nn.Module):
    """Holds a backbone and counts its encode_text calls."""

    def __init__(self, bb):
        super().__init__()
        self.bb = bb
        self.calls = 0
        self.logit_scale = bb.logit_scale

    def encode_text(self, *args, **kwargs):
        self.calls += 1
        return self.bb.encode_text(*args, **kwargs)

    def text_parameters(self):
        return self.bb.text_parameters()


class Method(nn.Module):
    """A stand-in for a classifier owning backbone and bank."""

    def __init__(self, freeze):
        super().__init__()
        self.backbone = CountingBackbone(tiny(freeze=freeze))
        self.bank = TemplateBank(tokenizer=self.backbone.bb.tokenize)


class TestTemplateBank(TestCase):

    def test_default_is_flip(self):
        bank = TemplateBank()
        self.assertEqual(bank.class_names, ['spoof', 'real'])
        self.assertEqual(bank.templates, [FLIP_TEMPLATES['spoof'],
                                          FLIP_TEMPLATES['real']])
        self.assertEqual(bank.token_ids.shape, (12, 77))
        self.assertEqual(bank.class_index.tolist(), [0] * 6 + [1] * 6)
        self.assertEqual(dict(bank.state_dict()), {})  # non-persistent
        self.assertIn('token_ids', dict(bank.named_buffers()))
        self.assertIsInstance(MODELS.build(dict(type='TemplateBank')),
                              TemplateBank)

    def test_other_forms(self):
        bank = TemplateBank(['a photo of a {} face', 'a {} face'],
                            class_names=['spoof', 'bonafide'])
        self.assertEqual(bank.templates[0][0], 'a photo of a spoof face')
        self.assertEqual(bank.templates[1][1], 'a bonafide face')
        bank = TemplateBank(dict(real=['x'], spoof=['y', 'z']),
                            class_names=['spoof', 'real'])
        self.assertEqual(bank.templates, [['y', 'z'], ['x']])
        # the dict keys name the classes: they are put in class order
        bank = TemplateBank(dict(real=['x'], attack=['y', 'z']))
        self.assertEqual(bank.class_names, ['attack', 'real'])
        self.assertEqual(bank.templates, [['y', 'z'], ['x']])
        self.assertEqual(bank.class_index.tolist(), [0, 0, 1])
        with self.assertRaises(ValueError):
            TemplateBank(dict(real=['x']), class_names=['spoof'])
        with self.assertRaises(ValueError):
            TemplateBank(['no slot'], class_names=['spoof', 'live'])

    def test_class_order_is_fixed(self):
        """issue 11: class_names=['real', 'spoof'] silently inverted every
        FLIP logit; the order is [spoof, live], anything else an error."""
        for names in (['real', 'spoof'], ['live', 'spoof']):
            with self.assertRaisesRegex(ValueError, r'class order'):
                TemplateBank({n: ['x'] for n in names}, class_names=names)
            with self.assertRaisesRegex(ValueError, r'class order'):
                TemplateBank(['a {} face'], class_names=names)
        with self.assertRaisesRegex(ValueError, r"unknown FAS class name "
                                    r"'print'"):
            TemplateBank(['a {} face'], class_names=['print', 'real'])
        with self.assertRaisesRegex(ValueError, r"unknown FAS class name"):
            TemplateBank(dict(print=['x'], real=['y']))
        with self.assertRaisesRegex(ValueError, 'class order'):
            TemplateBank(['a {} face'], class_names=['spoof', 'real', 'live'])
        with self.assertRaisesRegex(ValueError, 'one spoof and one live'):
            TemplateBank(dict(real=['x'], live=['y']))

    def test_class_embeddings_are_normalised_means(self):
        bb = tiny().eval()
        bank = TemplateBank(tokenizer=bb.tokenize).eval()
        with torch.no_grad():
            got = bank.class_embeddings(bb)
            raw = bank.template_embeddings(bb)
            ref = torch.stack([
                F.normalize(bb.encode_text(FLIP_TEMPLATES[c]).mean(0), dim=-1)
                for c in ('spoof', 'real')])
        self.assertEqual(got.shape, (2, 32))
        self.assertEqual(raw.shape, (2, 6, 32))
        self.assertTrue(torch.allclose(got, ref, atol=1e-6))
        emb = torch.randn(3, 4)
        out = average_class_embeddings(emb, torch.tensor([0, 1, 1]), 2,
                                       normalize=False)
        self.assertTrue(torch.allclose(out[1], emb[1:].mean(0)))

    def test_cache_when_frozen(self):
        m = Method(freeze='text').train()
        first = m.bank.class_embeddings(m.backbone)
        for _ in range(3):
            again = m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 1)
        self.assertTrue(torch.equal(first, again))
        self.assertFalse(again.requires_grad)
        m.train()  # invalidates
        m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 2)
        with torch.no_grad():  # parameter changed in place
            m.backbone.bb.clip.ln_final.bias.add_(1)
        changed = m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 3)
        self.assertFalse(torch.allclose(changed, first))
        m.bank.template_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 3)  # same cache

    def test_recomputed_when_trainable(self):
        m = Method(freeze='none').train()
        for _ in range(3):
            out = m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 3)
        out.sum().backward()
        self.assertIsNotNone(m.backbone.bb.clip.token_embedding.weight.grad)
        m.eval()
        a = m.bank.class_embeddings(m.backbone)
        b = m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 4)
        self.assertTrue(torch.equal(a, b))
        # an optimizer step in between evals invalidates
        m.train()
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        m.bank.class_embeddings(m.backbone).sum().backward()
        opt.step()
        m.eval()
        c = m.bank.class_embeddings(m.backbone)
        self.assertEqual(m.backbone.calls, 6)
        self.assertFalse(torch.allclose(a, c))


class TestPromptLearner(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bb = tiny().eval()

    def test_word_init_reproduces_plain_prompt(self):
        pl = PromptLearner(['live face', 'spoof face'], self.bb, n_ctx=4,
                           ctx_init='a photo of a')
        words = self.bb.tokenize(['a photo of a'])[0, 1:5]
        self.assertTrue(torch.equal(pl.ctx.data,
                                    self.bb.token_embedding.weight[words]))
        self.assertEqual(pl.token_ids.shape, (2, 77))
        self.assertEqual(pl.eot_index.tolist(), [8, 9])  # spoof: 2 BPE
        self.assertEqual(dict(pl.state_dict()).keys(), {'ctx'})
        pl.eval()
        with torch.no_grad():
            got = pl.encode(self.bb, normalize=False)
            ref = self.bb.encode_text(['a photo of a live face.',
                                       'a photo of a spoof face.'])
        self.assertTrue(torch.allclose(got, ref, atol=1e-6))

    def test_partial_and_longer_init(self):
        pl = PromptLearner(['live face'], self.bb, n_ctx=2,
                           ctx_init='a photo of a').eval()
        with torch.no_grad():
            self.assertTrue(torch.allclose(
                pl.encode(self.bb, normalize=False),
                self.bb.encode_text(['a photo of a live face.']), atol=1e-6))
        pl = PromptLearner(['live face'], self.bb, n_ctx=6,
                           ctx_init='a photo of a')
        words = self.bb.tokenize(['a photo of a'])[0, 1:5]
        self.assertTrue(torch.equal(pl.ctx.data[:4],
                                    self.bb.token_embedding.weight[words]))
        self.assertEqual(pl.eot_index.tolist(), [10])
        pl = PromptLearner(['live'], width=64, ctx_init=None, n_ctx=16)
        self.assertLess(abs(pl.ctx.std().item() - 0.02), 0.005)

    def test_class_specific_deep_and_grads(self):
        pl = PromptLearner(['live face', 'spoof face'], self.bb, n_ctx=4,
                           class_specific=True, depth=2).train()
        self.assertEqual(pl.ctx.shape, (2, 4, 64))
        self.assertEqual(pl.prompt_layers, (0, 1))
        out = pl()
        self.assertEqual(set(out['prompts']), {0, 1})
        feats = pl.encode(self.bb)
        self.assertEqual(feats.shape, (2, 32))
        feats.sum().backward()
        self.assertIsNotNone(pl.ctx.grad)
        self.assertIsNotNone(pl.deep_ctx['1'].grad)
        # trainable in train mode: recomputed; eval: cached
        n = pl.cache.num_computed
        pl.encode(self.bb)
        self.assertEqual(pl.cache.num_computed, n + 1)
        pl.eval()
        pl.encode(self.bb)
        pl.encode(self.bb)
        self.assertEqual(pl.cache.num_computed, n + 2)
        pl2 = PromptLearner(['a'], self.bb, deep_layers=(1, ), n_ctx=2)
        self.assertEqual(pl2.deep_layers, (1, ))
        with self.assertRaises(ValueError):
            PromptLearner(['a'], self.bb, deep_layers=(0, ))

    def test_conditional(self):
        pl = PromptLearner(['live face', 'spoof face'], self.bb, n_ctx=4,
                           conditional=True).train()
        self.assertEqual(pl.meta_net.linear1.out_features, 32 // 16)
        img = self.bb.encode_image(torch.randn(3, 3, 32, 32))
        out = pl(img)
        self.assertEqual(out['prompts'][0].shape, (3, 1, 4, 64))
        feats = pl.encode(self.bb, img)
        self.assertEqual(feats.shape, (3, 2, 32))
        feats.sum().backward()
        self.assertIsNotNone(pl.meta_net.linear2.weight.grad)
        with self.assertRaises(ValueError):
            pl()
        # the bias depends on the image
        torch.manual_seed(0)
        pl = PromptLearner(['live face', 'spoof face'], self.bb, n_ctx=4,
                           conditional=True, meta_hidden=16)
        with torch.no_grad():
            feats = pl.encode(self.bb, torch.randn(2, 32))
        self.assertFalse(torch.allclose(feats[0], feats[1], atol=1e-4))

    def test_placeholder_ids(self):
        ids = placeholder_token_ids(None, ['live face.'], 3)
        self.assertEqual(ids[0, 1:4].tolist(), [343] * 3)
        with self.assertRaises(ValueError):
            placeholder_token_ids(None, ['word ' * 80], 3)


class TestMetaNet(TestCase):

    def test_shapes(self):
        net = MetaNet(512, 512)
        self.assertEqual(net.linear1.out_features, 32)
        f = torch.randn(4, 512)
        out = net(f)
        self.assertEqual(out.shape, (4, 512))
        self.assertTrue(torch.allclose(out, net(3 * f), atol=1e-5))
        self.assertEqual(MetaNet(32, 64, hidden_dim=5)(torch.randn(2, 32))
                         .shape, (2, 64))
