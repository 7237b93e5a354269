"""The multi-view input layout (FLIP-MCL's plain + SimCLR views), defined
once for the pipeline, the data preprocessor and the models.

A *multi-view sample* is ``V`` images of one face made by the ``MultiView``
transform (mmpretrain's) of the training pipeline, in the order of its
``transforms``; ``num_views=[1, 2]`` with ``transforms=[plain_view,
simclr_view]`` gives ``V = 3``. View ``PLAIN_VIEW`` (0) is always the
*plain* view: augmented like a single-view training image, it carries the
classification loss, and it is what ``predict`` / ``mode='tensor'`` use.

How it travels:

====================  ===================================================
stage                 layout of ``inputs``
====================  ===================================================
``PackFASInputs``     a list of V tensors ``(C, H, W)`` per sample
``pseudo_collate``    a list of V sequences, each over the B samples
(mmengine default)
``default_collate``   a list of V tensors ``(B, C, H, W)``
data preprocessor     a list of V tensors ``(B, C, H, W)``, normalised
(model input)         (:func:`collated_views` reads either collate output)
====================  ===================================================

A model declares how many views it trains on (``num_views``, a class
attribute of :class:`~mmfas.models.classifiers.BaseFASClassifier`,
default 1) and reads them with :func:`split_views`, which names the count
it got and the pipeline that makes the right one; :func:`pipeline_num_views`
reads the count a training pipeline makes (benchmark, config checks).
"""
from typing import List, Optional, Sequence, Union

import torch

#: index of the plain view among the views of a sample
PLAIN_VIEW = 0

Inputs = Union[torch.Tensor, Sequence[torch.Tensor]]


def pipeline_num_views(pipeline: Sequence) -> int:
    """Views per sample that a pipeline (list of transform configs) makes:
    the total ``num_views`` of its ``MultiView`` step, 1 without one."""
    count = 1
    for t in pipeline or ():
        if isinstance(t, dict) and str(t.get('type', '')).endswith(
                'MultiView'):
            n = t.get('num_views', 1)
            count = int(sum(n)) if isinstance(n, (list, tuple)) else int(n)
    return count


def is_multi_view(inputs) -> bool:
    """Whether model inputs (after the data preprocessor) hold several
    views: a list / tuple of batches rather than one tensor."""
    return isinstance(inputs, (list, tuple))


def collated_views(inputs) -> Optional[List[Sequence[torch.Tensor]]]:
    """The views of a collated multi-view batch, each a sequence over the
    batch (a tensor ``(B, C, H, W)`` or B tensors ``(C, H, W)``), in view
    order; None for a single-view batch (a tensor, or a sequence of
    ``(C, H, W)`` tensors, one per sample)."""
    if not isinstance(inputs, (list, tuple)) or not len(inputs):
        return None
    first = inputs[0]
    if isinstance(first, (list, tuple)):  # pseudo_collate: views first
        return [list(v) for v in inputs]
    if isinstance(first, torch.Tensor) and first.dim() == 4:
        return list(inputs)  # default_collate: one stacked tensor per view
    return None


def plain_view(inputs: Inputs) -> torch.Tensor:
    """The plain view's batch (the input itself for single-view inputs)."""
    return inputs[PLAIN_VIEW] if is_multi_view(inputs) else inputs


def split_views(inputs: Inputs, num_views: int,
                owner: str = 'the model') -> Union[torch.Tensor,
                                                   List[torch.Tensor]]:
    """Check that ``inputs`` holds ``num_views`` views and return them: the
    batch tensor for ``num_views == 1``, else the list of view batches
    (plain view first).

    Raises:
        ValueError: the count differs (e.g. a 3-view model fed the
            single-view ``train_pipeline``, or a single-view model fed a
            ``MultiView`` pipeline, whose extra views would be computed and
            thrown away).
    """
    got = len(inputs) if is_multi_view(inputs) else 1
    if got != num_views:
        need = ('a single-view training pipeline (no MultiView)'
                if num_views == 1 else
                f'a MultiView training pipeline making {num_views} views '
                '(plain view first)')
        views = 'view' if num_views == 1 else 'views'
        raise ValueError(f'{owner} trains on {num_views} {views} per '
                         f'sample, got {got}: use {need}; the layout is '
                         'described '
                         'in mmfas/models/data_preprocessors/multi_view.py')
    return list(inputs) if num_views > 1 else (
        inputs[0] if is_multi_view(inputs) else inputs)
