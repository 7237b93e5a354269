"""SLIP's four prompt sets and their seeded per-image draw.

For every training image SLIP draws one prompt of each kind:

* ``T1`` live ("This is a live face.", ...);
* ``T2`` spoof: a partial attack naming the covered region and the object,
  ``"This is a spoof face modified by covering the {pos} part with a
  {obj}."``, with ``pos`` one of the 8 regions of
  :data:`~mmfas.models.utils.cue_maps.CUE_POSITIONS` and ``obj`` one of
  the objects (real presentation media plus distractors);
* ``T3`` content ("This is a face.", ...);
* ``T4`` hybrid: the live + spoof description with the *same* region and
  object as ``T2``.

The region of ``T2`` defines its ground-truth cue map
(:func:`~mmfas.models.utils.cue_maps.sample_cue_maps`). Draws come from a
``torch.Generator`` handed to :meth:`SLIPPromptSampler.sample`, so a test
can replay them.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch

from .cue_maps import CUE_POSITIONS

__all__ = ['SLIPPromptSampler', 'SLIPPromptDraw', 'SLIP_LIVE_PROMPTS',
           'SLIP_CONTENT_PROMPTS', 'SLIP_OBJECTS', 'SLIP_SPOOF_TEMPLATE',
           'SLIP_HYBRID_TEMPLATE']

SLIP_LIVE_PROMPTS = (
    'This is a live face.',
    "Here's a genuine human face.",
    'This represents a real human face.',
)
SLIP_CONTENT_PROMPTS = (
    'This is a face.',
    'This image shows a human face.',
    'A photo of a human face.',
)
#: Presentation media first, then distractor objects (14 in all).
SLIP_OBJECTS = ('paper', 'screen', 'mask', 'monitor', 'photo', 'tablet',
                'phone', 'printout', 'cloth', 'hand', 'scarf', 'cup',
                'book', 'sticker')
SLIP_SPOOF_TEMPLATE = ('This is a spoof face modified by covering the {pos} '
                       'part with a {obj}.')
SLIP_HYBRID_TEMPLATE = ('This is a spoof face modified by covering the '
                        '{pos} part of a live face with a {obj}.')


@dataclass
class SLIPPromptDraw:
    """One batch of drawn prompts (lists of length B)."""
    live: List[str]
    spoof: List[str]
    content: List[str]
    hybrid: List[str]
    positions: List[str]
    objects: List[str]


class SLIPPromptSampler:
    """Draws SLIP's T1..T4 prompts per image.

    Args:
        live_prompts, content_prompts (Sequence[str]): T1 and T3 sets.
        positions (Sequence[str]): Regions named in T2 / T4 (keys of
            ``CUE_POSITIONS``).
        objects (Sequence[str]): Objects named in T2 / T4.
        spoof_template, hybrid_template (str): Formats with ``{pos}`` and
            ``{obj}``.
    """

    def __init__(self,
                 live_prompts: Sequence[str] = SLIP_LIVE_PROMPTS,
                 content_prompts: Sequence[str] = SLIP_CONTENT_PROMPTS,
                 positions: Optional[Sequence[str]] = None,
                 objects: Sequence[str] = SLIP_OBJECTS,
                 spoof_template: str = SLIP_SPOOF_TEMPLATE,
                 hybrid_template: str = SLIP_HYBRID_TEMPLATE):
        positions = tuple(positions or CUE_POSITIONS)
        for name, seq in (('live_prompts', live_prompts),
                          ('content_prompts', content_prompts),
                          ('positions', positions), ('objects', objects)):
            if not seq or not all(isinstance(s, str) and s for s in seq):
                raise ValueError(f'SLIPPromptSampler: {name} must be a '
                                 f'non-empty list of strings, got {seq!r}')
        unknown = [p for p in positions if p not in CUE_POSITIONS]
        if unknown:
            raise ValueError(f'SLIPPromptSampler: unknown positions {unknown}'
                             f'; choose from {sorted(CUE_POSITIONS)}')
        for name, tpl in (('spoof_template', spoof_template),
                          ('hybrid_template', hybrid_template)):
            if '{pos}' not in tpl or '{obj}' not in tpl:
                raise ValueError(f'SLIPPromptSampler: {name} must contain '
                                 f'{{pos}} and {{obj}}, got {tpl!r}')
        self.live_prompts = tuple(live_prompts)
        self.content_prompts = tuple(content_prompts)
        self.positions = positions
        self.objects = tuple(objects)
        self.spoof_template = spoof_template
        self.hybrid_template = hybrid_template

    def sample(self, batch_size: int,
               generator: Optional[torch.Generator] = None) -> SLIPPromptDraw:
        """Draw one T1..T4 set per image."""

        def pick(seq):
            idx = torch.randint(len(seq), (batch_size, ), generator=generator)
            return [seq[i] for i in idx.tolist()]

        live = pick(self.live_prompts)
        content = pick(self.content_prompts)
        pos = pick(self.positions)
        obj = pick(self.objects)
        spoof = [self.spoof_template.format(pos=p, obj=o)
                 for p, o in zip(pos, obj)]
        hybrid = [self.hybrid_template.format(pos=p, obj=o)
                  for p, o in zip(pos, obj)]
        return SLIPPromptDraw(live, spoof, content, hybrid, pos, obj)
