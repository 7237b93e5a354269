"""Staged training: StagedOptimWrapperConstructor, the staged train_step of
BaseFASClassifier, StagedDistributedDataParallel and the trainable-only
checkpoint of a staged model (ToyTwoStageClassifier: stage ``image`` =
image_encoder, stage ``text`` = class_embed + text_fusion, frozen stem)."""
import copy

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpretrain.structures import DataSample

from mmfas.engine import (StagedDistributedDataParallel,
                          StagedOptimWrapperDict, use_staged_model_wrapper)
from mmfas.models.utils.trainable import (frozen_parameter_names,
                                          temporarily_frozen,
                                          trainable_state_dict)
from mmfas.testing.toy_models import ToyTwoStageClassifier
from mmfas.utils import register_all_modules, set_amp

IMAGE = ['image_encoder.0.weight', 'image_encoder.0.bias',
         'image_encoder.4.weight', 'image_encoder.4.bias']
TEXT = ['class_embed', 'text_fusion.weight', 'text_fusion.bias']


@pytest.fixture(autouse=True, scope='module')
def _registry():
    register_all_modules(init_default_scope=True)


def _staged(**kwargs):
    cfg = dict(constructor='StagedOptimWrapperConstructor',
               optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.1))
    cfg.update(kwargs)
    return cfg


def _batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(
        inputs=[torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8,
                              generator=g) for _ in range(n)],
        data_samples=[DataSample().set_gt_label(i % 2) for i in range(n)])


def _owned(wrapper):
    return [p for g in wrapper.optimizer.param_groups for p in g['params']]


def _names(model, params):
    ids = {id(p) for p in params}
    return sorted(n for n, p in model.named_parameters() if id(p) in ids)


def test_constructor_one_wrapper_per_stage_with_shared_defaults():
    torch.manual_seed(0)
    model = ToyTwoStageClassifier()
    ow = build_optim_wrapper(
        model, _staged(text=dict(optimizer=dict(lr=1e-3)),
                       image=dict(clip_grad=dict(max_norm=1.0))))
    assert isinstance(ow, StagedOptimWrapperDict)
    assert list(ow.keys()) == ['image', 'text']  # the model's order
    assert _names(model, _owned(ow['image'])) == sorted(IMAGE)
    assert _names(model, _owned(ow['text'])) == sorted(TEXT)
    # the stage's optimizer dict is merged over the shared one
    text_group = ow['text'].optimizer.param_groups[0]
    assert text_group['lr'] == 1e-3 and text_group['weight_decay'] == 0.1
    assert ow['image'].optimizer.param_groups[0]['lr'] == 1e-2
    assert ow['image'].clip_grad_kwargs == dict(max_norm=1.0)
    assert not ow['text'].clip_grad_kwargs
    # the frozen stem is in no optimizer
    assert not any(n.startswith('stem') for w in ow.values()
                   for n in _names(model, _owned(w)))

    # stage_order reorders; params overrides the model's members
    ow = build_optim_wrapper(model, _staged(stage_order=['text', 'image']))
    assert list(ow.keys()) == ['text', 'image']
    # a stage with its own optimizer type is not merged with the shared one
    ow = build_optim_wrapper(model, _staged(
        text=dict(optimizer=dict(type='SGD', lr=0.5))))
    assert type(ow['text'].optimizer).__name__ == 'SGD'
    assert ow['text'].optimizer.param_groups[0]['lr'] == 0.5

    # paramwise_cfg per stage keeps working and stays within the stage
    ow = build_optim_wrapper(model, _staged(
        image=dict(paramwise_cfg=dict(bias_decay_mult=0.))))
    groups = ow['image'].optimizer.param_groups
    assert len(groups) == len(IMAGE)
    by_name = {_names(model, g['params'])[0]: g for g in groups}
    assert by_name['image_encoder.0.bias']['weight_decay'] == 0
    assert by_name['image_encoder.0.weight']['weight_decay'] == 0.1


class _Overlap(ToyTwoStageClassifier):

    def train_stages(self):
        return dict(image=['image_encoder', 'text_fusion.bias'],
                    text=['class_embed', 'text_fusion'])


class _Orphan(ToyTwoStageClassifier):

    def train_stages(self):
        return dict(image=['image_encoder'], text=['class_embed'])


class _Objects(ToyTwoStageClassifier):
    """Stages given as a submodule and parameters (SLIP's form)."""

    def train_stages(self):
        return dict(image=[self.image_encoder],
                    text=[self.class_embed] +
                    list(self.text_fusion.parameters()))


def test_constructor_errors_name_the_fault():
    model = ToyTwoStageClassifier()
    with pytest.raises(ValueError, match=r'"text_fusion.bias" is in stage '
                       r'"image" and stage "text"'):
        build_optim_wrapper(_Overlap(), _staged())
    with pytest.raises(ValueError, match=r'in no stage .*text_fusion.weight'
                       r', text_fusion.bias'):
        build_optim_wrapper(_Orphan(), _staged())
    with pytest.raises(ValueError, match=r'prefix "text_fuse" matches no '
                       'parameter'):
        build_optim_wrapper(model, _staged(text=dict(params=['text_fuse'])))
    with pytest.raises(ValueError, match=r'"stem" has no trainable|stage '
                       r'"text" has no trainable'):
        build_optim_wrapper(model, _staged(text=dict(params=['stem'])))
    with pytest.raises(ValueError, match=r'optim_wrapper.txt looks like a '
                       r"stage config .* no stage \"txt\""):
        build_optim_wrapper(model, _staged(txt=dict(optimizer=dict(lr=1))))
    no_default = dict(constructor='StagedOptimWrapperConstructor',
                      image=dict(optimizer=dict(type='SGD', lr=1.)))
    with pytest.raises(ValueError, match='no optimizer for stage "text"'):
        build_optim_wrapper(model, no_default)
    with pytest.raises(ValueError, match='stage_order'):
        build_optim_wrapper(model, _staged(stage_order=['image']))
    with pytest.raises(ValueError, match='declares none'):
        build_optim_wrapper(torch.nn.Linear(2, 2), _staged())
    # members given as modules / parameters resolve to the same stages
    objs = _Objects()
    ow = build_optim_wrapper(objs, _staged())
    assert _names(objs, _owned(ow['image'])) == sorted(IMAGE)
    assert _names(objs, _owned(ow['text'])) == sorted(TEXT)


def test_single_optimizer_on_staged_model_is_an_error():
    model = ToyTwoStageClassifier()
    ow = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=1.)))
    with pytest.raises(ValueError, match=r"stages \['image', 'text'\].*"
                       'StagedOptimWrapperConstructor'):
        model.train_step(_batch(), ow)


def _spy_stages(model, ow):
    """Record, right after each stage's update, every parameter and grad."""
    records = []
    for name, wrapper in ow.items():
        orig = wrapper.update_params

        def update(loss, *a, _orig=orig, _name=name, **k):
            _orig(loss, *a, **k)
            records.append((_name, {
                n: (p.detach().clone(), p.grad, p.requires_grad)
                for n, p in model.named_parameters()
            }))

        wrapper.update_params = update
    return records


def test_each_stage_leaves_the_other_untouched():
    torch.manual_seed(0)
    model = ToyTwoStageClassifier()
    model.train()
    ow = build_optim_wrapper(model, _staged())
    records = _spy_stages(model, ow)
    start = {n: p.detach().clone() for n, p in model.named_parameters()}
    for it in range(2):
        records.clear()
        log_vars = model.train_step(_batch(seed=it), ow)
        assert [r[0] for r in records] == ['image', 'text']
        (_, after_image), (_, after_text) = records
        for n in TEXT:   # image step: text bit-identical, no grad
            assert torch.equal(after_image[n][0], start[n]), n
            assert after_image[n][1] is None and not after_image[n][2], n
        for n in IMAGE:  # image step moved its own, grads freed
            assert not torch.equal(after_image[n][0], start[n]), n
            assert after_image[n][1] is None and after_image[n][2], n
        for n in IMAGE:  # text step: image bit-identical, no grad
            assert torch.equal(after_text[n][0], after_image[n][0]), n
            assert after_text[n][1] is None and not after_text[n][2], n
        for n in TEXT:
            assert not torch.equal(after_text[n][0], start[n]), n
            assert after_text[n][1] is None, n
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
    # requires_grad restored, frozen stem untouched
    assert all(p.requires_grad for n, p in model.named_parameters()
               if not n.startswith('stem'))
    assert not model.stem.weight.requires_grad
    # each optimizer has state (Adam moments) for its own parameters only
    for name, names in (('image', IMAGE), ('text', TEXT)):
        state = ow[name].optimizer.state
        assert sorted(_names(model, list(state))) == sorted(names)
    assert set(log_vars) == {
        'loss', 'image.loss', 'image.loss_ce', 'image.loss_feat',
        'text.loss', 'text.loss_ce', 'text.loss_sep'}
    assert torch.allclose(log_vars['loss'],
                          log_vars['image.loss'] + log_vars['text.loss'])


def test_checkpoint_during_a_stage_keeps_both_stages():
    """A checkpoint written while a stage runs (the other stage switched
    off) still holds both stages: the frozen set is not read from the
    transient requires_grad."""
    model = ToyTwoStageClassifier(save_trainable_only=True)
    ow = build_optim_wrapper(model, _staged())
    seen = {}
    orig_loss = model.loss

    def loss(inputs, data_samples, stage=None):
        seen[stage] = (sorted(model.state_dict()),
                       sorted(trainable_state_dict(model)),
                       frozen_parameter_names(model))
        return orig_loss(inputs, data_samples, stage=stage)

    model.loss = loss
    model.train_step(_batch(), ow)
    for stage in ('image', 'text'):
        keys, trainable, frozen = seen[stage]
        assert keys == sorted(IMAGE + TEXT), stage
        assert trainable == keys
        assert sorted(frozen) == ['stem.bias', 'stem.weight']

    # temporarily_frozen restores requires_grad after an error too
    with pytest.raises(RuntimeError):
        with temporarily_frozen(model.text_fusion.parameters()):
            assert not model.text_fusion.weight.requires_grad
            raise RuntimeError('boom')
    assert model.text_fusion.weight.requires_grad
    assert not hasattr(model.text_fusion.weight, '_mmfas_stage_suspended')


def test_amp_per_stage_bf16():
    """``--amp`` on a staged config: every stage gets the bf16 wrapper and
    each stage's forward runs under autocast."""
    cfg = Config(dict(optim_wrapper=_staged(
        text=dict(optimizer=dict(lr=1e-3)))))
    set_amp(cfg)
    if torch.cuda.is_available():
        pytest.skip('set_amp picks the fp16 AmpOptimWrapper on GPUs')
    model = ToyTwoStageClassifier()
    ow = build_optim_wrapper(model, cfg.optim_wrapper)
    assert [type(w).__name__ for w in ow.values()] == [
        'BF16AmpOptimWrapper', 'BF16AmpOptimWrapper']
    seen = {}
    orig_loss = model.loss

    def loss(inputs, data_samples, stage=None):
        seen[stage] = (torch.is_autocast_enabled('cpu'),
                       torch.get_autocast_dtype('cpu'))
        return orig_loss(inputs, data_samples, stage=stage)

    model.loss = loss
    before = copy.deepcopy(model.state_dict())
    model.train_step(_batch(), ow)
    assert seen == {'image': (True, torch.bfloat16),
                    'text': (True, torch.bfloat16)}
    after = model.state_dict()
    # fp32 master weights, both stages updated
    assert all(after[n].dtype == torch.float32 for n in IMAGE + TEXT)
    assert all(not torch.equal(before[n], after[n]) for n in IMAGE + TEXT)


def test_resume_optimizer_state_of_every_stage():
    """Two iterations == one, save (model + OptimWrapperDict state), fresh
    model/optimizers, load, one more: bit-identical."""
    def build():
        torch.manual_seed(0)
        model = ToyTwoStageClassifier()
        return model, build_optim_wrapper(model, _staged())

    model, ow = build()
    for it in range(2):
        model.train_step(_batch(seed=it), ow)
    ref = copy.deepcopy(model.state_dict())

    model, ow = build()
    model.train_step(_batch(seed=0), ow)
    saved = copy.deepcopy((model.state_dict(), ow.state_dict()))
    assert set(saved[1]) == {'image', 'text'}
    model, ow = build()
    model.load_state_dict(saved[0])
    ow.load_state_dict(saved[1])
    model.train_step(_batch(seed=1), ow)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_staged_ddp_world_size_one(tmp_path):
    """Through StagedDistributedDataParallel (gloo, one process): the forward
    of each stage goes through DDP, and the other stage's parameters, found
    unused, keep grad None and do not move."""
    import torch.distributed as dist
    if dist.is_initialized():
        pytest.skip('a process group already exists')
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/pg',
                            rank=0, world_size=1)
    try:
        torch.manual_seed(0)
        model = ToyTwoStageClassifier()
        ddp = StagedDistributedDataParallel(module=model, device_ids=None,
                                            broadcast_buffers=False)
        ow = build_optim_wrapper(ddp, _staged())
        records = _spy_stages(model, ow)
        calls = []
        orig_forward = ddp.forward

        def forward(*a, **k):
            calls.append(k.get('stage'))
            return orig_forward(*a, **k)

        ddp.forward = forward
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        for it in range(2):
            records.clear()
            log_vars = ddp.train_step(_batch(seed=it), ow)
            (_, after_image), (_, after_text) = records
            for n in TEXT:
                assert torch.equal(after_image[n][0], start[n]), n
                assert after_image[n][1] is None, n
            for n in IMAGE:
                assert torch.equal(after_text[n][0], after_image[n][0]), n
                assert after_text[n][1] is None, n
            start = {n: p.detach().clone()
                     for n, p in model.named_parameters()}
        assert calls == ['image', 'text'] * 2
        assert 'text.loss_sep' in log_vars
    finally:
        dist.destroy_process_group()

    # a plain DDP wrapper is refused with the fix named
    from mmengine.model import MMDistributedDataParallel

    class _FakeDDP(MMDistributedDataParallel):

        def __init__(self, module):
            torch.nn.Module.__init__(self)
            self.module = module

    with pytest.raises(TypeError, match='StagedDistributedDataParallel'):
        build_optim_wrapper(_FakeDDP(ToyTwoStageClassifier()), _staged())


def test_use_staged_model_wrapper():
    cfg = Config(dict(optim_wrapper=_staged()))
    use_staged_model_wrapper(cfg)
    assert cfg.model_wrapper_cfg.type == 'StagedDistributedDataParallel'
    assert cfg.model_wrapper_cfg.find_unused_parameters
    plain = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD'))))
    assert 'model_wrapper_cfg' not in use_staged_model_wrapper(plain)
    own = Config(dict(optim_wrapper=_staged(),
                      model_wrapper_cfg=dict(type='X')))
    assert use_staged_model_wrapper(own).model_wrapper_cfg.type == 'X'
    # and the launcher helper applies it (CPU and GPU alike)
    from mmfas.utils import prepare_launcher
    cfg = Config(dict(optim_wrapper=_staged()))
    cfg = prepare_launcher(cfg, 'slurm')
    assert cfg.model_wrapper_cfg.type == 'StagedDistributedDataParallel'


def test_stage_isolation_check_hook_catches_a_leak(monkeypatch):
    """The hook used by the tools/train.py round trip does fail when a stage
    leaks into another (here: the other stage not switched off)."""
    import contextlib
    from types import SimpleNamespace

    import mmfas.models.utils.trainable as trainable
    from mmfas.testing.stage_check import StageIsolationCheckHook

    model = ToyTwoStageClassifier()
    ow = build_optim_wrapper(model, _staged())
    hook = StageIsolationCheckHook()
    hook.before_train(SimpleNamespace(model=model, optim_wrapper=ow))
    model.train_step(_batch(), ow)
    assert hook.checks == 2
    monkeypatch.setattr(trainable, 'temporarily_frozen',
                        lambda params: contextlib.nullcontext())
    with pytest.raises(AssertionError, match='stage "image" left a gradient '
                       'on "class_embed" of another stage'):
        model.train_step(_batch(), ow)
