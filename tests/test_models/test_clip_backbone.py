"""OpenCLIPBackbone: parity with open_clip, deep prompts, adapters, hooks,
taps, lockstep towers, freezing, checkpointing, AMP."""
import copy
import time
from unittest import TestCase

import torch

from mmfas.models.backbones import OpenCLIPBackbone, TowerState
from mmfas.registry import MODELS
from mmfas.testing import tiny_clip_arch

TINY = tiny_clip_arch()
ADC = dict(vision=dict(layers='all', positions=('attn', 'mlp'), conv='adc',
                       bottleneck=8, dropout=0.1))


def tiny(**kwargs):
    torch.manual_seed(0)
    return OpenCLIPBackbone(arch=TINY, **kwargs)


class TestParity(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bb = tiny().eval()
        cls.img = torch.randn(3, 3, 32, 32)
        cls.ids = cls.bb.tokenize(['a photo of a face', 'hello world', 'x'])

    def test_image_text_parity(self):
        with torch.no_grad():
            self.assertTrue(torch.allclose(
                self.bb.encode_image(self.img),
                self.bb.clip.encode_image(self.img), atol=1e-6))
            self.assertTrue(torch.allclose(
                self.bb.encode_text(self.ids),
                self.bb.clip.encode_text(self.ids), atol=1e-6))
            self.assertTrue(torch.allclose(
                self.bb.encode_image(self.img, normalize=True),
                self.bb.clip.encode_image(self.img, normalize=True),
                atol=1e-6))
        # in train mode, with grads, too
        self.bb.train()
        try:
            self.assertTrue(torch.allclose(
                self.bb.encode_text(self.ids),
                self.bb.clip.encode_text(self.ids), atol=1e-6))
        finally:
            self.bb.eval()

    def test_return_dict_and_taps(self):
        with torch.no_grad():
            out = self.bb.encode_image(self.img, return_dict=True,
                                       taps=[0, -1], proj_patches=True)
            ref = self.bb.clip.visual.forward_intermediates(
                self.img, indices=[0, 1], output_fmt='NLC')
        self.assertEqual(out['embeds'].shape, (3, 32))
        self.assertEqual(out['cls'].shape, (3, 64))
        self.assertEqual(out['patch_tokens'].shape, (3, 4, 64))
        self.assertEqual(out['patch_embeds'].shape, (3, 4, 32))
        self.assertEqual(out['patch_grid'], (2, 2))
        self.assertEqual(sorted(out['taps']), [0, 1])
        for i in (0, 1):
            self.assertEqual(out['taps'][i].shape, (3, 5, 64))
            self.assertTrue(torch.allclose(
                out['taps'][i][:, 1:], ref['image_intermediates'][i]))
        v = self.bb.clip.visual
        self.assertTrue(torch.allclose(out['embeds'], out['cls'] @ v.proj))
        self.assertTrue(torch.allclose(out['patch_embeds'],
                                       out['patch_tokens'] @ v.proj))
        with torch.no_grad():
            tout = self.bb.encode_text(self.ids, return_dict=True, taps=1)
        self.assertEqual(tout['taps'][1].shape, (3, 77, 64))
        self.assertEqual(tout['pooled'].shape, (3, 64))
        self.assertEqual(tout['tokens'].shape, (3, 77, 64))
        with self.assertRaises(ValueError):
            self.bb.encode_image(self.img, taps=[5])

    def test_api(self):
        bb = self.bb
        self.assertIs(bb.logit_scale, bb.clip.logit_scale)
        self.assertIsInstance(bb.logit_scale, torch.nn.Parameter)
        self.assertEqual((bb.embed_dim, bb.vision_width, bb.text_width),
                         (32, 64, 64))
        ids = bb.tokenize(['a face'])
        self.assertEqual(ids.shape, (1, 77))
        self.assertEqual(ids.dtype, torch.long)
        self.assertEqual(int(ids[0, 0]), 49406)
        with torch.no_grad():
            self.assertTrue(torch.allclose(bb.encode_text(['a face']),
                                           bb.encode_text(ids)))
            out, = bb(self.img)
        self.assertEqual(out.shape, (3, 32))

    def test_registry_build_and_errors(self):
        bb = MODELS.build(dict(type='OpenCLIPBackbone', arch=TINY,
                               out_type='cls'))
        self.assertEqual(bb(self.img)[0].shape, (3, 64))
        for bad in (dict(freeze='bogus'), dict(out_type='x'),
                    dict(adapters=dict(audio={})),
                    dict(adapters=dict(vision=dict(positions=('ffn', )))),
                    dict(adapters=dict(vision=dict(type='NoSuchAdapter'))),
                    dict(freeze=dict(towers=('eyes', ))),
                    dict(freeze=dict(layers=[7]))):
            with self.assertRaises(ValueError, msg=str(bad)):
                OpenCLIPBackbone(arch=TINY, **bad)

    def test_real_architecture_parity(self):
        t0 = time.time()
        torch.manual_seed(0)
        bb = OpenCLIPBackbone(arch='ViT-B-32-quickgelu').eval()
        img = torch.randn(1, 3, 224, 224)
        ids = bb.tokenize(['a photo of a real face'])
        with torch.no_grad():
            self.assertTrue(torch.allclose(
                bb.encode_image(img), bb.clip.encode_image(img), atol=1e-6))
            self.assertTrue(torch.allclose(
                bb.encode_text(ids), bb.clip.encode_text(ids), atol=1e-6))
        self.assertLess(time.time() - t0, 30)


class TestDeepPrompts(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bb = tiny().eval()
        cls.img = torch.randn(2, 3, 32, 32)
        # 3 placeholders after SOT
        cls.ids = cls.bb.tokenize(['X X X live face.', 'X X X spoof face.'])

    def _ref_text(self, ids, ctx0, deep):
        """MaPLe text semantics written out directly."""
        c = self.bb.clip
        n = ctx0.shape[0]
        x = c.token_embedding(ids)
        x[:, 1:1 + n] = ctx0
        x = x + c.positional_embedding
        for i, blk in enumerate(c.transformer.resblocks):
            if i > 0 and i in deep:
                x[:, 1:1 + n] = deep[i]
            x = blk(x, attn_mask=c.attn_mask)
        x = c.ln_final(x)
        return x[torch.arange(len(ids)), ids.argmax(-1)] @ c.text_projection

    def _ref_image(self, img, p0, deep):
        """MaPLe vision semantics written out directly."""
        v = self.bb.clip.visual
        x = v.conv1(img).flatten(2).transpose(1, 2)
        x = torch.cat([v.class_embedding.expand(len(img), 1, -1), x], 1)
        x = x + v.positional_embedding
        x = torch.cat([x, p0.expand(len(img), -1, -1)], 1)
        x = v.ln_pre(x)
        n = p0.shape[0]
        for i, blk in enumerate(v.transformer.resblocks):
            if i > 0 and i in deep:
                x = torch.cat([x[:, :-n], deep[i].expand(len(img), -1, -1)],
                              1)
            x = blk(x)
        return v.ln_post(x[:, 0]) @ v.proj

    def test_text_prompts_match_maple_semantics(self):
        ctx0, ctx1 = torch.randn(3, 64), torch.randn(3, 64)
        with torch.no_grad():
            out = self.bb.encode_text(self.ids, prompts=[ctx0, ctx1],
                                      return_dict=True)
            ref = self._ref_text(self.ids, ctx0, {1: ctx1})
            plain = self.bb.encode_text(self.ids)
        self.assertEqual(out['tokens'].shape, (2, 77, 64))  # length kept
        self.assertTrue(torch.allclose(out['embeds'], ref, atol=1e-5))
        self.assertFalse(torch.allclose(out['embeds'], plain, atol=1e-3))
        self.assertEqual(out['num_prompts'], 3)

    def test_vision_prompts_match_maple_semantics(self):
        p0, p1 = torch.randn(4, 64), torch.randn(4, 64)
        with torch.no_grad():
            out = self.bb.encode_image(self.img, prompts={0: p0, 1: p1},
                                       return_dict=True, taps=0)
            ref = self._ref_image(self.img, p0, {1: p1})
            plain = self.bb.encode_image(self.img)
        self.assertTrue(torch.allclose(out['embeds'], ref, atol=1e-5))
        self.assertFalse(torch.allclose(out['embeds'], plain, atol=1e-3))
        self.assertEqual(out['taps'][0].shape, (2, 1 + 4 + 4, 64))
        self.assertEqual(out['patch_tokens'].shape, (2, 4, 64))  # dropped
        # prompts starting at a deep layer are appended there
        with torch.no_grad():
            deep_only = self.bb.encode_image(self.img, prompts={1: p1},
                                             return_dict=True)
        self.assertEqual(deep_only['tokens'].shape, (2, 5 + 4, 64))
        with self.assertRaises(ValueError):  # n changes mid-way
            self.bb.encode_image(self.img, prompts={0: p0, 1: p1[:2]})

    def test_eot_guard_and_shapes(self):
        ids = self.bb.tokenize(['a', 'b'])  # EOT at position 2
        with self.assertRaises(ValueError):
            self.bb.encode_text(ids, prompts=torch.randn(3, 64))
        with self.assertRaises(ValueError):
            self.bb.encode_text(self.ids, prompts=torch.randn(3, 63))
        with self.assertRaises(ValueError):
            self.bb.encode_text(self.ids, prompts={2: torch.randn(3, 64)})

    def test_class_specific_and_per_sample(self):
        ctx = torch.randn(2, 3, 64)  # per sequence
        with torch.no_grad():
            out = self.bb.encode_text(self.ids, prompts=ctx)
            for c in range(2):
                single = self.bb.encode_text(self.ids[c:c + 1],
                                             prompts=ctx[c:c + 1])
                self.assertTrue(torch.allclose(out[c], single[0], atol=1e-5))
            # per image (B=4) and sequence: text runs 4 * 2 times
            per = torch.randn(4, 1, 3, 64)
            out = self.bb.encode_text(self.ids, prompts=per, return_dict=True)
            self.assertEqual(out['embeds'].shape, (4, 2, 32))
            for b in range(4):
                single = self.bb.encode_text(self.ids, prompts=per[b, 0])
                self.assertTrue(
                    torch.allclose(out['embeds'][b], single, atol=1e-5))
            # per image vision prompts
            vp = torch.randn(2, 4, 64)
            out = self.bb.encode_image(self.img, prompts=vp)
            for b in range(2):
                single = self.bb.encode_image(self.img[b:b + 1],
                                              prompts=vp[b])
                self.assertTrue(torch.allclose(out[b], single[0], atol=1e-5))
        with self.assertRaises(ValueError):
            self.bb.encode_image(self.img, prompts=torch.randn(3, 4, 64))


class TestHooksAndJoint(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.bb = tiny().eval()
        cls.img = torch.randn(2, 3, 32, 32)
        cls.ids = cls.bb.tokenize(['X X live face.', 'X X spoof face.'])

    def test_hooks(self):
        seen = []

        def record(layer, x, state):
            self.assertIsInstance(state, TowerState)
            seen.append((layer, tuple(x.shape)))

        with torch.no_grad():
            a = self.bb.encode_image(self.img, hooks=record)
            self.assertTrue(torch.allclose(a, self.bb.clip.encode_image(
                self.img), atol=1e-6))
            self.assertEqual([s[0] for s in seen], [0, 1, 2])
            b = self.bb.encode_image(self.img,
                                     hooks=lambda l, x, s: x * 1.5
                                     if l == 1 else None)
        self.assertFalse(torch.allclose(a, b, atol=1e-4))

    def test_pre_ln_hook(self):
        """A vision hook point before ln_pre, in encode_image and
        forward_joint, with the tokens written out directly."""
        v = self.bb.clip.visual
        seen = []

        def hook(x, state):
            self.assertIsInstance(state, TowerState)
            seen.append((tuple(x.shape), state.num_prompts))
            return x * 0.5 + 1.0

        p0 = torch.randn(2, 64)
        with torch.no_grad():
            out = self.bb.encode_image(self.img, prompts=p0,
                                       pre_ln_hooks=hook)
            x = v.conv1(self.img).flatten(2).transpose(1, 2)
            x = torch.cat([v.class_embedding.expand(2, 1, -1), x], 1)
            x = x + v.positional_embedding
            x = torch.cat([x, p0.expand(2, -1, -1)], 1)  # layer-0 prompts
            x = v.ln_pre(x * 0.5 + 1.0)
            for blk in v.transformer.resblocks:
                x = blk(x)
            ref = v.ln_post(x[:, 0]) @ v.proj
            self.assertTrue(torch.allclose(out, ref, atol=1e-5))
            # 1 CLS + 4 patches + 2 prompts, before ln_pre
            self.assertEqual(seen, [((2, 7, 64), 2)])
            # a hook returning None changes nothing
            same = self.bb.encode_image(self.img,
                                        pre_ln_hooks=lambda x, s: None)
            self.assertTrue(torch.allclose(
                same, self.bb.clip.encode_image(self.img), atol=1e-6))
            vj, _ = self.bb.forward_joint(self.img, self.ids,
                                          vision_prompts=p0,
                                          vision_pre_ln_hooks=hook)
            self.assertTrue(torch.allclose(vj['embeds'], out, atol=1e-6))

    def test_joint_prompt_pos(self):
        """forward_joint places text prompts at prompt_pos like
        encode_text."""
        ids = self.bb.tokenize(['a X X live face.', 'a X X spoof face.'])
        ctx = torch.randn(2, 64)
        with torch.no_grad():
            _, t2 = self.bb.forward_joint(self.img, ids, text_prompts=ctx,
                                          prompt_pos=2)
            ref2 = self.bb.encode_text(ids, prompts=ctx, prompt_pos=2)
            _, t1 = self.bb.forward_joint(self.img, ids, text_prompts=ctx)
        self.assertTrue(torch.allclose(t2['embeds'], ref2, atol=1e-6))
        self.assertTrue(torch.allclose(
            t1['embeds'], self.bb.encode_text(ids, prompts=ctx), atol=1e-6))
        self.assertFalse(torch.allclose(t1['embeds'], t2['embeds'],
                                        atol=1e-4))

    def test_joint_equals_separate(self):
        tp = [torch.randn(2, 64), torch.randn(2, 64)]
        vp = {0: torch.randn(2, 64)}
        with torch.no_grad():
            v, t = self.bb.forward_joint(self.img, self.ids,
                                         vision_prompts=vp, text_prompts=tp)
            self.assertTrue(torch.allclose(
                v['embeds'], self.bb.encode_image(self.img, prompts=vp),
                atol=1e-6))
            self.assertTrue(torch.allclose(
                t['embeds'], self.bb.encode_text(self.ids, prompts=tp),
                atol=1e-6))

    def test_joint_lpi_style_interaction(self):
        """Text->vision projected prompts at layer 1 and a vision->text
        cross step; per-image text."""
        proj = torch.nn.Linear(64, 64)
        calls = []

        def callback(layer, vs, ts):
            calls.append(layer)
            if layer != 1:
                return
            tprompt = ts.prompt_tokens()  # (B * N, n, Dt)
            self.assertEqual(tprompt.shape, (4, 2, 64))
            patches = vs.patch_tokens()  # (B, 4, Dv)
            guided = ts.per_image_view(tprompt) + patches.mean(
                1, keepdim=True).unsqueeze(1)
            x = ts.x.clone()
            x[:, ts.prompt_slice] = guided.reshape(4, 2, 64)
            ts.x = x
            vs.inject(proj(tprompt.reshape(2, 2, 2, 64)[:, 0]))

        v, t = self.bb.forward_joint(self.img, self.ids, callback,
                                     text_prompts=torch.randn(2, 64),
                                     text_per_image=True)
        self.assertEqual(calls, [0, 1])
        self.assertEqual(v['num_prompts'], 2)
        self.assertEqual(t['embeds'].shape, (2, 2, 32))
        (v['embeds'].sum() + t['embeds'].sum()).backward()
        self.assertIsNotNone(proj.weight.grad)


class TestAdapters(TestCase):

    def test_zero_init_parity_and_grads(self):
        bb = tiny(adapters=ADC, freeze='all')
        self.assertEqual(len(bb.adapters['vision']), 2)
        img = torch.randn(2, 3, 32, 32)
        bb.eval()
        with torch.no_grad():
            self.assertTrue(torch.allclose(
                bb.encode_image(img), bb.clip.encode_image(img), atol=1e-6))
        bb.train()
        bb.encode_image(img, prompts=torch.randn(2, 64)).sum().backward()
        ad = bb.adapters['vision']['0']['attn']
        self.assertGreater(ad.up.weight.grad.abs().sum(), 0)
        # once up is non-zero, the conv (and its theta) gets gradients
        for m in bb.adapters.modules():
            if isinstance(m, torch.nn.Linear) and m.out_features == 64:
                torch.nn.init.normal_(m.weight, std=0.1)
        bb.zero_grad()
        out = bb.encode_image(img, prompts=torch.randn(2, 64))
        out.sum().backward()
        self.assertGreater(ad.conv.theta_raw.grad.abs(), 0)
        self.assertGreater(ad.down.weight.grad.abs().sum(), 0)
        self.assertTrue(all(p.grad is None for p in bb.clip.parameters()))

    def test_text_adapters_and_layer_choice(self):
        bb = tiny(adapters=dict(text=dict(layers=[-1], positions='mlp')))
        self.assertEqual(list(bb.adapters['text']), ['1'])
        self.assertEqual(list(bb.adapters['text']['1']), ['mlp'])
        ids = bb.tokenize(['a face'])
        bb.eval()
        with torch.no_grad():
            self.assertTrue(torch.allclose(
                bb.encode_text(ids), bb.clip.encode_text(ids), atol=1e-6))
        self.assertEqual(
            len(list(bb.text_parameters())),
            len(list(bb.clip.transformer.parameters())) + 5 + 4)
        with self.assertRaises(ValueError):  # conv needs the patch grid
            bad = tiny(adapters=dict(text=dict(conv='cdc')))
            bad.encode_text(ids)


class TestFreezing(TestCase):

    def _trainable(self, bb):
        return {n for n, p in bb.named_parameters() if p.requires_grad}

    def test_policies(self):
        bb = tiny(freeze='all')
        self.assertEqual(self._trainable(bb), set())
        bb = tiny(freeze='vision')
        names = self._trainable(bb)
        self.assertTrue(names)
        self.assertFalse(any(n.startswith('clip.visual') for n in names))
        self.assertIn('clip.logit_scale', names)
        self.assertIn('clip.token_embedding.weight', names)
        bb = tiny(freeze='text')
        names = self._trainable(bb)
        self.assertTrue(all(n.startswith('clip.visual') or
                            n == 'clip.logit_scale' for n in names))
        bb = tiny(freeze='norms')
        names = self._trainable(bb)
        self.assertTrue(names)
        self.assertTrue(all('ln' in n for n in names), names)
        bb = tiny(freeze=dict(towers='vision', layers=['embed', 0]))
        names = self._trainable(bb)
        self.assertNotIn('clip.visual.conv1.weight', names)
        self.assertFalse(any(
            n.startswith('clip.visual.transformer.resblocks.0.')
            for n in names))
        self.assertIn(
            'clip.visual.transformer.resblocks.1.attn.in_proj_weight', names)
        self.assertIn('clip.visual.proj', names)
        bb = tiny(freeze=[dict(towers='vision'),
                          dict(towers='text', layers=[1, 'head'],
                               norms_only=True)])
        names = self._trainable(bb)
        self.assertIn('clip.transformer.resblocks.1.ln_1.weight', names)
        self.assertNotIn('clip.transformer.resblocks.1.mlp.c_fc.weight',
                         names)
        self.assertIn('clip.transformer.resblocks.0.mlp.c_fc.weight', names)
        bb.set_freeze('none')
        self.assertEqual(self._trainable(bb),
                         {n for n, _ in bb.named_parameters()})

    def test_eval_mode_survives_train(self):
        bb = tiny(freeze='vision', adapters=ADC)
        bb.train()
        self.assertFalse(bb.clip.visual.training)
        self.assertFalse(bb.clip.visual.patch_dropout.training)
        self.assertTrue(bb.clip.transformer.training)
        self.assertTrue(bb.adapters.training)
        self.assertTrue(bb.adapters['vision']['0']['attn'].dropout.training)
        bb.eval()
        self.assertFalse(bb.clip.transformer.training)
        bb.train()
        self.assertFalse(bb.clip.visual.transformer.resblocks[0].training)
        bb = tiny(freeze='norms').train()
        blk = bb.clip.visual.transformer.resblocks[0]
        self.assertTrue(blk.training and blk.ln_1.training)
        self.assertFalse(blk.mlp.training or blk.attn.training)

    def test_grads_reach_exactly_trainable(self):
        for freeze in ('all', 'vision', 'norms',
                       dict(towers='text', layers=[0])):
            bb = tiny(freeze=freeze, adapters=ADC).train()
            img = torch.randn(2, 3, 32, 32)
            ids = bb.tokenize(['a face', 'b face'])
            loss = (bb.logit_scale.exp() * bb.encode_image(img, normalize=True)
                    @ bb.encode_text(ids, normalize=True).T).sum()
            loss.backward()
            trainable = self._trainable(bb)
            with_grad = {n for n, p in bb.named_parameters()
                         if p.grad is not None}
            self.assertEqual(with_grad, trainable, freeze)

    def test_grad_checkpointing_same_grads(self):
        img = torch.randn(2, 3, 32, 32)
        ids_t = ['X X a face', 'X X b face']
        grads = []
        for gc in (False, True):
            bb = tiny(adapters=ADC, grad_checkpointing=gc).train()
            bb.adapters.eval()  # no dropout randomness
            for m in bb.adapters.modules():
                if isinstance(m, torch.nn.Linear) and m.out_features == 64:
                    torch.manual_seed(1)
                    torch.nn.init.normal_(m.weight, std=0.1)
            torch.manual_seed(2)
            tp = torch.randn(2, 64)
            loss = bb.encode_image(img).pow(2).sum() + bb.encode_text(
                bb.tokenize(ids_t), prompts=[tp, tp]).pow(2).sum()
            loss.backward()
            grads.append({n: p.grad.clone() for n, p in bb.named_parameters()
                          if p.grad is not None})
        self.assertEqual(grads[0].keys(), grads[1].keys())
        for n in grads[0]:
            self.assertTrue(torch.allclose(grads[0][n], grads[1][n],
                                           atol=1e-6), n)

    def test_autocast_bf16_cpu(self):
        bb = tiny(adapters=ADC).eval()
        img = torch.randn(2, 3, 32, 32)
        ids = bb.tokenize(['X X live face.', 'X X spoof face.'])
        with torch.no_grad():
            ref = bb.encode_image(img, normalize=True)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                v = bb.encode_image(img, normalize=True)
                t = bb.encode_text(ids, prompts=torch.randn(2, 64))
        self.assertTrue(torch.isfinite(v.float()).all())
        self.assertTrue(torch.isfinite(t.float()).all())
        self.assertGreater(torch.cosine_similarity(v.float(), ref).min(),
                           0.95)
        # and a backward under autocast
        bb.train()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            loss = bb.encode_image(img).float().sum()
        loss.backward()
        self.assertIsNotNone(bb.clip.visual.conv1.weight.grad)

    def test_deepcopy(self):
        bb = tiny()
        bb2 = copy.deepcopy(bb)
        img = torch.randn(1, 3, 32, 32)
        with torch.no_grad():
            self.assertTrue(torch.allclose(bb.eval()(img)[0],
                                           bb2.eval()(img)[0]))


class TestTinyClipHelper(TestCase):

    def test_one_tiny_clip(self):
        """mmfas.testing's tiny CLIP is the config's (at 32 px), hands out
        fresh copies, and seeds its weights."""
        import os.path as osp

        from mmengine.config import Config

        from mmfas.testing import (tiny_backbone, tiny_backbone_cfg,
                                   tiny_clip_arch)
        cfg = Config.fromfile(osp.join(
            osp.dirname(__file__), '..', '..', 'configs', '_base_', 'models',
            'clip_tiny.py'))
        self.assertEqual(cfg.tiny_clip_backbone.arch.to_dict(),
                         tiny_clip_arch(image_size=224))
        arch = tiny_clip_arch()
        arch['vision_cfg']['layers'] = 5
        self.assertEqual(tiny_clip_arch()['vision_cfg']['layers'], 2)
        self.assertFalse(tiny_clip_arch(quick_gelu=False)['quick_gelu'])
        with self.assertRaisesRegex(KeyError, 'unknown keys'):
            tiny_clip_arch(layers=3)
        self.assertEqual(tiny_backbone_cfg(freeze='all')['freeze'], 'all')
        a, b = tiny_backbone(seed=3), tiny_backbone(seed=3)
        for (k, p), q in zip(a.named_parameters(), b.parameters()):
            self.assertTrue(torch.equal(p, q), k)
