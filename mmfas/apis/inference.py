"""Single-image / small-batch inference for mmfas models.

Example::

    from mmfas.apis import inference_model, init_model

    model = init_model('configs/flip/flip-it_vitb16_oci2m.py',
                       'deploy.pth', device='cpu')
    inference_model(model, 'face.jpg')
    # {'live_score': 0.93, 'pred_label': 'live', 'threshold': 0.41,
    #  'threshold_source': 'checkpoint'}

``live_score`` is the liveness score the model's ``predict`` writes by the
score rule (:mod:`mmfas.structures.score_rule`: P(live) for 2-way logits,
``1 -`` mean spoof cue map, ...), the score
:class:`~mmfas.evaluation.FASMetric` reads. A sample is live iff
``live_score >= threshold`` (the score rule's decision, as in the metric).
The threshold comes from the checkpoint (``meta['fas_threshold']``, written
by ``tools/misc/export_deploy_checkpoint.py``), else from
``inference_model(..., threshold=...)``, else the uncalibrated
:data:`~mmfas.structures.DEFAULT_THRESHOLD` (``threshold_source``
``'default'``).

Photos and video frames that show whole scenes:
``inference_model(model, 'photo.jpg', detect_faces=True)`` finds every face
with the dataset converters' detectors
(:mod:`mmfas.datasets.converters.face_detectors`: MTCNN when installed, else
OpenCV's Haar cascade), crops each as training did (the test pipeline's
``FaceCrop`` on the detected box) and scores it::

    inference_model(model, 'photo.jpg', detect_faces=True)
    # {'faces': [{'bbox': [x1, y1, x2, y2], 'det_score': 0.99,
    #             'live_score': 0.93, 'pred_label': 'live', ...}],
    #  'image_shape': (480, 640), 'detector': 'haar'}
"""
import copy
import os.path as osp
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import init_default_scope

from mmfas.structures import score_rule
from mmfas.utils import register_all_modules, safe_torch_load
from mmfas.utils.config import merge_data_preprocessor

__all__ = ['init_model', 'inference_model', 'get_test_pipeline_cfg']

ImageType = Union[str, Path, np.ndarray, Dict[str, Union[str, Path]]]
#: transforms that read files; bypassed when arrays are given
LOADING_TRANSFORMS = ('LoadFASImages', 'LoadImageFromFile')


def _load_config(config, cfg_options=None) -> Config:
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(str(config))
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    else:
        raise TypeError('config must be a file path or a Config, got '
                        f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if cfg.get('model') is None:
        raise KeyError(f'the config {getattr(cfg, "filename", "")} has no '
                       '"model"')
    return merge_data_preprocessor(cfg)  # the data recipe's normalisation


def _split_checkpoint(ckpt, path) -> tuple:
    if not isinstance(ckpt, dict):
        raise TypeError(f'{path}: expected a dict checkpoint, got '
                        f'{type(ckpt).__name__}')
    if 'state_dict' in ckpt:
        state, meta = ckpt['state_dict'], ckpt.get('meta') or {}
    else:  # a bare state dict
        state, meta = ckpt, {}
    state = {(k[len('module.'):] if k.startswith('module.') else k): v
             for k, v in state.items()}
    return state, meta


def init_model(config: Union[str, Path, Config],
               checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> torch.nn.Module:
    """Build a model from a config and load a checkpoint.

    The config's ``default_scope`` (``'mmfas'`` for every mmfas config) is
    made the current scope; mmfas modules are registered.

    A complete checkpoint supplies every weight, so the backbone's
    ``pretrained`` weights are not loaded (no download). A model configured
    with ``save_trainable_only=True`` saves only its trained parameters; it
    keeps the config's pretrained CLIP and the checkpoint fills in the
    trained part. Loading is strict either way: a missing or unexpected key
    is an error naming it; only frozen *pretrained* weights may be absent
    (a frozen part that was randomly initialised, ``pretrained=None``, is
    stored in trainable-only checkpoints, and a file lacking it is refused
    rather than re-randomised at every call).

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint path (loaded with
            :func:`~mmfas.utils.safe_torch_load`). None keeps the weights the
            model is built with.
        device (str | torch.device): Defaults to ``'cpu'``.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model in eval mode, with ``cfg``, ``checkpoint_meta``
        and ``fas_threshold`` (``meta['fas_threshold']`` or None) attached.
    """
    register_all_modules(init_default_scope=False)
    cfg = _load_config(config, cfg_options)
    scope = cfg.get('default_scope', 'mmfas')
    if scope is not None:
        init_default_scope(scope)

    state, meta = None, {}
    if checkpoint is not None:
        checkpoint = str(checkpoint)
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
        state, meta = _split_checkpoint(
            safe_torch_load(checkpoint, map_location='cpu'), checkpoint)
        backbone = cfg.model.get('backbone')
        if not cfg.model.get('save_trainable_only', False) and isinstance(
                backbone, dict) and backbone.get('pretrained') is not None:
            backbone['pretrained'] = None

    from mmfas.registry import MODELS
    model = MODELS.build(cfg.model)
    if state is not None:
        try:
            # frozen parameters a trainable-only checkpoint lacks are filled
            # in by enable_trainable_checkpoint's hooks; anything else
            # missing or unexpected is an error
            model.load_state_dict(state, strict=True)
        except RuntimeError as e:
            raise RuntimeError(
                f'checkpoint {checkpoint} does not match the model built from '
                f'the config: {e}') from e
    model.cfg = cfg
    model.checkpoint_meta = dict(meta)
    thr = meta.get('fas_threshold')
    if thr is not None:
        thr = score_rule.check_threshold(
            thr, f"meta['fas_threshold'] of {checkpoint}")
    # a deployment checkpoint states the score rule its threshold is for
    if meta.get('classes') is not None:
        score_rule.check_class_order(
            meta['classes'], f"meta['classes'] of {checkpoint}")
    kind = meta.get('score_kind')
    if kind is not None and kind != getattr(model, 'score_kind', kind):
        raise ValueError(
            f"checkpoint {checkpoint}: meta['score_kind']={kind!r} but the "
            f'model built from the config scores by {model.score_kind!r}; '
            'its threshold would not mean the same')
    model.fas_threshold = thr
    if hasattr(model, 'set_decision_threshold'):
        # the model's own pred_label follows the deployed operating point
        model.set_decision_threshold(thr)
    model.to(device)
    model.eval()
    return model


# ------------------------------------------------------------ pipeline
def _dataset_pipeline(dataset) -> Optional[list]:
    if not isinstance(dataset, dict):
        return None
    if dataset.get('pipeline') is not None:
        return list(dataset['pipeline'])
    subs = dataset.get('datasets')
    if isinstance(subs, (list, tuple)) and subs:
        # a ConcatDataset of source val + target test: the test part's
        tests = [d for d in subs
                 if isinstance(d, dict) and d.get('eval_role') == 'test']
        for d in (tests or list(subs))[::-1]:
            p = _dataset_pipeline(d)
            if p is not None:
                return p
    if isinstance(dataset.get('dataset'), dict):  # wrappers
        return _dataset_pipeline(dataset['dataset'])
    return None


def get_test_pipeline_cfg(cfg: Config) -> List[dict]:
    """The test pipeline of a config: the test dataloader's dataset pipeline
    (the target-test part of a ConcatDataset), else ``cfg.test_pipeline``,
    else the val dataloader's."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key)
        if isinstance(loader, dict):
            p = _dataset_pipeline(loader.get('dataset'))
            if p:
                return copy.deepcopy(p)
        if key == 'test_dataloader' and cfg.get('test_pipeline'):
            return copy.deepcopy(list(cfg.test_pipeline))
    raise KeyError('the config has no test pipeline (test_dataloader.dataset'
                   '.pipeline or test_pipeline)')


def _pipelines(model):
    cached = getattr(model, '_fas_inference_pipelines', None)
    if cached is not None:
        return cached
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('the model has no .cfg; build it with '
                             'mmfas.apis.init_model')
    scope = cfg.get('default_scope', 'mmfas')
    if scope is not None:
        init_default_scope(scope)
    steps = get_test_pipeline_cfg(cfg)
    if not steps or steps[0].get('type') not in LOADING_TRANSFORMS:
        raise ValueError('the test pipeline does not start with '
                         f'LoadFASImages: {steps[:1]}')
    from_file = Compose(steps)
    from_array = Compose(steps[1:])
    model._fas_inference_pipelines = (from_file, from_array)
    return from_file, from_array


def _prepare(image, pipelines, bbox=None) -> dict:
    from_file, from_array = pipelines
    extra = {}
    if bbox is not None:
        box = np.asarray(bbox, dtype=np.float32).reshape(-1)
        if box.size != 4:
            raise ValueError('inference_model: a face box is [x1, y1, x2, '
                             f'y2], got {bbox}')
        extra['face_bbox'] = box
    if isinstance(image, (str, Path)):
        path = str(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'inference_model: image not found: '
                                    f'{path}')
        return from_file(dict(img_paths={'rgb': path}, img_path=path,
                              **extra))
    if isinstance(image, dict):  # paired modalities {modality: path}
        paths = {m: str(p) for m, p in image.items()}
        for p in paths.values():
            if not osp.isfile(p):
                raise FileNotFoundError(
                    f'inference_model: image not found: {p}')
        return from_file(
            dict(img_paths=paths, img_path=next(iter(paths.values())),
                 **extra))
    if isinstance(image, np.ndarray):
        img = image
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim != 3 or img.shape[-1] % 3:
            raise ValueError('inference_model: arrays must be BGR images of '
                             'shape (H, W, 3) (or (H, W, 3 * M) for paired '
                             f'modalities), got {image.shape}')
        img = np.ascontiguousarray(img)
        mods = ['rgb'] if img.shape[-1] == 3 else [
            f'm{i}' for i in range(img.shape[-1] // 3)]
        return from_array(
            dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                 modalities=mods, img_path=None, **extra))
    raise TypeError('inference_model: an image is a path, a {modality: path}'
                    ' dict or a BGR numpy array, got '
                    f'{type(image).__name__}')


#: face detectors built by name, kept for the next call (a video demo calls
#: inference_model once per frame)
_FACE_DETECTORS: Dict[str, object] = {}
#: a detected box that lies this much (share of its own area) inside a
#: better one is a part of that face (Haar finds mouths in faces), not a face
NESTED_OVERLAP = 0.5


def resolve_threshold(model, threshold) -> tuple:
    """``(threshold, source)``: the checkpoint's, else the argument, else
    the score rule's default."""
    meta_thr = getattr(model, 'fas_threshold', None)
    if threshold is not None:
        threshold = score_rule.check_threshold(threshold,
                                               'inference_model threshold')
    if meta_thr is not None:
        if threshold is not None and threshold != float(meta_thr):
            warnings.warn(
                f'inference_model: threshold={threshold} ignored; the '
                f'checkpoint fixes the threshold at {meta_thr} '
                "(meta['fas_threshold'])")
        return float(meta_thr), 'checkpoint'
    if threshold is not None:
        return threshold, 'argument'
    return score_rule.DEFAULT_THRESHOLD, 'default'


def get_face_detector(detector):
    """A face detector of :mod:`mmfas.datasets.converters.face_detectors`
    from a name (built once, then reused) or a ready object."""
    from mmfas.datasets.converters.face_detectors import build_detector
    if isinstance(detector, str):
        key = detector.lower()
        if key not in _FACE_DETECTORS:
            _FACE_DETECTORS[key] = build_detector(key)
        return _FACE_DETECTORS[key]
    return build_detector(detector)


def _image_for_detection(image) -> np.ndarray:
    """The BGR array the detector sees (read as ``LoadFASImages`` does)."""
    if isinstance(image, (str, Path)):
        import mmcv
        path = str(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'inference_model: image not found: '
                                    f'{path}')
        img = mmcv.imread(path, flag='color', backend='cv2')
        if img is None:
            raise ValueError(f'inference_model: cannot decode the image '
                             f'{path}')
        return img
    if isinstance(image, dict):
        if 'rgb' not in image:
            raise ValueError(
                'inference_model(detect_faces=True): faces are detected on '
                'the rgb image; a {modality: path} input needs an "rgb" key,'
                f' got {sorted(image)}')
        return _image_for_detection(image['rgb'])
    if isinstance(image, np.ndarray):
        if image.ndim not in (2, 3):
            raise ValueError('inference_model: arrays must be BGR images of '
                             f'shape (H, W, 3), got {image.shape}')
        return image if image.ndim == 2 else image[..., :3]
    raise TypeError('inference_model: an image is a path, a {modality: path}'
                    ' dict or a BGR numpy array, got '
                    f'{type(image).__name__}')


def drop_nested_boxes(boxes, overlap: float = NESTED_OVERLAP) -> list:
    """Keep the detector's order; drop a box whose area lies more than
    ``overlap`` inside a box kept before it (one face, found twice)."""
    kept = []
    for b in boxes:
        area = max(0.0, b.x2 - b.x1) * max(0.0, b.y2 - b.y1)
        inside = False
        for k in kept:
            iw = min(b.x2, k.x2) - max(b.x1, k.x1)
            ih = min(b.y2, k.y2) - max(b.y1, k.y1)
            if area > 0 and iw > 0 and ih > 0 and iw * ih > overlap * area:
                inside = True
                break
        if not inside and area > 0:
            kept.append(b)
    return kept


def _check_maps(model) -> None:
    if not callable(getattr(model, 'spoof_maps', None)):
        raise ValueError(
            f'{type(model).__name__} has no maps to show: return_maps (the '
            "demo's --show-maps) needs a model with spoof_maps(inputs), "
            "e.g. SLIP's spoof cue maps")


def _check_face_crop(model) -> None:
    """Face boxes need the test pipeline's ``FaceCrop``; without it they
    would be ignored and the whole image scored."""
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        return  # _pipelines names the problem
    steps = get_test_pipeline_cfg(cfg)
    if not any(isinstance(t, dict) and t.get('type') == 'FaceCrop'
               for t in steps):
        raise ValueError(
            'inference_model: face boxes (face_bboxes / detect_faces) are '
            'cropped by the test pipeline\'s FaceCrop, which the pipeline '
            f'of {getattr(cfg, "filename", "the config")} lacks: '
            f'{[t.get("type") for t in steps if isinstance(t, dict)]}')


def _crop_of(sample: dict) -> Optional[np.ndarray]:
    """The first (RGB) image of a prepared sample as the model saw it:
    ``(H, W, 3)`` BGR ``uint8``."""
    inputs = sample.get('inputs')
    if not isinstance(inputs, torch.Tensor) or inputs.dim() != 3:
        return None
    img = inputs[:3].permute(1, 2, 0).detach().cpu().numpy()
    return np.ascontiguousarray(img.clip(0, 255).astype(np.uint8))


def _score(model, prepared: list, thr: float, source: str, batch_size: int,
           return_maps: bool) -> List[dict]:
    """Score prepared samples in batches by the score rule."""
    results = []
    was_training = model.training
    if was_training:
        # (only then: switching modes clears the models' text feature
        # caches, which would re-encode the class prompts at every call)
        model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(prepared), max(1, batch_size)):
                chunk = prepared[i:i + max(1, batch_size)]
                batch = pseudo_collate(chunk)
                maps = None
                if return_maps:
                    data = model.data_preprocessor(batch, False)
                    samples = model(**data, mode='predict')
                    maps = model.spoof_maps(data['inputs'])
                else:
                    samples = model.test_step(batch)
                for j, sample in enumerate(samples):
                    score = score_rule.read_live_score(sample)
                    label = score_rule.class_name(
                        score_rule.decide(score, thr))
                    res = dict(live_score=score, pred_label=label,
                               threshold=thr, threshold_source=source)
                    if maps is not None:
                        res['map'] = maps[j].float().reshape(
                            -1, *maps.shape[-2:])[0].cpu().numpy()
                        res['crop'] = _crop_of(chunk[j])
                    results.append(res)
    finally:
        if was_training:
            model.train(True)
    return results


def inference_model(model: torch.nn.Module,
                    images: Union[ImageType, Sequence[ImageType]],
                    threshold: Optional[float] = None,
                    batch_size: int = 16,
                    face_bboxes=None,
                    detect_faces: bool = False,
                    detector='auto',
                    return_maps: bool = False) -> Union[dict, List[dict]]:
    """Liveness of one image or a list of images.

    Each image runs through the config's test pipeline (file loading is
    bypassed for arrays); images are batched by ``batch_size``. Only the
    image (and an optional face box) is known, none of the dataset's
    annotation fields: without a box the pipeline's ``FaceCrop`` (policy
    ``missing='ignore'``) treats the image as the face crop, as the
    converters write them.

    With ``detect_faces=True`` the images are whole scenes: every face is
    found by ``detector`` and scored on its own, cropped by the pipeline's
    ``FaceCrop`` from the detected box as training cropped the annotated
    box (the converters store the detector's box with each crop).

    Args:
        model (nn.Module): From :func:`init_model`.
        images: An image path, a BGR ``uint8`` array (H, W, 3), a
            ``{modality: path}`` dict for paired-modality models, or a
            list / tuple of them.
        threshold (float, optional): Decision threshold on ``live_score``,
            used when the checkpoint carries none
            (``meta['fas_threshold']``). The checkpoint's threshold is the
            deployed operating point and wins; a different value here is
            ignored with a warning. With neither, the uncalibrated
            :data:`~mmfas.structures.DEFAULT_THRESHOLD` (0.5).
        batch_size (int): Defaults to 16.
        face_bboxes (optional): ``[x1, y1, x2, y2]`` face box in pixels
            for the pipeline's ``FaceCrop`` (one box for a single image, a
            list with one box or None per image for a list). Defaults to
            None: the images are face crops.
        detect_faces (bool): Detect the faces and score each (see above;
            excludes ``face_bboxes``). Defaults to False.
        detector (str | dict | object): With ``detect_faces``: ``'auto'``
            (MTCNN when facenet-pytorch is installed, else Haar),
            ``'mtcnn'``, ``'haar'``, ``'mmdet'`` (see
            :func:`~mmfas.datasets.converters.face_detectors.build_detector`;
            a name is built once and reused), a dict
            ``dict(type=name, **options)`` (built at each call: build it
            once with :func:`get_face_detector` for many calls), or a
            detector object with ``detect(bgr) -> list[FaceBox]``. A box
            lying mostly inside a better one is dropped
            (:func:`drop_nested_boxes`). Defaults to ``'auto'``.
        return_maps (bool): Also return the model's map of each scored
            image: ``'map'`` (``(h, w)`` float array, SLIP's spoof cue map
            in ``[0, 1]``) and ``'crop'`` (the ``(H, W, 3)`` BGR input the
            model saw). Needs a model with ``spoof_maps``. Defaults to
            False.

    Returns:
        dict | list[dict]: Per image ``{'live_score': float, 'pred_label':
        'live' | 'spoof', 'threshold': float, 'threshold_source':
        'checkpoint' | 'argument' | 'default'}``, ``pred_label`` = ``'live'``
        iff ``live_score >= threshold``; a list for a list / tuple input.
        With ``detect_faces``, per image ``{'faces': [...], 'image_shape':
        (H, W), 'detector': name}``, ``faces`` (best first, empty when none
        is found) holding such a dict per face plus its ``'bbox'`` ``[x1,
        y1, x2, y2]`` and the detector's ``'det_score'``.

    Raises:
        FileNotFoundError: An image path does not exist (named).
        ValueError: ``return_maps`` for a model without maps (named), or
            ``face_bboxes`` together with ``detect_faces``.
    """
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    thr, source = resolve_threshold(model, threshold)
    if return_maps:
        _check_maps(model)

    if detect_faces or face_bboxes is not None:
        _check_face_crop(model)
    if detect_faces:
        if face_bboxes is not None:
            raise ValueError('inference_model: pass either face_bboxes or '
                             'detect_faces=True, not both')
        det = get_face_detector(detector)
        found = []
        for img in items:
            arr = _image_for_detection(img)
            boxes = drop_nested_boxes(det.detect(arr))
            found.append((tuple(int(v) for v in arr.shape[:2]), boxes))
        pipelines = _pipelines(model)
        prepared = [
            _prepare(img, pipelines, [b.x1, b.y1, b.x2, b.y2])
            for img, (_, boxes) in zip(items, found) for b in boxes
        ]
        scores = iter(_score(model, prepared, thr, source, batch_size,
                             return_maps))
        results = []
        for shape, boxes in found:
            faces = []
            for b in boxes:
                face = dict(bbox=[float(b.x1), float(b.y1), float(b.x2),
                                  float(b.y2)],
                            det_score=float(b.score))
                face.update(next(scores))
                faces.append(face)
            results.append(dict(faces=faces, image_shape=shape,
                                detector=getattr(det, 'name', str(det))))
        return results[0] if single else results

    if face_bboxes is None:
        boxes = [None] * len(items)
    elif single:
        boxes = [face_bboxes]
    else:
        boxes = list(face_bboxes)
        if len(boxes) != len(items):
            raise ValueError(f'inference_model: {len(boxes)} face boxes for '
                             f'{len(items)} images')
    pipelines = _pipelines(model)
    # validate all inputs (missing files) before running the model
    prepared = [_prepare(img, pipelines, box)
                for img, box in zip(items, boxes)]
    results = _score(model, prepared, thr, source, batch_size, return_maps)
    return results[0] if single else results
