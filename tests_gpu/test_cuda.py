"""Checks that need a CUDA device (run by tools/misc/gpu_check.sh on a GPU
machine; `python -m pytest tests` on a CPU machine does not collect them)."""
import pytest
import torch
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS, OPTIM_WRAPPERS
from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import register_all_modules

register_all_modules()
# a machine without CUDA skips every test of this module, saying why (a bare
# `pytest` at the root collects tests/ only: setup.cfg's testpaths)
pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason='tests_gpu needs a CUDA device (run by tools/misc/gpu_check.sh '
    'on a GPU machine)')

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
        bb.cuda()
        gi, gt = bb.encode_image(x.cuda()), bb.encode_text(ids.cuda())
    assert torch.allclose(ci, gi.cpu(), atol=1e-4)
    assert torch.allclose(ct, gt.cpu(), atol=1e-4)


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
