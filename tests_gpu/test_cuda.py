"""Checks that need a CUDA device (run by tools/misc/gpu_check.sh on a GPU
machine; `python -m pytest tests` on a CPU machine does not collect them):
CUDA parity of the tower loop, fp16 and bf16 AMP train steps, gradient
checkpointing.

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
