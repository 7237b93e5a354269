"""CM-CLIP (issue 15): ADC-Adapter, FGPL prompts and losses, modality-context
shuffle, conditional token, what trains, checkpoints, configs."""
import glob
import os
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmpretrain.structures import DataSample
from torch import nn

from mmfas.datasets.annotation import MODALITIES
from mmfas.models.classifiers import CMCLIP
from mmfas.models.utils import CDCConv2d, trainable_state_dict
from mmfas.models.utils.trainable import set_weights_source
from mmfas.testing import TINY_IMAGE_SIZE, tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules(init_default_scope=False)
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ADC = dict(vision=dict(layers='all', positions=('attn', 'mlp'), conv='adc',
                       bottleneck=4, dropout=0.1))


def build(seed=0, adapters=ADC, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault('n_ctx', 4)
    kwargs.setdefault('n_modality_ctx', 3)
    return CMCLIP(tiny_backbone_cfg(adapters=adapters), **kwargs)


def batch(labels=(0, 1, 0, 1), modalities=('rgb', 'rgb', 'depth', 'depth'),
          seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(labels), 3, TINY_IMAGE_SIZE, TINY_IMAGE_SIZE,
                    generator=g)
    samples = []
    for y, m in zip(labels, modalities):
        s = DataSample().set_gt_label(y)
        s.set_field(torch.tensor([MODALITIES.index(m)]), 'modality_label')
        s.set_metainfo(dict(modality=m))
        samples.append(s)
    return x, samples


def perturb_adapters(model, std=0.05):
    """Non-zero up-projections, so the adapters change the output."""
    with torch.no_grad():
        for name, p in model.backbone.adapters.named_parameters():
            if '.up.' in name:
                p.normal_(0, std)


# ------------------------------------------------------------------ CDC
def test_cdc_closed_form_on_constant_input():
    """On a constant image c, every window away from the zero padding sees
    c everywhere: y = (1 - theta) * c * sum(w) (+ bias), for any theta."""
    torch.manual_seed(0)
    c = 1.7
    x = torch.full((1, 3, 6, 6), c)
    for theta in (0.0, 0.3, 0.7, 1.0):
        conv = CDCConv2d(3, 4, 3, theta=theta, bias=True)
        out = conv(x)
        ksum = conv.weight.sum(dim=(1, 2, 3))  # per output channel
        expect = (1 - theta) * c * ksum + conv.bias
        inner = out[0, :, 1:-1, 1:-1]
        assert torch.allclose(inner, expect[:, None, None].expand_as(inner),
                              atol=1e-5), theta
    # theta = 0 is exactly a plain conv with the same weights
    conv = CDCConv2d(3, 4, 3, theta=0.0, bias=True)
    plain = nn.Conv2d(3, 4, 3, padding=1)
    plain.load_state_dict(conv.state_dict())
    y = torch.randn(2, 3, 5, 5)
    assert torch.equal(conv(y), plain(y))


def test_adaptive_cdc_interpolates_vanilla_and_central_difference():
    """ADC (learnable theta = sigmoid(raw)): the output is the linear mix
    (1 - theta) * vanilla + theta * pure CDC of the same kernel, i.e. the
    learned gate between the two."""
    torch.manual_seed(0)
    x = torch.randn(2, 4, 7, 7)
    adc = CDCConv2d(4, 5, 3, theta=0.5, learnable_theta=True)
    vanilla = CDCConv2d(4, 5, 3, theta=0.0)
    pure = CDCConv2d(4, 5, 3, theta=1.0)
    vanilla.weight.data.copy_(adc.weight.data)
    pure.weight.data.copy_(adc.weight.data)
    for raw in (-2.0, 0.0, 1.3):
        adc.theta_raw.data.fill_(raw)
        t = torch.sigmoid(torch.tensor(raw))
        mix = (1 - t) * vanilla(x) + t * pure(x)
        assert torch.allclose(adc(x), mix, atol=1e-5), raw
    # and the endpoints are the two convs
    adc.theta_raw.data.fill_(-30.0)
    assert torch.allclose(adc(x), vanilla(x), atol=1e-5)
    adc.theta_raw.data.fill_(30.0)
    assert torch.allclose(adc(x), pure(x), atol=1e-5)


# ------------------------------------------------------------- adapters
def test_adapters_at_init_leave_clip_unchanged_exactly():
    """Fresh ADC-Adapters (zero up-projection) compute exactly what the
    unmodified open_clip model computes, in train and eval mode."""
    model = build()
    x, _ = batch()
    clip = model.backbone.clip
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            ours = model.backbone.encode_image(x)
            ref = clip.encode_image(x)
        assert torch.equal(ours, ref)
    # the adapters are live: non-zero up-projections change the features
    perturb_adapters(model)
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model.backbone.encode_image(x),
                                  clip.encode_image(x))


def test_gradients_reach_exactly_adapters_contexts_and_meta_net():
    model = build()
    perturb_adapters(model)  # so every adapter weight gets a gradient
    model.train()
    x, samples = batch()
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_category', 'loss_modality', 'loss_mixed',
                           'loss_decorrelation'}
    sum(losses.values()).backward()
    expected = ('backbone.adapters.', 'content_ctx', 'modality_ctx',
                'meta_net.')
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(expected) for n in trainable)
    for prefix in expected:
        assert any(n.startswith(prefix) for n in trainable), prefix
    # the convs of the last block only touch patch tokens after the last
    # attention, which CLS pooling never reads: they get a zero gradient
    last = f'backbone.adapters.vision.{model.backbone.vision_depth - 1}.'
    for name, p in model.named_parameters():
        if name.startswith(last) and '.conv.' in name:
            assert p.grad is not None and p.grad.abs().sum() == 0, name
        elif name.startswith(expected):
            assert p.grad is not None and p.grad.abs().sum() > 0, name
        else:  # CLIP, logit scale included: frozen, untouched
            assert not p.requires_grad and p.grad is None, name
    assert any(n.endswith('conv.theta_raw') for n in trainable)


def test_adapter_variants_from_config():
    plain = build(adapters=dict(vision=dict(conv=None, bottleneck=4)))
    ad = plain.backbone.adapters['vision']['0']['attn']
    assert ad.conv is None
    none = build(adapters=None)
    assert len(none.backbone.adapters) == 0
    names = {n for n, p in none.named_parameters() if p.requires_grad}
    assert names == {'content_ctx', 'modality_ctx', 'meta_net.linear1.weight',
                     'meta_net.linear1.bias', 'meta_net.linear2.weight',
                     'meta_net.linear2.bias'}
    # freeze_clip overrides a backbone configured trainable
    assert not any(p.requires_grad for p in none.backbone.clip.parameters())


# ----------------------------------------------------------------- FGPL
def test_fgpl_prompts_losses_and_inference():
    model = build(loss_weights=dict(modality=0.5, mixed=2.0))
    perturb_adapters(model)
    model.eval()  # no dropout: the loss terms and logits are comparable
    x, samples = batch()
    labels = torch.tensor([0, 1, 0, 1])
    losses, terms = model.loss(x, samples, return_terms=True)
    b, c, m = 4, 2, 3
    assert terms['category_features'].shape == (b, c, 32)
    assert terms['modality_features'].shape == (b, m, 32)
    assert terms['mixed_features'].shape == (b, m * c, 32)
    assert terms['modality_index'].tolist() == [0, 0, 1, 1]
    # the three CE losses, weighted
    assert torch.allclose(losses['loss_category'], F.cross_entropy(
        terms['category_logits'], labels))
    assert torch.allclose(losses['loss_modality'], 0.5 * F.cross_entropy(
        terms['modality_logits'], terms['modality_index']))
    img = F.normalize(terms['image_embeds'], dim=-1)
    scale = model.backbone.logit_scale.exp()
    mix = terms['mixed_features'].unflatten(1, (m, c))
    own = torch.stack([mix[i, terms['modality_index'][i]] for i in range(b)])
    expect = scale * torch.einsum('be,bce->bc', img, own)
    assert torch.allclose(terms['mixed_logits'], expect, atol=1e-5)
    assert torch.allclose(losses['loss_mixed'],
                          2.0 * F.cross_entropy(expect, labels), atol=1e-5)
    assert torch.allclose(losses['loss_decorrelation'], (torch.einsum(
        'bce,bme->bcm', terms['category_features'],
        terms['modality_features'])**2).mean(), atol=1e-6)
    # inference = the category logits
    with torch.no_grad():
        logits = model.logits(x)
        assert torch.allclose(logits, terms['category_logits'], atol=1e-5)
        preds = model.predict(x)
    live = torch.stack([p.live_score for p in preds])
    assert torch.allclose(live, logits.softmax(-1)[:, 1], atol=1e-6)
    # mixed over all M x C prompts
    model_all = build(mixed_targets='all')
    model_all.eval()
    losses, terms = model_all.loss(x, samples, return_terms=True)
    assert terms['mixed_logits'].shape == (b, m * c)
    target = terms['modality_index'] * c + labels
    assert torch.allclose(losses['loss_mixed'], F.cross_entropy(
        terms['mixed_logits'], target))


def test_prompt_tokens_hold_the_words():
    model = build(conditional=False)  # 4 content, 3 modality ctx tokens
    tok = model.backbone.tokenizer

    def words(ids):
        text = tok.decode(ids.tolist())
        return text.split('<start_of_text>')[1].split('<end_of_text>')[0] \
            .split()

    # modality-major: sequence m * C + c; (depth, live) = 1 * 2 + 1
    assert words(model.mixed_ids[3]) == ['x'] * 7 + [
        'live', 'face', ',', 'depth', '.']
    assert words(model.mixed_ids[4]) == ['x'] * 7 + [
        'spoof', 'face', ',', 'infrared', '.']
    assert words(model.modality_ids[0]) == ['x'] * 3 + ['color', '.']
    assert words(model.category_ids[1]) == ['x'] * 4 + ['live', 'face', '.']
    token = build(conditional_mode='token')  # one more placeholder
    assert words(token.category_ids[0]) == ['x'] * 5 + ['spoof', 'face', '.']


def test_levels_switch_parts_off():
    coop = build(levels=('category', ), decorrelation=None,
                 conditional=False)
    assert coop.modality_ctx is None and coop.meta_net is None
    x, samples = batch()
    losses = coop.loss(x, samples)
    assert set(losses) == {'loss_category'}
    # decorrelation alone keeps the modality context (no modality CE)
    dec = build(levels=('category', ))
    losses = dec.loss(x, samples)
    assert set(losses) == {'loss_category', 'loss_decorrelation'}
    nodec = build(decorrelation=None)
    assert set(nodec.loss(x, samples)) == {'loss_category', 'loss_modality',
                                           'loss_mixed'}
    cov = build(decorrelation=dict(type='DecorrelationLoss',
                                   mode='covariance'))
    assert cov.decorrelation.mode == 'covariance'


# ------------------------------------------------------------- shuffle
def test_modality_shuffle_is_a_replayable_permutation():
    model = build()
    idx = torch.tensor([0, 2, 2, 0])  # rgb and ir present, depth absent
    model.generator = torch.Generator().manual_seed(123)
    first = [model.draw_modality_permutation(idx) for _ in range(20)]
    for perm in first:
        assert sorted(perm.tolist()) == [0, 1, 2]
        assert perm[1] == 1  # an absent modality keeps its own context
    seen = {tuple(p.tolist()) for p in first}
    assert seen == {(0, 1, 2), (2, 1, 0)}  # both orders occur
    model.generator = torch.Generator().manual_seed(123)
    again = [model.draw_modality_permutation(idx) for _ in range(20)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    # one modality in the batch: nothing to shuffle
    assert model.draw_modality_permutation(
        torch.tensor([1, 1])).tolist() == [0, 1, 2]


def test_shuffled_contexts_reach_the_mixed_prompts_and_replay():
    model = build(conditional=False)
    perm = torch.tensor([1, 0, 2])
    mixed = model.mixed_prompts(perm=perm).unflatten(0, (3, 2))
    n = model.content_ctx.shape[0]
    # modality 0's prompts carry modality 1's context, after the content
    assert torch.equal(mixed[0, 1, n:], model.modality_ctx[1])
    assert torch.equal(mixed[1, 0, n:], model.modality_ctx[0])
    assert torch.equal(mixed[2, 0, n:], model.modality_ctx[2])
    assert torch.equal(mixed[0, 0, :n], model.content_ctx)
    # the modality prompts are not shuffled by default
    assert torch.equal(model.modality_prompts(), model.modality_ctx)
    # through the loss: replayable with the generator, varies otherwise
    model.eval()
    x, samples = batch()
    runs = []
    for seed in (5, 5):
        model.generator = torch.Generator().manual_seed(seed)
        runs.append([model.loss(x, samples, return_terms=True)
                     for _ in range(6)])
    for (l1, t1), (l2, t2) in zip(*runs):
        assert torch.equal(t1['modality_perm'], t2['modality_perm'])
        assert torch.equal(l1['loss_mixed'], l2['loss_mixed'])
    perms = {tuple(t['modality_perm'].tolist()) for _, t in runs[0]}
    assert perms == {(0, 1, 2), (1, 0, 2)}
    mixed_losses = {ls['loss_mixed'].detach().item() for ls, _ in runs[0]}
    assert len(mixed_losses) == 2  # the shuffle changes the mixed loss
    off = build(conditional=False, shuffle_modality_ctx=False)
    _, terms = off.loss(x, samples, return_terms=True)
    assert terms['modality_perm'] is None


# ----------------------------------------------------- conditional token
@pytest.mark.parametrize('mode', ['add', 'token'])
def test_conditional_token_changes_text_features_per_image(mode):
    model = build(conditional_mode=mode)
    model.eval()
    x, _ = batch()
    with torch.no_grad():
        img = model.image_features(x)
        feats = model.category_features(img)
    assert feats.shape == (4, 2, 32)
    assert not torch.allclose(feats[0], feats[1], atol=1e-4)
    # a zero meta-net output: 'add' gives every image the unconditional
    # features of the same contexts
    if mode == 'add':
        with torch.no_grad():
            model.meta_net.linear2.weight.zero_()
            model.meta_net.linear2.bias.zero_()
            feats0 = model.category_features(img)
            plain = model._encode(model.category_ids,
                                  model.category_prompts())
        for i in range(4):
            assert torch.allclose(feats0[i], plain, atol=1e-6)
    else:  # one more token after the context
        assert model.category_prompts(
            model.meta_net(img)).shape[2] == model.content_ctx.shape[0] + 1


def test_unconditional_features_are_shared_and_cached_in_eval():
    model = build(conditional=False)
    model.eval()
    x, _ = batch()
    with torch.no_grad():
        a = model.logits(x)
        b = model.logits(x)
    assert torch.equal(a, b)
    assert model.cache.num_computed == 1
    assert model.category_features().shape == (2, 32)


# ------------------------------------------------------- errors, saving
def test_bad_inputs_name_the_fault():
    x, samples = batch()
    model = build(modalities=('rgb', 'ir'))
    with pytest.raises(ValueError, match="modality 'depth'"):
        model.loss(x, samples)
    bare = [DataSample().set_gt_label(0) for _ in range(4)]
    with pytest.raises(ValueError, match='neither modality_label'):
        model.loss(x, bare)
    for bad, msg in ((dict(levels=('modality', )), 'levels'),
                     (dict(levels=('category', 'style')), 'levels'),
                     (dict(modalities=('rgb', 'thermal')), 'modalities'),
                     (dict(class_names=('live', 'spoof')), 'class'),
                     (dict(loss_weights=dict(ce=1.0)), 'loss_weights'),
                     (dict(templates=dict(mixed='{cls} face.')), 'mixed'),
                     (dict(conditional_mode='concat'), 'conditional_mode'),
                     (dict(mixed_targets='class'), 'mixed_targets'),
                     (dict(shuffle_in=('category', )), 'shuffle_in')):
        with pytest.raises(ValueError, match=msg):
            build(**bad)


def test_trainable_only_checkpoint_round_trip():
    model = build()
    # the seeded tiny CLIP stands in for pretrained weights (rebuilt
    # identically), as in tests/test_models/test_adapters.py
    set_weights_source(model.backbone.clip, 'seeded tiny CLIP')
    perturb_adapters(model)
    with torch.no_grad():
        model.content_ctx.add_(1.0)
    sd = model.state_dict()
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(sd) == trainable == set(trainable_state_dict(model))
    assert not any(k.startswith('backbone.clip.') for k in sd)
    other = build(seed=1)
    set_weights_source(other.backbone.clip, 'seeded tiny CLIP')
    other.backbone.clip.load_state_dict(model.backbone.clip.state_dict())
    other.load_state_dict(sd, strict=True)
    model.eval()
    other.eval()
    x, _ = batch()
    with torch.no_grad():
        assert torch.equal(model.logits(x), other.logits(x))


# ------------------------------------------------------------- configs
def _cmclip_configs():
    return sorted(glob.glob(osp.join(REPO, 'configs', 'cmclip',
                                     'cmclip_tiny_demo*.py')))


def test_demo_and_ablation_configs_build_what_they_say():
    configs = {osp.basename(p)[:-3]: p for p in _cmclip_configs()}
    assert {'cmclip_tiny_demo_rgb2depth', 'cmclip_tiny_demo_rgb2ir'} <= \
        set(configs)
    built = {}
    for name, path in configs.items():
        cfg = Config.fromfile(path)
        cfg.model.backbone.pretrained = None
        cfg.model.backbone.arch.vision_cfg.image_size = TINY_IMAGE_SIZE
        from mmfas.registry import MODELS
        torch.manual_seed(0)
        built[name] = MODELS.build(cfg.model)
    full = built['cmclip_tiny_demo_rgb2depth']
    assert full.levels == ('category', 'modality', 'mixed')
    assert full.decorrelation is not None and full.conditional
    assert full.backbone.adapters['vision']['0']['mlp'].conv_mode == 'adc'
    assert full.modalities == ('rgb', 'depth')
    assert built['cmclip_tiny_demo_rgb2ir'].modalities == ('rgb', 'ir')
    suffix = 'cmclip_tiny_demo_rgb2depth_'
    checks = {
        'no-fgpl': lambda m: m.levels == ('category', ) and
        m.modality_ctx is None,
        'no-decorrelation': lambda m: m.decorrelation is None and
        m.levels == full.levels,
        'no-conditional': lambda m: not m.conditional,
        'plain-adapter': lambda m: m.backbone.adapters['vision']['0'][
            'attn'].conv is None,
        'no-adapter': lambda m: len(m.backbone.adapters) == 0,
        'coop-adapter': lambda m: m.levels == ('category', ) and
        not m.conditional and m.decorrelation is None and
        m.backbone.adapters['vision']['0']['attn'].conv is None,
    }
    for what, check in checks.items():
        assert suffix + what in built, what
        assert check(built[suffix + what]), what
    assert built['cmclip_tiny_demo_rgb2ir_coop-adapter'].modalities == (
        'rgb', 'ir')


# ------------------------------------------------ through tools/train.py
@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    """A small demo with every modality, and a stand-in for the demo CLIP
    (a seeded tiny CLIP at 224 px saved as an open_clip state dict)."""
    from mmfas.datasets.demo_data import make_demo_dataset
    from mmfas.testing import tiny_backbone
    root = tmp_path_factory.mktemp('cmclip_runner')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=10,
                      frames_per_video=1, seed=0, num_workers=0,
                      modalities=('rgb', 'depth', 'ir'))
    torch.save(tiny_backbone(seed=0, image_size=224).clip.state_dict(),
               root / 'data' / 'demo' / 'clip_tiny_demo.pth')
    return root


def _kshot_sets(config, data_root):
    """Build the training set twice and the depth test set of a config."""
    from mmfas.registry import DATASETS
    cfg = Config.fromfile(config)
    train_cfg = dict(cfg.train_dataloader.dataset, data_root=data_root)
    train = DATASETS.build(train_cfg)
    again = DATASETS.build(dict(train_cfg))
    test = DATASETS.build(dict(cfg.test_dataloader.dataset.datasets[1],
                               data_root=data_root))
    return train, again, test


def test_kshot_draw_of_the_demo_config(demo_cwd, monkeypatch):
    """The K shots of cmclip_tiny_demo_rgb2depth.py: K depth videos per
    class (KSHOT in the environment), reproducible, disjoint from the depth
    test set."""
    from mmengine.registry import DefaultScope
    config = osp.join(REPO, 'configs', 'cmclip',
                      'cmclip_tiny_demo_rgb2depth.py')
    data_root = str(demo_cwd / 'data' / 'demo')
    for k in (1, 3):
        monkeypatch.setenv('KSHOT', str(k))
        with DefaultScope.overwrite_default_scope('mmfas'):
            train, again, test = _kshot_sets(config, data_root)
        assert train.kshot_videos == again.kshot_videos
        shots = {}
        for i in range(len(train)):
            info = train.get_data_info(i)
            if info['modality'] == 'depth':
                shots.setdefault(info['gt_label'], set()).add(
                    info['video_id'])
        assert {y: len(v) for y, v in shots.items()} == {0: k, 1: k}
        assert set().union(*shots.values()) == set(train.kshot_videos)
        assert test.item_modalities == ['depth']
        test_videos = {test.get_data_info(i)['video_id']
                       for i in range(len(test))}
        assert test_videos and not test_videos & set(train.kshot_videos)


def test_demo_config_trains_and_tests_through_tools_train(demo_cwd):
    """2 iterations of cmclip_tiny_demo_rgb2depth.py through tools/train.py
    --test: the balanced groups hold the K depth shots, the losses are
    logged, the test reports per-modality metrics, and the checkpoint holds
    only what trains."""
    import re
    import subprocess
    import sys
    config = osp.join(REPO, 'configs', 'cmclip',
                      'cmclip_tiny_demo_rgb2depth.py')
    work = demo_cwd / 'work'
    args = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
            '--work-dir', str(work), '--test', '--cfg-options',
            'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
            'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1', 'randomness.seed=0',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'test_dataloader.num_workers=0']
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    env.pop('KSHOT', None)
    env.pop('KSHOT_SEED', None)
    proc = subprocess.run(args, cwd=demo_cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    assert "'DemoD/depth/live': 5" in out and \
        "'DemoD/depth/spoof': 5" in out
    assert re.search(r'Iter\(train\) \[2/2\].*loss_category.*loss_modality'
                     r'.*loss_decorrelation.*loss_mixed', out), out[-3000:]
    for key in ('fas/depth/AUC', 'fas/depth/HTER', 'fas/rgb/AUC', 'fas/AUC'):
        assert re.search(re.escape(key) + r': \d', out), key
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu',
                      weights_only=False)
    keys = set(ckpt['state_dict'])
    assert keys and not any(k.startswith('backbone.clip.') for k in keys)
    assert {'content_ctx', 'modality_ctx'} <= keys
