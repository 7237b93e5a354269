"""Ground-truth spoof cue maps for language-described partial attacks (SLIP).

A spoof prompt names the covered region of the face ("... covering the
*upper left* part with a *paper*"); its target cue map is a Gaussian blob at
that region's centre on a ``size x size`` grid (32 x 32 in SLIP), with the
centre jittered by up to ``jitter`` pixels and a width drawn from ``sigmas``,
scaled so its peak is 1 (values in [0, 1]). A live prompt's map is all
zeros. The official SLIP code keeps 0..255 maps; ``scale=255`` reproduces it.

Positions are in image coordinates as the viewer sees the crop: ``left`` is
the left half of the image, ``upper`` the top half.
"""
from typing import Dict, Optional, Sequence, Tuple

import torch

__all__ = ['CUE_POSITIONS', 'region_centre', 'gaussian_cue_map',
           'region_mask', 'sample_cue_maps']

#: Region name -> (x, y) centre as fractions of the grid (0 = left / top).
CUE_POSITIONS: Dict[str, Tuple[float, float]] = {
    'upper': (0.5, 0.25),
    'lower': (0.5, 0.75),
    'left': (0.25, 0.5),
    'right': (0.75, 0.5),
    'upper left': (0.25, 0.25),
    'upper right': (0.75, 0.25),
    'lower left': (0.25, 0.75),
    'lower right': (0.75, 0.75),
}


def _check_position(position: str) -> None:
    if position not in CUE_POSITIONS:
        raise ValueError(f'unknown cue position {position!r}; choose from '
                         f'{sorted(CUE_POSITIONS)}')


def region_centre(position: str, size: int = 32) -> Tuple[int, int]:
    """Integer ``(x, y)`` pixel centre of a named region on a ``size`` grid."""
    _check_position(position)
    fx, fy = CUE_POSITIONS[position]
    return int(round(fx * size)), int(round(fy * size))


def region_mask(position: str, size: int = 32) -> torch.Tensor:
    """Filled ``(size, size)`` 0/1 mask of the named region (the half or
    quadrant of the grid), the alternative to a blob."""
    _check_position(position)
    fx, fy = CUE_POSITIONS[position]
    m = torch.zeros(size, size)
    h = size // 2
    ys = slice(0, h) if fy < 0.5 else (slice(h, size) if fy > 0.5 else
                                       slice(0, size))
    xs = slice(0, h) if fx < 0.5 else (slice(h, size) if fx > 0.5 else
                                       slice(0, size))
    m[ys, xs] = 1.0
    return m


def gaussian_cue_map(position: str,
                     size: int = 32,
                     sigma: float = 4.0,
                     offset: Tuple[int, int] = (0, 0),
                     scale: float = 1.0) -> torch.Tensor:
    """``(size, size)`` Gaussian blob at the region centre plus ``offset``
    (dx, dy pixels), peak ``scale`` (1 -> values in [0, 1])."""
    if sigma <= 0:
        raise ValueError(f'gaussian_cue_map: sigma must be > 0, got {sigma}')
    cx, cy = region_centre(position, size)
    cx, cy = cx + int(offset[0]), cy + int(offset[1])
    ys = torch.arange(size, dtype=torch.float32).view(-1, 1)
    xs = torch.arange(size, dtype=torch.float32).view(1, -1)
    g = torch.exp(-((xs - cx)**2 + (ys - cy)**2) / (2.0 * sigma**2))
    return g / g.max() * scale


def sample_cue_maps(positions: Sequence[Optional[str]],
                    size: int = 32,
                    sigmas: Sequence[float] = (2.0, 4.0, 6.0),
                    jitter: int = 2,
                    scale: float = 1.0,
                    generator: Optional[torch.Generator] = None
                    ) -> torch.Tensor:
    """Target maps ``(N, 1, size, size)`` for a batch of prompts.

    Args:
        positions: One region name per prompt; ``None`` for a live prompt
            (an all-zero map).
        sigmas: Blob widths to draw from (uniformly).
        jitter: The centre moves by an integer in ``[-jitter, jitter]``
            along each axis.
        scale: Peak value (1; the official code's 255).
        generator: Source of the draws (replayable in tests).
    """
    maps = torch.zeros(len(positions), 1, size, size)
    for i, pos in enumerate(positions):
        if pos is None:
            continue
        k = int(torch.randint(len(sigmas), (1, ), generator=generator))
        dx, dy = (torch.randint(-jitter, jitter + 1, (2, ),
                                generator=generator).tolist()
                  if jitter > 0 else (0, 0))
        maps[i, 0] = gaussian_cue_map(pos, size, float(sigmas[k]), (dx, dy),
                                      scale)
    return maps
