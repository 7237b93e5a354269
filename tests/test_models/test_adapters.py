"""CDCConv2d, ParallelAdapter (ADC), and trainable-only checkpoints."""
from unittest import TestCase

import torch
import torch.nn.functional as F
from mmengine.runner.checkpoint import get_state_dict, load_state_dict
from torch import nn

from mmfas.models.backbones import OpenCLIPBackbone
from mmfas.models.utils import (CDCConv2d, ParallelAdapter,
                                enable_trainable_checkpoint,
                                frozen_parameter_names, trainable_state_dict)
from mmfas.models.utils.trainable import set_weights_source
from mmfas.registry import MODELS
from mmfas.testing import tiny_clip_arch

TINY = tiny_clip_arch()


def explicit_cdc(x, w, theta, stride=1):
    """sum_k w_k * x_k - theta * sum_k w_k * x_centre, via unfold."""
    k = w.shape[-1]
    cols = F.unfold(x, k, padding=k // 2, stride=stride)  # (B, C*k*k, L)
    b, _, n = cols.shape
    c = x.shape[1]
    cols = cols.view(b, c, k * k, n)
    centre = cols[:, :, (k * k) // 2:(k * k) // 2 + 1]
    cols = cols - theta * centre
    out = torch.einsum('bckn,ock->bon', cols, w.view(w.shape[0], c, k * k))
    h = (x.shape[2] - 1) // stride + 1
    return out.view(b, w.shape[0], h, -1)


class TestCDCConv2d(TestCase):

    def test_matches_definition(self):
        torch.manual_seed(0)
        x = torch.randn(2, 4, 7, 7)
        for theta in (0.0, 0.7, 1.0):
            for stride in (1, 2):
                conv = CDCConv2d(4, 5, 3, stride=stride, theta=theta)
                ref = explicit_cdc(x, conv.weight, theta, stride)
                out = conv(x)
                self.assertEqual(out.shape, ref.shape)
                self.assertTrue(torch.allclose(out, ref, atol=1e-5))
        conv = CDCConv2d(4, 5, theta=0.0, bias=True)
        plain = nn.Conv2d(4, 5, 3, padding=1)
        plain.load_state_dict(conv.state_dict())
        self.assertTrue(torch.allclose(conv(x), plain(x)))
        # a constant image: pure central difference gives zero inside
        flat = CDCConv2d(4, 5, theta=1.0)(torch.ones(1, 4, 5, 5))
        self.assertTrue(torch.allclose(flat[..., 1:-1, 1:-1],
                                       torch.zeros(1, 5, 3, 3), atol=1e-6))

    def test_learnable_theta(self):
        conv = CDCConv2d(4, 4, learnable_theta=True, theta=0.5)
        self.assertEqual(conv.theta_raw.item(), 0.0)
        self.assertAlmostEqual(conv.theta.item(), 0.5)
        conv(torch.randn(1, 4, 5, 5)).sum().backward()
        self.assertIsNotNone(conv.theta_raw.grad)
        self.assertIn('theta_raw', dict(conv.named_parameters()))
        self.assertNotIn('theta_raw', dict(
            CDCConv2d(4, 4).named_parameters()))
        for bad in (dict(kernel_size=4), dict(padding=0), dict(theta=1.5),
                    dict(theta=1.0, learnable_theta=True)):
            with self.assertRaises(ValueError, msg=str(bad)):
                CDCConv2d(4, 4, **bad)


class TestParallelAdapter(TestCase):

    def test_zero_init_and_bypass(self):
        torch.manual_seed(0)
        ad = ParallelAdapter(16, bottleneck=4, conv='adc', dropout=0.0)
        self.assertAlmostEqual(float(ad.conv.theta), 0.5)
        # CLS + 3x3 grid + 2 prompt tokens
        x = torch.randn(2, 1 + 9 + 2, 16)
        self.assertTrue(torch.equal(ad(x, grid=(3, 3)), torch.zeros_like(x)))
        nn.init.normal_(ad.up.weight)
        out = ad(x, grid=(3, 3))
        x2 = x.clone()
        x2[:, 1:10] += 1.0  # change only the patches
        out2 = ad(x2, grid=(3, 3))
        self.assertTrue(torch.allclose(out[:, 0], out2[:, 0]))  # CLS
        self.assertTrue(torch.allclose(out[:, 10:], out2[:, 10:]))  # prompts
        self.assertFalse(torch.allclose(out[:, 1:10], out2[:, 1:10]))
        # a patch sees its neighbours through the conv
        x3 = x.clone()
        x3[:, 1] += 1.0  # top-left patch
        out3 = ad(x3, grid=(3, 3))
        self.assertFalse(torch.allclose(out[:, 2], out3[:, 2]))
        self.assertTrue(torch.allclose(out[:, 9], out3[:, 9]))  # far corner
        with self.assertRaises(ValueError):
            ad(x)  # no grid

    def test_variants(self):
        x = torch.randn(2, 5, 16)
        plain = ParallelAdapter(16, bottleneck=4, scale=0.5,
                                learnable_scale=True)
        self.assertIsNone(plain.conv)
        self.assertEqual(plain(x).shape, x.shape)
        self.assertIsInstance(plain.scale, nn.Parameter)
        self.assertEqual(ParallelAdapter(16, conv='vanilla').conv.theta, 0.0)
        self.assertEqual(ParallelAdapter(16, conv='cdc').conv.theta, 0.7)
        built = MODELS.build(dict(type='ParallelAdapter', in_dim=16,
                                  conv='cdc', theta=0.3))
        self.assertEqual(built.conv.theta, 0.3)
        for bad in (dict(conv='xyz'), dict(act='swish'),
                    dict(conv='vanilla', theta=0.5)):
            with self.assertRaises(ValueError, msg=str(bad)):
                ParallelAdapter(16, **bad)


class Classifier(nn.Module):
    """Frozen CLIP + ADC adapters + a head + an EMA buffer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = OpenCLIPBackbone(
            arch=TINY, freeze='all',
            adapters=dict(vision=dict(layers=[0], conv='adc')))
        # the seeded tiny CLIP stands in for pretrained weights: every build
        # gives it back, so trainable-only checkpoints may omit it (random
        # frozen weights are kept: tests/test_apis/test_strict_loading.py)
        set_weights_source(self.backbone.clip, 'seeded tiny CLIP')
        self.head = nn.Linear(32, 2)
        self.register_buffer('prototypes', torch.zeros(2, 32))


class TestTrainableCheckpoint(TestCase):

    def test_trainable_state_dict(self):
        model = Classifier()
        sd = trainable_state_dict(model)
        frozen = set(frozen_parameter_names(model))
        self.assertIn('backbone.clip.visual.conv1.weight', frozen)
        self.assertFalse(frozen & set(sd))
        self.assertIn('head.weight', sd)
        self.assertIn('prototypes', sd)
        self.assertIn('backbone.adapters.vision.0.attn.conv.theta_raw', sd)
        n_train = sum(p.numel() for p in model.parameters()
                      if p.requires_grad)
        self.assertEqual(sum(v.numel() for k, v in sd.items()
                             if k != 'prototypes'), n_train)

    def test_round_trip_torch_and_mmengine(self):
        src = enable_trainable_checkpoint(Classifier())
        with torch.no_grad():
            src.head.weight.fill_(0.5)
            src.prototypes.fill_(2.0)
            src.backbone.adapters['vision']['0']['mlp'].up.weight.fill_(0.1)
        for sd in (src.state_dict(), get_state_dict(src)):
            self.assertEqual(set(sd), set(trainable_state_dict(src)))
            dst = enable_trainable_checkpoint(Classifier())
            with torch.no_grad():  # frozen weights must not be touched
                dst.backbone.clip.visual.proj.fill_(3.0)
            dst.load_state_dict(sd, strict=True)
            self.assertTrue(torch.equal(dst.head.weight, src.head.weight))
            self.assertTrue(torch.equal(dst.prototypes, src.prototypes))
            self.assertTrue(torch.all(dst.backbone.clip.visual.proj == 3.0))
            dst2 = enable_trainable_checkpoint(Classifier())
            load_state_dict(dst2, sd, strict=True)  # mmengine's loader
            self.assertTrue(torch.equal(dst2.head.weight, src.head.weight))
        # a missing trainable key or an unexpected one is still an error
        bad = dict(src.state_dict())
        del bad['head.weight']
        with self.assertRaises(RuntimeError):
            enable_trainable_checkpoint(Classifier()).load_state_dict(bad)
        with self.assertRaises(RuntimeError):
            enable_trainable_checkpoint(Classifier()).load_state_dict(
                dict(src.state_dict(), junk=torch.zeros(1)))
        # full checkpoints still load, frozen weights included
        full = Classifier().state_dict()
        full['backbone.clip.visual.proj'] = torch.full_like(
            full['backbone.clip.visual.proj'], 7.0)
        dst = enable_trainable_checkpoint(Classifier())
        dst.load_state_dict(full)
        self.assertTrue(torch.all(dst.backbone.clip.visual.proj == 7.0))
