"""SLIP's fusion module R and spoof-cue decoder D (AAAI 2025).

Both act on channel-first feature maps ``(B, E, g, g)`` built from CLIP's
patch grid (``g = 7`` for ViT-B/32, 14 for ViT-B/16 at 224 px) and the joint
embedding width ``E`` (512 for ViT-B).

* :class:`SLIPFusion` ``R(a, b)``: ``concat([a, b])`` (2E channels) -> 3x3
  conv 2E->E -> 3x3 conv E->E/2 -> 3x3 conv E/2->E; no activation, no
  normalisation (as the official code).
* :class:`SLIPDecoder` ``D``: two transposed convolutions bring the grid to
  16 x 16 and then to ``out_size`` (32), each followed by GELU, then five
  3x3 convs E->E/2->E/4->E/8->E/16->1 with GELU only after the third and
  the fourth (the official placement). The output is a raw (unbounded) cue
  map regressed to targets in [0, 1].

The official decoder is written for the 7 x 7 grid of ViT-B/32 (ConvTranspose
kernel 6, stride 2, padding 1: 7 -> 16). For other grids the first
transposed conv keeps the rule "stride ``16 // g``, padding 1 when the stride
is 2 or more" and picks the kernel that lands exactly on 16 (ViT-B/16's
14 x 14: kernel 3, stride 1, padding 0), so B/32 is the official layer.
"""
from typing import Optional, Tuple

import torch
from torch import nn

from mmfas.registry import MODELS

__all__ = ['SLIPFusion', 'SLIPDecoder', 'first_upsample_geometry']


def first_upsample_geometry(grid: int, mid: int = 16) -> Tuple[int, int, int]:
    """``(kernel, stride, padding)`` of a ConvTranspose2d mapping a
    ``grid`` x ``grid`` map to ``mid`` x ``mid``."""
    if grid < 1 or grid > mid:
        raise ValueError(f'SLIPDecoder: patch grid {grid} must be between 1 '
                         f'and {mid}')
    stride = max(1, mid // grid)
    padding = 1 if stride >= 2 else 0
    kernel = mid - (grid - 1) * stride + 2 * padding
    if kernel < 1:
        raise ValueError(f'SLIPDecoder: no transposed conv maps {grid} -> '
                         f'{mid}')
    return kernel, stride, padding


def _conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


@MODELS.register_module()
class SLIPFusion(nn.Module):
    """``R(a, b)`` of SLIP: three 3x3 convs on the concatenated maps.

    Args:
        channels (int): ``E``, the channels of each input map.
    """

    def __init__(self, channels: int):
        super().__init__()
        if channels < 2 or channels % 2:
            raise ValueError(f'SLIPFusion: channels must be even and >= 2, '
                             f'got {channels}')
        self.channels = channels
        self.convs = nn.Sequential(
            _conv3x3(2 * channels, channels),
            _conv3x3(channels, channels // 2),
            _conv3x3(channels // 2, channels))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.shape != b.shape or a.dim() != 4 or a.size(1) != self.channels:
            raise ValueError(f'SLIPFusion: expected two (B, {self.channels}, '
                             f'h, w) maps, got {tuple(a.shape)} and '
                             f'{tuple(b.shape)}')
        return self.convs(torch.cat([a, b], dim=1))


@MODELS.register_module()
class SLIPDecoder(nn.Module):
    """Spoof cue decoder ``D`` of SLIP: ``(B, E, g, g) -> (B, 1, S, S)``.

    Args:
        channels (int): ``E``, the input channels.
        grid (int): Input grid ``g`` (the backbone's patch grid).
        out_size (int): Output map size ``S``. Defaults to 32.
        hidden (int, optional): Width ``H`` of the decoder: the transposed
            convs map E -> H, the convs H -> H/2 -> ... -> H/16 -> 1; must
            be divisible by 16. Defaults to None: ``E`` (the official
            decoder). A tiny CLIP (E = 32) would leave H/16 = 2 channels
            before the output, which die under GELU; its demo config widens
            the decoder instead.
    """

    def __init__(self, channels: int, grid: int, out_size: int = 32,
                 hidden: Optional[int] = None):
        super().__init__()
        hidden = channels if hidden is None else hidden
        if hidden % 16:
            raise ValueError(f'SLIPDecoder: the width (hidden, default '
                             f'channels) must be divisible by 16, got '
                             f'{hidden}')
        if out_size % 2:
            raise ValueError(f'SLIPDecoder: out_size must be even, got '
                             f'{out_size}')
        mid = out_size // 2
        k, s, p = first_upsample_geometry(grid, mid)
        e = hidden
        self.channels, self.grid, self.out_size = channels, grid, out_size
        self.up = nn.Sequential(
            nn.ConvTranspose2d(channels, e, k, stride=s, padding=p),
            nn.GELU(),
            nn.ConvTranspose2d(e, e, 3, stride=2, padding=1,
                               output_padding=1), nn.GELU())
        self.convs = nn.Sequential(
            _conv3x3(e, e // 2), _conv3x3(e // 2, e // 4),
            _conv3x3(e // 4, e // 8), nn.GELU(),
            _conv3x3(e // 8, e // 16), nn.GELU(),
            _conv3x3(e // 16, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4 or x.shape[1:] != (self.channels, self.grid,
                                           self.grid):
            raise ValueError(f'SLIPDecoder: expected (B, {self.channels}, '
                             f'{self.grid}, {self.grid}), got '
                             f'{tuple(x.shape)}')
        return self.convs(self.up(x))
