"""tools/model_converters/flip2mmfas.py (issue 16, "export and weights"):
checkpoints in FLIP's key layout (koushiksrivats/FLIP ``fas.py``: flip_v,
flip_it, flip_mcl) are built from a tiny CLIP, converted, loaded strictly
into the matching mmfas config, and give the outputs FLIP's forward gives.
The reference forwards below follow FLIP's model definitions on the FLIP
state dict, independently of mmfas."""
import copy
import importlib.util
import math
import os.path as osp

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmfas.apis import init_model
from mmfas.testing import tiny_clip_arch
from mmfas.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = {m: osp.join(REPO, 'configs', 'flip', f'{c}_tiny_demo.py')
           for m, c in (('flip_v', 'flip-v'), ('flip_it', 'flip-it'),
                        ('flip_mcl', 'flip-mcl'))}
# FLIP's prompt_templates.py (spoof_templates, real_templates)
SPOOF = ['This is an example of a spoof face',
         'This is an example of an attack face', 'This is not a real face',
         'This is how a spoof face looks like', 'a photo of a spoof face',
         'a printout shown to be a spoof face']
REAL = ['This is an example of a real face', 'This is a bonafide face',
        'This is a real face', 'This is how a real face looks like',
        'a photo of a real face', 'This is not a spoof face']


def _tool():
    spec = importlib.util.spec_from_file_location(
        'flip2mmfas', osp.join(REPO, 'tools/model_converters/flip2mmfas.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _tool()


def _clip(seed=0):
    """A tiny CLIP with the demo configs' architecture (224 px), its
    weights rounded to fp16 (FLIP's CLIP may be stored in half)."""
    torch.manual_seed(seed)
    clip = open_clip.CLIP(**tiny_clip_arch(224)).eval()
    with torch.no_grad():
        clip.logit_scale.fill_(math.log(20.))
        for p in clip.parameters():
            p.copy_(p.half().float())
    return clip


def _save(path, state):
    torch.save(dict(epoch=7, state_dict=state,
                    valid_arg=[np.float64(0.1), 0.2, np.float64(0.3)],
                    best_model_EER=0.1, threshold=np.float64(0.42)), path)


def _images(n=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 224, 224, generator=g)


def _flip_it_logits(clip, x):
    """FLIP-IT's forward: template ensembles, cosine logits."""
    tok = open_clip.get_tokenizer('ViT-B-16')
    text = torch.stack([clip.encode_text(tok(t)).mean(0)
                        for t in (SPOOF, REAL)])
    img = clip.encode_image(x)
    img = img / img.norm(dim=-1, keepdim=True)
    text = text / text.norm(dim=-1, keepdim=True)
    return clip.logit_scale.exp() * img @ text.t()


def test_flip_it(tmp_path):
    clip = _clip()
    flip = str(tmp_path / 'flip_it.pth.tar')
    _save(flip, {f'model.{k}': v.half()
                 for k, v in clip.state_dict().items()})
    out = str(tmp_path / 'flip_it_mmfas.pth')
    meta = tool.main([flip, '--model', 'flip_it', '--out', out,
                      '--config', CONFIGS['flip_it']])
    assert meta['converted_from']['dtypes'] == ['torch.float16']
    assert meta['flip']['threshold'] == pytest.approx(0.42)
    assert meta['flip']['epoch'] == 7
    model = init_model(CONFIGS['flip_it'], out)  # strict
    x = _images()
    with torch.no_grad():
        torch.testing.assert_close(model.logits(x), _flip_it_logits(clip, x),
                                   rtol=1e-5, atol=1e-5)
    ckpt = safe_torch_load(out)
    assert all(v.dtype == torch.float32 for v in ckpt['state_dict'].values()
               if v.is_floating_point())


def test_flip_v(tmp_path):
    clip = _clip(seed=2)
    torch.manual_seed(3)
    fc = nn.Linear(64, 512)  # FLIP: 768 -> 512 for ViT-B; tiny: 64
    cls_layer = nn.Linear(512, 2)
    state = {f'backbone.vit.{k}': v for k, v in
             clip.visual.state_dict().items()}
    for prefix in ('embedder.bottleneck_layer_fc.',
                   'embedder.bottleneck_layer.0.'):  # registered twice
        state.update({prefix + k: v for k, v in fc.state_dict().items()})
    state.update({f'classifier.classifier_layer.{k}': v
                  for k, v in cls_layer.state_dict().items()})
    flip = str(tmp_path / 'flip_v.pth.tar')
    _save(flip, state)
    out = str(tmp_path / 'flip_v_mmfas.pth')
    meta = tool.main([flip, '--model', 'flip_v', '--out', out,
                      '--config', CONFIGS['flip_v']])
    filled = meta['converted_from']['filled_unused_keys']
    assert 'backbone.clip.token_embedding.weight' in filled
    assert not any(k.startswith('backbone.clip.visual.') for k in filled)
    model = init_model(CONFIGS['flip_v'], out)
    x = _images()
    # FLIP-V's forward: CLS after ln_post (before proj), embedder, the
    # column-normalised classifier
    vis = copy.deepcopy(clip.visual)
    vis.proj = None
    with torch.no_grad():
        f = F.relu(fc(vis(x)))
        f = f / (f.norm(dim=1, keepdim=True).clamp(min=1e-12)**0.5 *
                 2**0.5)
        w = cls_layer.weight / cls_layer.weight.norm(dim=0, keepdim=True)
        ref = f @ w.t() + cls_layer.bias
        torch.testing.assert_close(model.logits(x), ref, rtol=1e-5,
                                   atol=1e-5)
    # the text tower can come from CLIP weights instead of random
    other = _clip(seed=5)
    clip_file = str(tmp_path / 'clip.pt')
    torch.save(other.state_dict(), clip_file)
    out2 = str(tmp_path / 'flip_v_mmfas2.pth')
    tool.main([flip, '--model', 'flip_v', '--out', out2, '--config',
               CONFIGS['flip_v'], '--clip-weights', clip_file])
    sd = safe_torch_load(out2)['state_dict']
    torch.testing.assert_close(sd['backbone.clip.token_embedding.weight'],
                               other.token_embedding.weight)


def test_flip_mcl(tmp_path):
    clip = _clip(seed=4)
    torch.manual_seed(6)
    # FLIP's _build_mlp names (512 -> 4096 -> 4096 -> 256 for ViT-B/16;
    # the tiny demo config: 32 -> 256 -> 256 -> 64)
    mlp = nn.Sequential()
    mlp.add_module('layer1', nn.Linear(32, 256))
    mlp.add_module('bn1', nn.BatchNorm1d(256))
    mlp.add_module('relu1', nn.ReLU())
    mlp.add_module('layer2', nn.Linear(256, 256))
    mlp.add_module('bn2', nn.BatchNorm1d(256))
    mlp.add_module('relu2', nn.ReLU())
    mlp.add_module('layer3', nn.Linear(256, 64))
    with torch.no_grad():
        for bn in (mlp.bn1, mlp.bn2):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.num_batches_tracked.fill_(9)
    mlp.eval()
    state = {f'model.{k}': v for k, v in clip.state_dict().items()}
    state.update({f'image_mlp.{k}': v for k, v in mlp.state_dict().items()})
    flip = str(tmp_path / 'flip_mcl.pth.tar')
    _save(flip, state)
    out = str(tmp_path / 'flip_mcl_mmfas.pth')
    tool.main([flip, '--model', 'flip_mcl', '--out', out, '--config',
               CONFIGS['flip_mcl']])
    model = init_model(CONFIGS['flip_mcl'], out)
    x = _images()
    e = torch.randn(4, 32)
    with torch.no_grad():
        torch.testing.assert_close(model.logits(x), _flip_it_logits(clip, x),
                                   rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(model.projector(e), mlp(e), rtol=1e-5,
                                   atol=1e-5)


def test_wrong_variant_and_unsafe_files(tmp_path):
    assert all(osp.isfile(c) for c in tool.DEFAULT_CONFIGS.values())
    clip = _clip()
    flip = str(tmp_path / 'flip_it.pth.tar')
    _save(flip, {f'model.{k}': v for k, v in clip.state_dict().items()})
    with pytest.raises(ValueError, match=r"not part of FLIP's flip_v layout"
                       r'.*model\.'):
        tool.run(flip, 'flip_v', str(tmp_path / 'x.pth'), verify=False)
    # a stray key is named, never dropped
    state = {f'model.{k}': v for k, v in clip.state_dict().items()}
    state['model.extra_head.weight'] = torch.zeros(2)
    _save(flip, state)
    with pytest.raises(RuntimeError, match='extra_head'):
        tool.run(flip, 'flip_it', str(tmp_path / 'x.pth'),
                 config=CONFIGS['flip_it'])
    # FLIP-MCL's MLP keys in a flip_it conversion are unknown
    state.pop('model.extra_head.weight')
    state['image_mlp.layer1.weight'] = torch.zeros(2)
    _save(flip, state)
    with pytest.raises(ValueError, match='image_mlp.layer1.weight'):
        tool.run(flip, 'flip_it', str(tmp_path / 'x.pth'), verify=False)
    # numpy scalars are fine, code is not
    import os
    bad = str(tmp_path / 'evil.pth')
    torch.save(dict(state_dict={'model.a': torch.zeros(1)},
                    hook=os.getcwd), bad)
    from mmfas.utils.checkpoint import UnsafeCheckpointError
    with pytest.raises(UnsafeCheckpointError):
        tool.load_flip_checkpoint(bad)
