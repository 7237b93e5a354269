"""Checks that need a CUDA device (run by tools/misc/gpu_check.sh on a GPU
machine; `python -m pytest tests` on a CPU machine does not collect them):
CUDA parity of the tower loop, fp16 and bf16 AMP train steps of FLIP and of
the seed methods (SLIP's two stages, LPI's prototypes, CM-CLIP's adapters),
gradient checkpointing.

``MMFAS_TESTS_GPU_DEVICE=cpu`` runs the device-agnostic ones on the CPU, to
rehearse this file (and ``gpu_check.sh``) on a machine without a GPU."""
import os

import pytest
import torch
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS, OPTIM_WRAPPERS
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules()
# a machine without CUDA skips every test of this module, saying why (a bare
# `pytest` at the root collects tests/ only: setup.cfg's testpaths)
DEVICE = os.environ.get('MMFAS_TESTS_GPU_DEVICE', 'cuda')
pytestmark = pytest.mark.skipif(
    DEVICE == 'cuda' and not torch.cuda.is_available(),
    reason='tests_gpu needs a CUDA device (run by tools/misc/gpu_check.sh '
    'on a GPU machine)')
needs_cuda = pytest.mark.skipif(
    DEVICE != 'cuda', reason='fp16 AmpOptimWrapper needs CUDA')

TINY = tiny_backbone_cfg()


def _batch(n=4):
    imgs = [torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)
            for _ in range(n)]
    samples = [DataSample().set_gt_label(i % 2) for i in range(n)]
    return dict(inputs=imgs, data_samples=samples)


def test_backbone_cuda_matches_cpu():
    torch.manual_seed(0)
    bb = MODELS.build(TINY).eval()
    x = torch.randn(2, 3, 32, 32)
    ids = bb.tokenize(['a photo of a real face', 'a spoof face'])
    with torch.no_grad():
        ci, ct = bb.encode_image(x), bb.encode_text(ids)
        bb.to(DEVICE)
        gi, gt = bb.encode_image(x.to(DEVICE)), bb.encode_text(ids.to(DEVICE))
    assert torch.allclose(ci, gi.cpu(), atol=1e-4)
    assert torch.allclose(ct, gt.cpu(), atol=1e-4)


@needs_cuda
def test_flip_train_step_fp16_amp():
    for typ in ('FLIPV', 'FLIPIT'):
        model = MODELS.build(dict(type=typ, backbone=TINY)).cuda()
        wrapper = OPTIM_WRAPPERS.build(dict(
            type='AmpOptimWrapper', loss_scale='dynamic',
            optimizer=torch.optim.Adam(model.parameters(), lr=1e-4)))
        losses = model.train_step(_batch(), wrapper)
        assert all(torch.isfinite(v) for v in losses.values())
        model.eval()
        out = model.test_step(_batch())
        assert out[0].pred_score.shape == (2, )


def test_tower_loop_matches_open_clip_on_device():
    """With nothing injected the block loop is open_clip's own forward, on
    the device as on the CPU; deep prompts give the same result on both."""
    torch.manual_seed(0)
    bb = MODELS.build(TINY).eval().to(DEVICE)
    x = torch.randn(2, 3, 32, 32, device=DEVICE)
    ids = bb.tokenize(['a photo of a real face', 'a spoof face']).to(DEVICE)
    with torch.no_grad():
        torch.testing.assert_close(
            bb.encode_image(x), bb.clip.encode_image(x), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(
            bb.encode_text(ids), bb.clip.encode_text(ids), atol=1e-5,
            rtol=1e-4)
        ctx = [torch.randn(3, 64, device=DEVICE) for _ in range(2)]
        vis = {0: torch.randn(2, 64, device=DEVICE),
               1: torch.randn(2, 64, device=DEVICE)}
        got_t = bb.encode_text(ids, prompts=ctx)
        got_v = bb.encode_image(x, prompts=vis)
        bb.cpu()
        want_t = bb.encode_text(ids.cpu(), prompts=[c.cpu() for c in ctx])
        want_v = bb.encode_image(
            x.cpu(), prompts={k: v.cpu() for k, v in vis.items()})
    torch.testing.assert_close(got_t.cpu(), want_t, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got_v.cpu(), want_v, atol=1e-4, rtol=1e-4)


def test_flip_train_step_bf16_amp():
    for typ in ('FLIPV', 'FLIPIT'):
        torch.manual_seed(0)
        model = MODELS.build(dict(type=typ, backbone=TINY)).to(DEVICE)
        before = [p.detach().clone() for p in model.parameters()]
        wrapper = OPTIM_WRAPPERS.build(dict(
            type='BF16AmpOptimWrapper',
            optimizer=torch.optim.Adam(model.parameters(), lr=1e-4)))
        losses = model.train_step(_batch(), wrapper)
        assert all(torch.isfinite(v) for v in losses.values())
        # weights stay float32 and move
        assert all(p.dtype == torch.float32 for p in model.parameters())
        assert any(not torch.equal(a, p.detach())
                   for a, p in zip(before, model.parameters()))
        model.eval()
        out = model.test_step(_batch())
        assert out[0].pred_score.shape == (2, )


def test_gradient_checkpointing_same_gradients():
    """Checkpointed blocks recompute the forward in backward: same loss and
    gradients as without, in float32 and under autocast."""
    dtype = torch.float16 if DEVICE == 'cuda' else torch.bfloat16
    for amp in (False, True):
        grads = []
        for ckpt in (False, True):
            torch.manual_seed(0)
            bb = MODELS.build(TINY).to(DEVICE).train()
            bb.set_grad_checkpointing(ckpt)
            x = torch.randn(4, 3, 32, 32, device=DEVICE)
            ids = bb.tokenize(['a real face', 'a spoof face']).to(DEVICE)
            with torch.autocast(DEVICE, dtype=dtype, enabled=amp):
                img = bb.encode_image(x, normalize=True)
                txt = bb.encode_text(ids, normalize=True)
                loss = (img @ txt.t()).float().logsumexp(dim=1).mean()
            loss.backward()
            grads.append((loss.detach(), [
                p.grad.detach().clone() for p in bb.parameters()
                if p.grad is not None]))
        (l0, g0), (l1, g1) = grads
        assert len(g0) == len(g1) > 0
        # (CUDA's atomic adds, e.g. in the embedding backward, may reorder)
        tol = dict(atol=1e-4, rtol=1e-3) if amp else dict(atol=1e-5,
                                                          rtol=1e-4)
        torch.testing.assert_close(l1, l0, **tol)
        for a, b in zip(g0, g1):
            torch.testing.assert_close(b, a, **tol)


# ------------------------------------------------- the seed methods on CUDA
def _amp_wrappers():
    """(name, optim_wrapper cfg) pairs: fp16 AmpOptimWrapper (CUDA only) and
    bf16 autocast."""
    out = [('bf16', dict(type='BF16AmpOptimWrapper'))]
    if DEVICE == 'cuda':
        out.insert(0, ('fp16', dict(type='AmpOptimWrapper',
                                    loss_scale='dynamic')))
    return out


def _seed_batch(n, size, modalities=None, domains=3, live_only=False):
    from mmfas.datasets.annotation import MODALITIES
    g = torch.Generator().manual_seed(n)
    imgs = [torch.randint(0, 255, (3, size, size), dtype=torch.uint8,
                          generator=g) for _ in range(n)]
    samples = []
    for i in range(n):
        s = DataSample().set_gt_label(1 if live_only else i % 2)
        s.set_field(torch.tensor([(i // 2) % domains]), 'domain_label')
        if modalities:
            m = modalities[i % len(modalities)]
            s.set_field(torch.tensor([MODALITIES.index(m)]),
                        'modality_label')
            s.set_metainfo(dict(modality=m))
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _step_until_moved(model, batch, ow, amp, max_steps=4):
    """Train steps until a parameter moves: the first for bf16; fp16's
    dynamic loss scale starts at 2**16 and GradScaler skips (as it must) a
    step whose scaled gradients overflow, halving the scale, so a skipped
    step must show a smaller scale. Returns (last log, moved names)."""
    before = _snapshot(model)
    for step in range(max_steps if amp == 'fp16' else 1):
        scale = ow.loss_scaler.get_scale() if amp == 'fp16' else None
        log = model.train_step(batch, ow)
        assert all(torch.isfinite(v) for v in log.values()), log
        after = _snapshot(model)
        moved = {n for n in before if not torch.equal(before[n], after[n])}
        if moved:
            return log, moved
        if amp == 'fp16':
            assert ow.loss_scaler.get_scale() < scale, \
                f'step {step}: nothing moved and the loss scale stayed'
    raise AssertionError(f'{amp}: no parameter moved in {step + 1} steps')


@pytest.mark.parametrize('amp', [a for a, _ in _amp_wrappers()])
def test_slip_staged_amp_step_keeps_stages_apart(amp):
    """SLIP's two stages under AMP on the device: finite losses, fp32
    master weights, each stage's step moves only its own parameters."""
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='SLIP', backbone=tiny_backbone_cfg(
            image_size=64, pretrained=None, tokenizer='ViT-B-16',
            freeze='none'))).to(DEVICE)
    wrapper = dict(_amp_wrappers())[amp]
    ow = build_optim_wrapper(model, dict(
        constructor='StagedOptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-3), **wrapper))
    stages = model.train_stages()
    names = {id(p): n for n, p in model.named_parameters()}
    owned = {s: {names[id(p)] for g in ow[s].optimizer.param_groups
                 for p in g['params']} for s in stages}
    assert owned['image'] and owned['text']
    assert not owned['image'] & owned['text']
    before = _snapshot(model)
    log = model.train_step(_seed_batch(4, 64, live_only=True), ow)
    assert log and all(torch.isfinite(v) for v in log.values())
    assert any(k.startswith('image.') for k in log)
    assert any(k.startswith('text.') for k in log)
    after = _snapshot(model)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    for s in stages:
        assert any(not torch.equal(before[n], after[n]) for n in owned[s]), s
    untouched = set(before) - owned['image'] - owned['text']
    for n in untouched:
        assert torch.equal(before[n], after[n]), n
    model.eval()
    out = model.test_step(_seed_batch(2, 64))
    assert all(0 <= float(o.pred_score[1]) <= 1 for o in out)


@pytest.mark.parametrize('amp', [a for a, _ in _amp_wrappers()])
def test_lpi_amp_step_prototypes_stay_fp32(amp):
    """LPI under AMP on the device: finite losses, the EMA prototypes are
    float32, finite and seen, frozen CLIP does not move."""
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='LPI', backbone=tiny_backbone_cfg(freeze='all'),
        interaction_layers=(0, 1), layers_of=None)).to(DEVICE)
    ow = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-3), **dict(_amp_wrappers())[amp]))
    log, moved = _step_until_moved(model, _seed_batch(6, 32), ow, amp)
    protos = model.prototype_loss.prototypes
    assert protos.dtype == torch.float32 and protos.device.type == DEVICE
    assert bool(model.prototype_loss.seen.all())
    # means of unit features: finite, norm in (0, 1]
    norms = protos.norm(dim=-1)
    assert torch.isfinite(protos).all()
    assert bool(((norms > 0) & (norms <= 1 + 1e-5)).all())
    assert not any(n.startswith('backbone.clip.') for n in moved)
    model.eval()
    out = model.test_step(_seed_batch(2, 32))
    assert out[0].pred_score.shape == (2, )


@pytest.mark.parametrize('amp', [a for a, _ in _amp_wrappers()])
def test_cmclip_amp_step_trains_adapters_not_clip(amp):
    """CM-CLIP with the ADC-Adapter under AMP on the device: finite FGPL
    losses; adapters, contexts and meta-net move, CLIP does not."""
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    adc = dict(vision=dict(layers='all', positions=('attn', 'mlp'),
                           conv='adc', bottleneck=4))
    model = MODELS.build(dict(
        type='CMCLIP', backbone=tiny_backbone_cfg(adapters=adc), n_ctx=4,
        n_modality_ctx=3)).to(DEVICE)
    ow = build_optim_wrapper(model, dict(
        optimizer=dict(type='AdamW', lr=1e-3), **dict(_amp_wrappers())[amp]))
    _, moved = _step_until_moved(
        model, _seed_batch(4, 32, modalities=('rgb', 'rgb', 'depth', 'depth')),
        ow, amp)
    assert any('adapters' in n for n in moved)
    assert not any(n.startswith('backbone.clip.') for n in moved)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    model.eval()
    out = model.test_step(_seed_batch(2, 32, modalities=('depth', )))
    assert out[0].pred_score.shape == (2, )
