"""SLIP building blocks: cue-map targets, R / D modules, loss terms, prompt
draws (the classifier is tested in test_slip.py)."""
import pytest
import torch
from torch import nn

from mmfas.models.heads.slip_head import (SLIPDecoder, SLIPFusion,
                                          first_upsample_geometry)
from mmfas.models.losses.slip_loss import (alignment_loss, augmentation_loss,
                                           disentangle_loss, fusion_loss,
                                           live_loss, map_cos, spoof_loss)
from mmfas.models.utils.cue_maps import (CUE_POSITIONS, gaussian_cue_map,
                                         region_centre, region_mask,
                                         sample_cue_maps)
from mmfas.models.utils.slip_prompts import SLIPPromptSampler


def _centre_of_mass(m):
    ys, xs = torch.meshgrid(torch.arange(m.shape[-2], dtype=torch.float32),
                            torch.arange(m.shape[-1], dtype=torch.float32),
                            indexing='ij')
    w = m / m.sum()
    return float((w * xs).sum()), float((w * ys).sum())


@pytest.mark.parametrize('position', sorted(CUE_POSITIONS))
def test_cue_map_lands_in_named_region(position):
    g = torch.Generator().manual_seed(3)
    maps = sample_cue_maps([position] * 20, generator=g)
    cx, cy = region_centre(position)
    assert maps.min() >= 0 and maps.max() <= 1
    for m in maps[:, 0]:
        assert m.max() == pytest.approx(1.0)
        x, y = _centre_of_mass(m)
        # jitter <= 2 px, plus the pull of the grid border on wide blobs
        assert abs(x - cx) <= 3.5 and abs(y - cy) <= 3.5, (position, x, y)
        # most of the mass in the region's half / quadrant
        assert float((m * region_mask(position)).sum() / m.sum()) > 0.6


def test_live_maps_are_zero_and_draws_replay():
    pos = [None, 'upper', None, 'lower left']
    a = sample_cue_maps(pos, generator=torch.Generator().manual_seed(0))
    b = sample_cue_maps(pos, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    assert torch.count_nonzero(a[0]) == 0 and torch.count_nonzero(a[2]) == 0
    assert a[1].max() == 1 and a.shape == (4, 1, 32, 32)
    assert gaussian_cue_map('left', scale=255).max() == pytest.approx(255)
    with pytest.raises(ValueError, match='unknown cue position'):
        sample_cue_maps(['middle'])


def test_decoder_geometry_and_gelu_placement():
    # ViT-B/32's 7x7 grid gets the official layer (k6 s2 p1 -> 16)
    assert first_upsample_geometry(7) == (6, 2, 1)
    assert first_upsample_geometry(14) == (3, 1, 0)
    for grid in (7, 14):
        d = SLIPDecoder(32, grid)
        assert d(torch.randn(2, 32, grid, grid)).shape == (2, 1, 32, 32)
    kinds = [type(m).__name__ for m in SLIPDecoder(64, 7).convs]
    assert kinds == ['Conv2d', 'Conv2d', 'Conv2d', 'GELU', 'Conv2d', 'GELU',
                     'Conv2d']
    chans = [m.out_channels for m in SLIPDecoder(512, 7).convs
             if isinstance(m, nn.Conv2d)]
    assert chans == [256, 128, 64, 32, 1]
    with pytest.raises(ValueError, match='expected'):
        SLIPDecoder(32, 7)(torch.randn(2, 32, 14, 14))


def test_fusion_module():
    r = SLIPFusion(32)
    assert [m.out_channels for m in r.convs] == [32, 16, 32]
    assert not any(isinstance(m, (nn.GELU, nn.ReLU)) for m in r.modules())
    assert r(torch.randn(2, 32, 7, 7), torch.randn(2, 32, 7, 7)).shape == (
        2, 32, 7, 7)
    with pytest.raises(ValueError):
        r(torch.randn(2, 32, 7, 7), torch.randn(2, 16, 7, 7))


def _unit_maps(*vecs, hw=3):
    return [torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1).expand(
        2, -1, hw, hw).clone() for v in vecs]


def test_disentangle_loss_zero_only_for_orthogonal_maps():
    t1, t2, t3 = _unit_maps([1, 0, 0], [0, 1, 0], [0, 0, 1])
    for mode in ('abs', 'square', 'signed'):
        assert disentangle_loss([t1, t2, t3], mode) == pytest.approx(0)
    a, b, c = _unit_maps([1, 0, 0], [1, 1, 0], [0, 0, 1])
    assert disentangle_loss([a, b, c], 'abs') > 0
    assert disentangle_loss([a, b, c], 'square') > 0
    # anti-correlated maps: signed cos (official) rewards them, |cos| not
    p, q = _unit_maps([1, 0], [-1, 0])
    assert disentangle_loss([p, q], 'signed') == pytest.approx(-1)
    assert disentangle_loss([p, q], 'abs') == pytest.approx(1)
    with pytest.raises(ValueError):
        disentangle_loss([p, q], 'hsic')


def test_fusion_alignment_and_mse_terms():
    t4 = torch.randn(2, 8, 3, 3)
    assert fusion_loss(t4, t4.clone()) == pytest.approx(0, abs=1e-6)
    other = torch.randn(2, 8, 3, 3)
    assert fusion_loss(t4, other) > 0
    assert fusion_loss(t4, other, reference=True) == pytest.approx(
        -float(fusion_loss(t4, other)))
    z, t1, t2 = _unit_maps([1, 0], [1, 0], [0, 1])
    assert alignment_loss(z, t1, t2) == pytest.approx(-1)
    assert alignment_loss(z, t2, t1) == pytest.approx(1)
    assert map_cos(z, t1) == pytest.approx(1)
    zero = torch.zeros(2, 1, 4, 4)
    m = torch.ones(2, 1, 4, 4)
    assert live_loss(zero, zero) == 0 and live_loss(m, m) == pytest.approx(2)
    assert spoof_loss(m, m) == 0 and augmentation_loss(zero, m) == 1


def test_prompt_sampler_replays_and_pairs_t2_t4():
    s = SLIPPromptSampler()
    a = s.sample(6, torch.Generator().manual_seed(1))
    b = s.sample(6, torch.Generator().manual_seed(1))
    assert a == b
    for spoof, hybrid, pos, obj in zip(a.spoof, a.hybrid, a.positions,
                                       a.objects):
        assert f'the {pos} part' in spoof and f'the {pos} part' in hybrid
        assert spoof.endswith(f'a {obj}.') and hybrid.endswith(f'a {obj}.')
    assert len(s.objects) == 14 and len(s.positions) == 8
    with pytest.raises(ValueError, match='unknown positions'):
        SLIPPromptSampler(positions=['middle'])


def test_decoder_width_is_configurable():
    d = SLIPDecoder(32, 14, hidden=256)
    assert d.up[0].in_channels == 32 and d.up[0].out_channels == 256
    chans = [m.out_channels for m in d.convs if isinstance(m, nn.Conv2d)]
    assert chans == [128, 64, 32, 16, 1]
    assert d(torch.randn(1, 32, 14, 14)).shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match='divisible by 16'):
        SLIPDecoder(32, 14, hidden=40)
