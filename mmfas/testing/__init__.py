"""Helpers for mmfas' tests: the one tiny CLIP every test builds.

The tiny CLIP (3.4 M parameters at 224 px) has ViT-B/16's layout in
miniature: 2 vision and 2 text blocks, width 64, 16 px patches, 32-d
embeddings, CLIP's 49408-token vocabulary and 77-token context, QuickGELU.
``configs/_base_/models/clip_tiny.py`` is the same model for configs (at
224 px); tests use 32 px images (a 2 x 2 patch grid) to stay fast.

Examples:
    >>> from mmfas.testing import tiny_backbone, tiny_backbone_cfg
    >>> bb = tiny_backbone()                      # seeded OpenCLIPBackbone
    >>> cfg = tiny_backbone_cfg(freeze='all')     # for MODELS.build / FLIPV
    >>> arch = tiny_clip_arch(quick_gelu=False)   # open_clip.CLIP(**arch)
"""
import copy
from typing import Optional

import torch

__all__ = ['TINY_IMAGE_SIZE', 'tiny_clip_arch', 'tiny_backbone_cfg',
           'tiny_backbone']

#: image size of the tests' tiny CLIP
TINY_IMAGE_SIZE = 32

_ARCH = dict(
    embed_dim=32,
    quick_gelu=True,
    vision_cfg=dict(image_size=TINY_IMAGE_SIZE, layers=2, width=64,
                    head_width=32, patch_size=16),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2,
                  layers=2))


def tiny_clip_arch(image_size: Optional[int] = None, **overrides) -> dict:
    """A fresh copy of the tiny CLIP's ``open_clip.CLIP`` kwargs (the
    ``arch`` of :class:`~mmfas.models.backbones.OpenCLIPBackbone`).

    Args:
        image_size (int, optional): Vision input size. Defaults to 32.
        **overrides: Top-level keys to replace (e.g. ``quick_gelu=False``).
    """
    arch = copy.deepcopy(_ARCH)
    if image_size is not None:
        arch['vision_cfg']['image_size'] = image_size
    unknown = set(overrides) - set(arch)
    if unknown:
        raise KeyError(f'tiny_clip_arch: unknown keys {sorted(unknown)}; '
                       f'expected some of {sorted(arch)}')
    arch.update(copy.deepcopy(overrides))
    return arch


def tiny_backbone_cfg(image_size: Optional[int] = None, **kwargs) -> dict:
    """``dict(type='OpenCLIPBackbone', arch=tiny_clip_arch(), **kwargs)``,
    e.g. a model's ``backbone``; ``kwargs`` are backbone options
    (``freeze``, ``adapters``, ...)."""
    return dict(type='OpenCLIPBackbone', arch=tiny_clip_arch(image_size),
                **kwargs)


def tiny_backbone(seed: Optional[int] = 0,
                  image_size: Optional[int] = None, **kwargs):
    """The tiny :class:`~mmfas.models.backbones.OpenCLIPBackbone`, its
    random weights drawn after ``torch.manual_seed(seed)`` (None: the
    current RNG state)."""
    from mmfas.models.backbones import OpenCLIPBackbone
    if seed is not None:
        torch.manual_seed(seed)
    return OpenCLIPBackbone(arch=tiny_clip_arch(image_size), **kwargs)
