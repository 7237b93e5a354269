"""Building CLIP and loading each local weights format, generated here from a
tiny model; refusals (QuickGELU mismatch, key mismatch, bad path, unsafe
pickle)."""
import json
import os
import os.path as osp
import tempfile
from copy import deepcopy
from unittest import TestCase

import open_clip
import torch
from safetensors.torch import save_file

from mmfas.models.backbones import OpenCLIPBackbone
from mmfas.models.utils import (ClipWeightsMismatchError, build_clip_model,
                                is_torchscript_archive, load_clip_state_dict,
                                uses_quick_gelu)
from mmfas.testing import tiny_clip_arch
from mmfas.utils import UnsafeCheckpointError

TINY = tiny_clip_arch()
TINY_GELU = tiny_clip_arch(quick_gelu=False)


class _Evil:

    def __reduce__(self):
        return (print, ('this must never run', ))


class TestClipLoading(TestCase):

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        torch.manual_seed(123)
        cls.src = open_clip.CLIP(**TINY).eval()
        cls.sd = {k: v.clone() for k, v in cls.src.state_dict().items()}

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, *names):
        return osp.join(self.tmp.name, *names)

    def assert_loaded(self, model):
        got = model.state_dict()
        self.assertEqual(set(got), set(self.sd))
        for k, v in self.sd.items():
            self.assertTrue(torch.equal(got[k], v), k)

    def test_open_clip_state_dict(self):
        p = self.path('oc.pt')
        torch.save(self.sd, p)
        torch.manual_seed(0)
        self.assert_loaded(build_clip_model(TINY, p))
        # open_clip itself reads the same file
        ref = open_clip.CLIP(**TINY)
        open_clip.load_checkpoint(ref, p)
        self.assert_loaded(ref)
        self.assertTrue(uses_quick_gelu(ref))
        self.assertFalse(uses_quick_gelu(open_clip.CLIP(**TINY_GELU)))

    def test_nested_and_prefixed(self):
        p = self.path('nested.pth')
        torch.save(dict(epoch=3, state_dict={'module.' + k: v
                                             for k, v in self.sd.items()}),
                   p)
        self.assert_loaded(build_clip_model(TINY, p))
        p2 = self.path('mmfas_ckpt.pth')
        sd = {'backbone.clip.' + k: v for k, v in self.sd.items()}
        sd['head.fc.weight'] = torch.zeros(2, 2)
        torch.save(dict(meta=dict(epoch=1), state_dict=sd), p2)
        self.assert_loaded(build_clip_model(TINY, p2,
                                            prefix='backbone.clip.'))
        with self.assertRaises(ClipWeightsMismatchError):
            build_clip_model(TINY, p2)

    def test_safetensors_and_bin(self):
        p = self.path('w.safetensors')
        save_file({k: v.contiguous() for k, v in self.sd.items()}, p)
        self.assert_loaded(build_clip_model(TINY, p))
        p = self.path('w.bin')
        torch.save(self.sd, p)
        self.assert_loaded(build_clip_model(TINY, p))

    def test_torchscript_archive(self):
        """An OpenAI-style archive: scripted model with fp16 weights."""
        m = deepcopy(self.src)
        open_clip.model.convert_weights_to_lp(m, dtype=torch.float16)
        p = self.path('ViT-tiny.pt')
        torch.jit.script(m).save(p)
        self.assertTrue(is_torchscript_archive(p))
        sd, fmt = load_clip_state_dict(p)
        self.assertEqual(fmt, 'torchscript')
        model = build_clip_model(TINY, p)
        self.assertEqual(sd['visual.proj'].dtype, torch.float16)
        for k, v in model.state_dict().items():
            self.assertEqual(v.dtype, torch.float32)
            self.assertTrue(torch.equal(v, sd[k].float()), k)
            self.assertTrue(torch.allclose(v, self.sd[k], atol=1e-2), k)
        bb = OpenCLIPBackbone(arch=TINY, pretrained=p).eval()
        img = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            self.assertTrue(torch.allclose(bb.encode_image(img),
                                           model.encode_image(img)))
        # OpenAI weights into a GELU architecture are refused
        with self.assertRaisesRegex(ValueError, 'QuickGELU'):
            build_clip_model(TINY_GELU, p)
        with self.assertRaisesRegex(ValueError, 'QuickGELU'):
            OpenCLIPBackbone(arch=TINY_GELU, pretrained=p)
        # a torch.save zip is not taken for an archive
        torch.save(self.sd, self.path('plain.pt'))
        self.assertFalse(is_torchscript_archive(self.path('plain.pt')))

    def test_quick_gelu_tag_and_declared(self):
        # checked before any download is attempted
        with self.assertRaisesRegex(ValueError, 'quickgelu'):
            build_clip_model('ViT-B-16', 'openai')
        p = self.path('declared.pt')
        torch.save(self.sd, p)
        with self.assertRaisesRegex(ValueError, 'QuickGELU'):
            build_clip_model(TINY_GELU, p, weights_quick_gelu=True)
        self.assertTrue(uses_quick_gelu(build_clip_model(
            TINY_GELU, p, force_quick_gelu=True, weights_quick_gelu=True)))

    def test_local_dir(self):
        d = self.path('hub_dir')
        os.makedirs(d)
        with open(osp.join(d, 'open_clip_config.json'), 'w') as f:
            json.dump(dict(model_cfg=TINY), f)
        torch.save(self.sd, osp.join(d, 'open_clip_pytorch_model.bin'))
        # architecture from the folder's config
        self.assert_loaded(build_clip_model(None, f'local-dir:{d}'))
        self.assert_loaded(build_clip_model(TINY, d))
        # open_clip's own schema, through the backbone
        bb = OpenCLIPBackbone(arch=f'local-dir:{d}')
        self.assert_loaded(bb.clip)
        with self.assertRaisesRegex(ValueError, 'QuickGELU'):
            build_clip_model(TINY_GELU, f'local-dir:{d}')
        # a folder without config holding a single weights file
        d2 = self.path('plain_dir')
        os.makedirs(d2)
        save_file({k: v.contiguous() for k, v in self.sd.items()},
                  osp.join(d2, 'weights.safetensors'))
        self.assert_loaded(build_clip_model(TINY, f'local-dir:{d2}'))
        torch.save(self.sd, osp.join(d2, 'other.pt'))
        with self.assertRaisesRegex(ValueError, 'Several'):
            build_clip_model(TINY, d2)

    def test_key_mismatch_is_an_error(self):
        sd = dict(self.sd)
        del sd['visual.proj']
        torch.save(sd, self.path('missing.pt'))
        with self.assertRaisesRegex(ClipWeightsMismatchError, 'visual.proj'):
            build_clip_model(TINY, self.path('missing.pt'))
        sd = dict(self.sd, extra_weight=torch.zeros(1))
        torch.save(sd, self.path('extra.pt'))
        with self.assertRaisesRegex(ClipWeightsMismatchError, 'extra_weight'):
            build_clip_model(TINY, self.path('extra.pt'))

    def test_bad_paths(self):
        bad = self.path('nowhere', 'clip.pt')
        with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
            build_clip_model(TINY, bad)
        with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
            OpenCLIPBackbone(arch='ViT-B-16-quickgelu', pretrained=bad)
        with self.assertRaisesRegex(FileNotFoundError, 'no_dir'):
            build_clip_model(TINY, 'local-dir:' + self.path('no_dir'))
        with self.assertRaisesRegex(FileNotFoundError, 'not_a_tag'):
            build_clip_model('ViT-B-16-quickgelu', 'not_a_tag')
        with self.assertRaises(ValueError):
            build_clip_model('ViT-Nonexistent-99', None)

    def test_unsafe_pickle_refused(self):
        p = self.path('evil.pt')
        torch.save({'visual.proj': torch.zeros(1), 'x': _Evil()}, p)
        with self.assertRaises(UnsafeCheckpointError):
            build_clip_model(TINY, p)

    def test_force_image_size_resizes(self):
        p = self.path('resize.pt')
        torch.save(self.sd, p)
        model = build_clip_model(TINY, p, force_image_size=64)
        self.assertEqual(model.visual.positional_embedding.shape, (17, 64))
