"""Export an mmfas model's inference path to ONNX and check it.

    python tools/deployment/pytorch2onnx.py CONFIG CKPT --out model.onnx \\
        [--images FACE.jpg ...] [--opset 17] [--tolerance 1e-4]

The graph takes ``image``: a float32 batch ``(B, 3, H, W)`` of face crops as
the config's test pipeline packs them (BGR, 0-255, resized to the
pipeline's size; ``3 * M`` channels for paired modalities), and returns
``live_score`` ``(B, )``: the liveness score of the score rule
(:mod:`mmfas.structures.score_rule`; P(live) for 2-way logits), the score
the metric and the deployment threshold are about. The data preprocessor's
BGR -> RGB flip and normalisation are inside the graph. The batch axis is
dynamic.

Text features that do not depend on the image (FLIP-IT's and FLIP-MCL's
class template embeddings, learned-prompt class features, any
:class:`~mmfas.models.utils.TextFeatureCache`) are computed once and folded
in as constants: the text tower is not in the graph. Features that depend on
the image (CoCoOp-style conditional prompts) stay in it.

After export, onnxruntime is compared with PyTorch on random images (two
batch sizes, checking the dynamic axis) and on real images: ``--images``,
else the first ``--num-real`` samples of the config's test dataset when it
is on disk; the largest absolute difference of each is printed and above
``--tolerance`` the tool fails (exit code 1). The checkpoint's deployment
threshold, score kind, class order and input layout are written into the
ONNX metadata (``metadata_props``).

Needs the optional extra ``pip install onnx onnxruntime``
(``requirements/optional.txt``).
"""
import argparse
import contextlib
import os
import os.path as osp
import sys
import warnings
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import nn

from mmfas.structures import score_rule

INPUT_NAME = 'image'
OUTPUT_NAME = 'live_score'


def require_onnx():
    """``(onnx, onnxruntime)``, or an ImportError naming the install."""
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ImportError(
            'ONNX export needs the optional packages onnx and onnxruntime: '
            'pip install onnx onnxruntime (requirements/optional.txt)'
        ) from e
    return onnx, onnxruntime


class LivenessExportWrapper(nn.Module):
    """``image`` (B, 3 * M, H, W) float BGR 0-255 -> ``live_score`` (B, ).

    The model's data preprocessor (``FASDataPreprocessor``: BGR -> RGB and
    normalisation per 3-channel group) then ``model.live_scores`` (the score
    rule on the model's ``score_kind`` output)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        prep = model.data_preprocessor
        if not hasattr(prep, '_batch'):
            raise TypeError(
                f'{type(prep).__name__} is not an mmfas FASDataPreprocessor; '
                'the export folds that preprocessor into the graph')
        if not hasattr(model, 'live_scores'):
            raise TypeError(f'{type(model).__name__} has no live_scores(): '
                            'not an mmfas FAS classifier')
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        # the preprocessor's own batching: flip and normalise per group
        x = self.model.data_preprocessor._batch(image)
        return self.model.live_scores(x)


def _memoised(fn, key_fn):
    """``fn`` computing each result once under ``no_grad`` (detached): the
    tracer then sees a tensor made outside the trace, i.e. a constant."""
    memo = {}

    def call(*args, **kwargs):
        key = key_fn(*args, **kwargs)
        if key not in memo:
            with torch.no_grad():
                memo[key] = fn(*args, **kwargs).detach()
        return memo[key]

    return call, memo


@contextlib.contextmanager
def constant_text_features(model: nn.Module):
    """Within the context, the model's image-independent text features are
    computed once and then returned as the same tensors (folded into a
    trace as constants): ``TemplateBank.class_embeddings`` /
    ``template_embeddings``, non-conditional ``PromptLearner.encode`` and
    every ``TextFeatureCache.get``. Yields a list that names what was
    folded once a forward pass has run."""
    from mmfas.models.utils import (PromptLearner, TemplateBank,
                                    TextFeatureCache)
    patched, memos = [], []
    for name, m in model.named_modules():
        if isinstance(m, TemplateBank):
            for meth in ('class_embeddings', 'template_embeddings'):
                fn, memo = _memoised(
                    getattr(m, meth),
                    lambda backbone, *a, **k: (id(backbone), a,
                                               tuple(sorted(k.items()))))
                patched.append((m, meth))
                memos.append((f'{name}.{meth}', memo))
                setattr(m, meth, fn)
        elif isinstance(m, PromptLearner) and not m.conditional:
            fn, memo = _memoised(
                m.encode, lambda backbone, image_features=None, **k:
                (id(backbone), tuple(sorted(k.items()))))
            patched.append((m, 'encode'))
            memos.append((f'{name}.encode', memo))
            m.encode = fn
        elif isinstance(m, TextFeatureCache):
            fn, memo = _memoised(m.get, lambda compute, params: 0)
            patched.append((m, 'get'))
            memos.append((f'{name}.get', memo))
            m.get = fn
    folded: List[str] = []
    try:
        yield folded
    finally:
        for m, meth in patched:
            m.__dict__.pop(meth, None)
    folded.extend(n for n, memo in memos if memo)


@contextlib.contextmanager
def static_weight_norm(model: nn.Module):
    """FLIP-V's head L2-normalises its classifier weight in place at every
    forward (``FLIPVHead(column_norm=True)``, the reference behaviour); an
    in-place parameter write has no ONNX form. The normalisation is
    idempotent, so it is applied once here and switched off while tracing:
    the graph computes what every eval forward computes."""
    from mmfas.models.heads import FLIPVHead
    heads = [m for m in model.modules()
             if isinstance(m, FLIPVHead) and m.column_norm]
    with torch.no_grad():
        for m in heads:
            m.classifier.weight.copy_(
                torch.nn.functional.normalize(m.classifier.weight, dim=0))
            m.column_norm = False
    try:
        yield
    finally:
        for m in heads:
            m.column_norm = True


def build_model(config: str, checkpoint: str, device: str = 'cpu'):
    from mmfas.apis import init_model
    model = init_model(config, checkpoint, device=device)
    model.eval()
    return model


def input_size(model) -> tuple:
    """``(C, H, W)`` of the test pipeline's packed image (a dummy 64 x 64
    BGR image run through the pipeline, file loading bypassed)."""
    pipe = _array_pipeline(model)
    packed = pipe(dict(img=np.zeros((64, 64, 3), np.uint8),
                       img_shape=(64, 64), ori_shape=(64, 64),
                       modalities=['rgb'], img_path=None))
    return tuple(packed['inputs'].shape)


def _array_pipeline(model):
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    from mmfas.apis import get_test_pipeline_cfg
    init_default_scope(model.cfg.get('default_scope', 'mmfas'))
    steps = get_test_pipeline_cfg(model.cfg)
    return Compose(steps[1:])  # after the file loading transform


def real_inputs(model, images: Optional[List[str]],
                num: int = 4) -> Optional[torch.Tensor]:
    """Packed real images: ``images`` through the test pipeline, else the
    first ``num`` samples of the config's test dataset (None when it is
    not on disk)."""
    import cv2
    if images:
        pipe = _array_pipeline(model)
        batch = []
        for path in images:
            img = cv2.imread(path)
            if img is None:
                raise FileNotFoundError(f'cannot read image {path}')
            batch.append(pipe(dict(img=img, img_shape=img.shape[:2],
                                   ori_shape=img.shape[:2],
                                   modalities=['rgb'], img_path=path)
                              )['inputs'])
        return torch.stack(batch).float()
    from mmengine.registry import init_default_scope

    from mmfas.registry import DATASETS
    init_default_scope(model.cfg.get('default_scope', 'mmfas'))
    try:
        dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    except (FileNotFoundError, OSError, KeyError, ValueError) as e:
        print(f'real-image check: the test dataset cannot be built ({e})')
        return None
    n = min(num, len(dataset))
    return torch.stack([dataset[i]['inputs'] for i in range(n)]).float()


def export_onnx(model, out: str, opset: int = 17,
                batch_size: int = 2) -> Dict[str, object]:
    """Trace the model's inference path into ``out``.

    Returns:
        dict: ``input_shape`` (C, H, W) and ``folded`` (the text features
        made constants).
    """
    require_onnx()
    wrapper = LivenessExportWrapper(model).eval()
    c, h, w = input_size(model)
    dummy = torch.rand(batch_size, c, h, w) * 255
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with constant_text_features(model) as folded, static_weight_norm(model):
        with torch.no_grad():
            wrapper(dummy)  # computes the constant text features once
        # traced with autograd on: under no_grad nn.MultiheadAttention
        # takes its fused fast path, which has no ONNX export
        with warnings.catch_warnings():
            # shape checks of the score rule / backbone become constants
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            warnings.simplefilter('ignore', DeprecationWarning)
            torch.onnx.export(
                wrapper, (dummy, ), out,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: 'batch'},
                              OUTPUT_NAME: {0: 'batch'}},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False)
    _write_metadata(out, model, (c, h, w))
    return dict(input_shape=(c, h, w), folded=list(folded))


def _write_metadata(path: str, model, shape) -> None:
    import onnx
    proto = onnx.load(path)
    thr = getattr(model, 'fas_threshold', None)
    meta = dict(
        classes=','.join(score_rule.CLASSES),
        score_kind=str(getattr(model, 'score_kind', 'logits')),
        decision='live iff live_score >= fas_threshold',
        fas_threshold='' if thr is None else repr(float(thr)),
        input_layout=f'float32 (batch, {shape[0]}, {shape[1]}, {shape[2]}) '
        'face crops, BGR, 0-255, as the test pipeline packs them')
    del proto.metadata_props[:]
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, path)


def onnx_scores(path: str, images: torch.Tensor) -> np.ndarray:
    _, ort = require_onnx()
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    return sess.run([OUTPUT_NAME],
                    {INPUT_NAME: images.numpy().astype(np.float32)})[0]


def torch_scores(model, images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return LivenessExportWrapper(model).eval()(images).numpy()


def check_parity(model, path: str, real: Optional[torch.Tensor],
                 tolerance: float = 1e-4, seed: int = 0) -> dict:
    """Max abs difference between onnxruntime and PyTorch live scores on
    random batches of 1 and 3 images and on ``real``.

    Returns:
        dict: ``{name: max_abs_diff}``; raises nothing (see ``main``).
    """
    import onnx
    onnx.checker.check_model(path)
    c, h, w = input_size(model)
    g = torch.Generator().manual_seed(seed)
    checks = {f'random x{b}': torch.rand(b, c, h, w, generator=g) * 255
              for b in (1, 3)}
    if real is not None:
        checks[f'real x{real.shape[0]}'] = real
    out = {}
    for name, images in checks.items():
        ref, got = torch_scores(model, images), onnx_scores(path, images)
        if got.shape != ref.shape:
            raise RuntimeError(f'{path}: onnxruntime returned shape '
                               f'{got.shape} for {name}, PyTorch {ref.shape}')
        out[name] = float(np.abs(got - ref).max())
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export an mmfas model (image -> liveness score) to '
        'ONNX and check it against PyTorch')
    parser.add_argument('config', help='the model config file')
    parser.add_argument('checkpoint',
                        help='checkpoint (a deployment checkpoint carries its threshold)')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--images', nargs='+',
                        help='real face crops for the parity check '
                        "(default: the config's test dataset, if on disk)")
    parser.add_argument('--num-real', type=int, default=4,
                        help='test dataset samples for the parity check')
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset version (default 17)')
    parser.add_argument('--tolerance', type=float, default=1e-4,
                        help='largest allowed |onnxruntime - PyTorch| of a '
                        'live score')
    parser.add_argument('--no-check', action='store_true',
                        help='export only')
    args = parser.parse_args(argv)
    if not args.tolerance >= 0:
        parser.error(f'--tolerance must be >= 0, got {args.tolerance}')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    model = build_model(args.config, args.checkpoint)
    info = export_onnx(model, args.out, opset=args.opset)
    folded = ', '.join(info['folded']) or 'none (no image-independent text ' \
        'features)'
    print(f'wrote {args.out}: input {INPUT_NAME} (batch, '
          f'{", ".join(map(str, info["input_shape"]))}) BGR 0-255 -> '
          f'{OUTPUT_NAME} (batch, ) [{model.score_kind}]; constant text '
          f'features: {folded}')
    if args.no_check:
        return dict(info, diffs={})
    real = real_inputs(model, args.images, args.num_real)
    if real is None:
        print('real-image check: SKIPPED (give --images FACE.jpg ...)')
    diffs = check_parity(model, args.out, real, args.tolerance)
    for name, d in diffs.items():
        print(f'onnxruntime vs PyTorch, {name}: max abs diff {d:.3g}')
    worst = max(diffs.values())
    if not worst <= args.tolerance:
        print(f'FAILED: max abs diff {worst:.3g} > tolerance '
              f'{args.tolerance:g}', file=sys.stderr)
        sys.exit(1)
    print(f'parity check passed (tolerance {args.tolerance:g})')
    return dict(info, diffs=diffs)


if __name__ == '__main__':
    main()
