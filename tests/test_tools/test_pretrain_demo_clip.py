"""The demo CLIP: contrastive pretraining script, zero-shot script, configs."""
import importlib.util
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from mmfas.datasets.demo_data import make_demo_dataset

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(rel):
    path = osp.join(REPO, rel)
    spec = importlib.util.spec_from_file_location(
        osp.splitext(osp.basename(rel))[0], path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope='module')
def pre():
    return _load('tools/misc/pretrain_demo_clip.py')


@pytest.fixture(scope='module')
def tiny_demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo'))
    make_demo_dataset(root, num_subjects=3, frames_per_video=1,
                      domains=('DemoA', 'DemoD'), num_workers=0)
    return root


def test_caption_loss_is_clip_loss_for_distinct_captions(pre):
    from open_clip.loss import ClipLoss
    g = torch.Generator().manual_seed(0)
    img, txt = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    scale = torch.tensor(2.0)
    ours = pre.caption_contrastive_loss(img, txt, torch.eye(6, dtype=bool),
                                        scale)
    ref = ClipLoss()(torch.nn.functional.normalize(img, dim=-1),
                     torch.nn.functional.normalize(txt, dim=-1),
                     scale.exp())
    torch.testing.assert_close(ours, ref)


def test_caption_loss_with_shared_and_several_true_captions(pre):
    # caption 0 is true of images 0 and 2, caption 1 of images 1 and 2:
    # each side is a cross-entropy against the uniform distribution over
    # its positives
    g = torch.Generator().manual_seed(1)
    img, txt = torch.randn(3, 4, generator=g), torch.randn(2, 4, generator=g)
    pos = torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.bool)
    scale = torch.tensor(0.5)
    logits = scale.exp() * torch.nn.functional.normalize(img, dim=-1) @ \
        torch.nn.functional.normalize(txt, dim=-1).t()
    li = logits.log_softmax(1)
    lt = logits.log_softmax(0)
    loss_i = (-li[0, 0] - li[1, 1] - (li[2, 0] + li[2, 1]) / 2) / 3
    loss_t = (-(lt[0, 0] + lt[2, 0]) / 2 - (lt[1, 1] + lt[2, 1]) / 2) / 2
    torch.testing.assert_close(
        pre.caption_contrastive_loss(img, txt, pos, scale),
        (loss_i + loss_t) / 2)
    # an image without a true caption is an error, not a silent NaN
    with pytest.raises(ValueError, match='true caption'):
        pre.caption_contrastive_loss(img, txt, torch.tensor(
            [[1, 0], [0, 0], [1, 1]], dtype=torch.bool), scale)


def test_pretrain_writes_strictly_loadable_checkpoint(pre, tiny_demo,
                                                      tmp_path, capsys):
    out = str(tmp_path / 'clip.pth')

    def args(path):
        # a coarse stage then one at the model's own size (224 px)
        return ['--data-root', tiny_demo, '--domains', 'DemoA', '--stages',
                '32:2:1e-3', '224:1:1e-3:0.5', '--batch-size', '4', '--out',
                path, '--threads', '1', '--log-interval', '1']

    assert pre.main(args(out)) == 0
    text = capsys.readouterr().out
    assert 'step 2/2' in text and 'partial=' in text
    assert 'stage 1/2: 2 steps at 32 px' in text
    assert 'stage 2/2: 1 steps at 224 px' in text
    meta = json.load(open(str(tmp_path / 'clip.json')))
    assert [s['size'] for s in meta['stages']] == [32, 224]
    assert meta['domains'] == ['DemoA']
    # an open_clip state dict, loaded strictly by the safe loader
    sd = torch.load(out, weights_only=True)
    assert 'visual.conv1.weight' in sd and 'token_embedding.weight' in sd
    torch.manual_seed(0)
    random = pre.build_tiny_clip()
    trained = pre.build_tiny_clip(out)
    for k, v in trained.clip.state_dict().items():
        torch.testing.assert_close(v, sd[k])
    moved = [k for k, v in random.clip.state_dict().items()
             if not torch.equal(v, sd[k])]
    assert any(k.startswith('visual.') for k in moved)
    assert any(k.startswith('transformer.') for k in moved)  # text tower
    # the demo config's backbone loads it through the registry, strictly
    from mmfas.registry import MODELS
    cfg = Config.fromfile(osp.join(
        REPO, 'configs/_base_/models/clip_tiny_demo_pretrained.py'))
    bb = cfg.tiny_clip_backbone.to_dict()
    bb.pop('_delete_')
    bb['pretrained'] = out
    MODELS.build(bb)
    bad = str(tmp_path / 'bad.pth')
    torch.save({k: v for k, v in sd.items() if k != 'ln_final.weight'}, bad)
    from mmfas.models.utils import ClipWeightsMismatchError
    with pytest.raises(ClipWeightsMismatchError, match='ln_final.weight'):
        pre.build_tiny_clip(bad)
    # skipped when present, redone with --force
    stamp = os.stat(out).st_mtime_ns
    assert pre.main(args(out)) == 0
    assert 'nothing to do' in capsys.readouterr().out
    assert os.stat(out).st_mtime_ns == stamp
    # same seed, same weights
    out2 = str(tmp_path / 'again.pth')
    assert pre.main(args(out2)) == 0
    sd2 = torch.load(out2, weights_only=True)
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)


def test_stage_parsing(pre, capsys):
    assert pre.parse_stage('224:300:3e-4:0.5') == dict(
        size=224, iters=300, lr=3e-4, patch_dropout=0.5)
    assert pre.parse_stage('64:10:1e-3')['patch_dropout'] == 0.0
    for bad in ('224:300', '224:x:1e-3', '8:1:1e-3', '64:1:1e-3:1.0'):
        with pytest.raises(ValueError, match='stage'):
            pre.parse_stage(bad)
    assert pre.main(['--stages', '64:1', '--out', 'unused.pth']) == 2
    assert 'SIZE:ITERS:LR' in capsys.readouterr().err
    assert not osp.exists('unused.pth')


def test_pretrain_refuses_data_without_captions(pre, tmp_path, capsys):
    root = str(tmp_path / 'demo')
    make_demo_dataset(root, num_subjects=3, frames_per_video=1,
                      domains=('DemoA', ), num_workers=0)
    for name in ('all', 'partial'):
        path = osp.join(root, 'DemoA', 'annotations', f'{name}.jsonl')
        recs = [json.loads(line) for line in open(path)]
        with open(path, 'w') as f:
            for r in recs:
                r.pop('captions')
                f.write(json.dumps(r) + '\n')
    assert pre.main(['--data-root', root, '--domains', 'DemoA', '--stages',
                     '32:1:1e-3', '--out', str(tmp_path / 'x.pth')]) == 2
    assert 'no captions' in capsys.readouterr().err
    assert not osp.exists(str(tmp_path / 'x.pth'))


def test_zero_shot_script(pre, tiny_demo, tmp_path, capsys):
    zs = _load('tools/analysis_tools/zero_shot_demo.py')
    out = str(tmp_path / 'clip.pth')
    assert pre.main(['--data-root', tiny_demo, '--domains', 'DemoA',
                     '--stages', '224:1:1e-3:0.5', '--batch-size', '4',
                     '--out', out, '--threads', '1']) == 0
    capsys.readouterr()
    assert zs.main(['--weights', 'random', out, '--data-root', tiny_demo,
                    '--threads', '1']) == 0
    text = capsys.readouterr().out
    assert 'random init (seed 0)' in text and out in text
    assert 'classic video AUC' in text and 'partial video AUC' in text
    assert zs.main(['--weights', str(tmp_path / 'missing.pth'),
                    '--data-root', tiny_demo]) == 2


def test_zero_shot_scores_follow_flip_templates(pre):
    """The score is P(real) of the softmax over FLIP's [spoof, real] class
    text features: an image embedding equal to the real class feature
    scores above one equal to the spoof feature."""
    from mmfas.models.utils import TemplateBank
    zs = _load('tools/analysis_tools/zero_shot_demo.py')
    torch.manual_seed(0)
    bb = pre.build_tiny_clip()
    text = TemplateBank(tokenizer=bb.tokenize).class_embeddings(bb)
    feats = iter([text[[1, 0]]])
    bb.encode_image = lambda x: next(feats)
    scores = zs.zero_shot_scores(bb, [torch.zeros(3, 4, 4, dtype=torch.uint8)]
                                 * 2, lambda d: dict(inputs=d['inputs']))
    assert scores[0] > 0.5 > scores[1]


def test_demo_clip_configs_point_at_the_script_output(pre):
    base = Config.fromfile(osp.join(
        REPO, 'configs/_base_/models/clip_tiny_demo_pretrained.py'))
    tiny = Config.fromfile(osp.join(REPO,
                                    'configs/_base_/models/clip_tiny.py'))
    assert base.tiny_clip_backbone.pretrained == pre.DEFAULT_OUT
    a = base.tiny_clip_backbone.to_dict()
    b = tiny.tiny_clip_backbone.to_dict()
    assert {k for k in a if a[k] != b[k]} == {'pretrained'}
    flip = Config.fromfile(osp.join(REPO,
                                    'configs/flip/flip-it_tiny_demo_clip.py'))
    plain = Config.fromfile(osp.join(REPO,
                                     'configs/flip/flip-it_tiny_demo.py'))
    assert flip.model.backbone.pretrained == pre.DEFAULT_OUT
    assert plain.model.backbone.pretrained is None
    flip.model.backbone.pretrained = None
    assert flip.to_dict() == plain.to_dict()
