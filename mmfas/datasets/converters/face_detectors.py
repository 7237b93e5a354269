"""Pluggable face detectors for the dataset converters.

Every detector takes a BGR ``uint8`` image (OpenCV order) and returns a list of
:class:`FaceBox` (pixel coordinates ``x1, y1, x2, y2`` in the image, and a
score), best first. The converters keep the best box.

Available (``build_detector(name)``):

* ``'mtcnn'``: MTCNN from ``facenet-pytorch`` (the field's usual choice,
  FLIP/SSDG crops). Weights ship inside the wheel, nothing is downloaded.
  Optional: its metadata pins an old torch, so it is installed without its
  dependencies: ``pip install --no-deps facenet-pytorch==2.6.0 requests``.
* ``'haar'``: OpenCV's frontal-face Haar cascade, shipped inside
  ``opencv-python<5`` (``cv2.data.haarcascades``). Always available here;
  weaker on rotated, small or blurred faces.
* ``'auto'``: MTCNN when ``facenet_pytorch`` imports, else Haar.
* ``'mmdet'``: any mmdet face detector (config + checkpoint); needs full
  mmcv with compiled ops.
* ``'none'``: never detects; used for data that is already face-cropped
  (CASIA-SURF, CeFA, WMCA preprocessed) together with the ``full`` crop.

A detector object can also be passed directly (anything with a
``detect(image) -> list[FaceBox]`` method and a ``name``), which is how the
tests plug in deterministic stubs.
"""
import importlib
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

MTCNN_INSTALL = 'pip install --no-deps facenet-pytorch==2.6.0 requests'
MMDET_INSTALL = ('pip install mmdet==3.3.0 plus a full mmcv 2.1.0 with '
                 'compiled ops (e.g. MMCV_WITH_OPS=1 pip install '
                 '--no-build-isolation mmcv==2.1.0; mmcv-lite is not enough)')


class FaceBox(NamedTuple):
    """A face box in image pixels, with the detector's confidence."""
    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def as_list(self) -> List[float]:
        return [round(float(v), 2) for v in (self.x1, self.y1, self.x2,
                                              self.y2)]


def _sort_boxes(boxes: Sequence[FaceBox]) -> List[FaceBox]:
    """Best first: highest score, then largest area (deterministic)."""
    return sorted(boxes, key=lambda b: (-round(b.score, 6), -b.area, b.x1,
                                        b.y1))


def _downscale(image: np.ndarray, max_side: Optional[int]):
    """Shrink very large frames before detection; returns (image, factor)."""
    import cv2
    h, w = image.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return image, 1.0
    f = max_side / float(max(h, w))
    small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))),
                       interpolation=cv2.INTER_AREA)
    return small, f


class BaseFaceDetector:
    """Interface: ``detect(image_bgr) -> list[FaceBox]`` (best first)."""
    name = 'base'

    def detect(self, image: np.ndarray) -> List[FaceBox]:
        raise NotImplementedError

    def config(self) -> dict:
        """What identifies this detector's output (for resume checks)."""
        return dict(name=self.name)

    def __repr__(self):
        args = ', '.join(f'{k}={v!r}' for k, v in self.config().items())
        return f'{self.__class__.__name__}({args})'


class NoFaceDetector(BaseFaceDetector):
    """Never detects a face (for already face-cropped datasets)."""
    name = 'none'

    def detect(self, image):
        return []


class HaarFaceDetector(BaseFaceDetector):
    """OpenCV Haar cascade (``haarcascade_frontalface_default.xml``).

    Args:
        cascade (str): File name inside ``cv2.data.haarcascades`` or a path.
        scale_factor (float): Pyramid step. Defaults to 1.1.
        min_neighbors (int): Overlapping hits needed. Defaults to 5.
        min_size_ratio (float): Smallest face side as a share of the shorter
            image side. Defaults to 0.08.
        max_side (int): Frames are shrunk to this longer side before
            detection (speed). Defaults to 640.
    """
    name = 'haar'

    def __init__(self,
                 cascade: str = 'haarcascade_frontalface_default.xml',
                 scale_factor: float = 1.1,
                 min_neighbors: int = 5,
                 min_size_ratio: float = 0.08,
                 max_side: int = 640):
        import cv2
        path = cascade
        if not osp.isfile(path):
            base = getattr(getattr(cv2, 'data', None), 'haarcascades', None)
            path = osp.join(base, cascade) if base else cascade
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'Haar cascade {cascade!r} not found (looked in {path}). '
                'opencv-python>=5 no longer ships the cascade files: install '
                '"opencv-python<5" (or opencv-python-headless<5), or use '
                '--detector mtcnn (' + MTCNN_INSTALL + ').')
        self._clf = cv2.CascadeClassifier(path)
        if self._clf.empty():
            raise RuntimeError(f'could not load Haar cascade {path}')
        self.cascade = osp.basename(path)
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_ratio = min_size_ratio
        self.max_side = max_side

    def config(self):
        return dict(name=self.name, cascade=self.cascade,
                    scale_factor=self.scale_factor,
                    min_neighbors=self.min_neighbors,
                    min_size_ratio=self.min_size_ratio,
                    max_side=self.max_side)

    def detect(self, image):
        import cv2
        small, f = _downscale(image, self.max_side)
        gray = small if small.ndim == 2 else cv2.cvtColor(
            small, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        side = max(12, int(min(gray.shape[:2]) * self.min_size_ratio))
        rects, _, weights = self._clf.detectMultiScale3(
            gray, scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors, minSize=(side, side),
            outputRejectLevels=True)
        boxes = []
        for (x, y, w, h), s in zip(np.asarray(rects).reshape(-1, 4),
                                   np.asarray(weights).reshape(-1)):
            boxes.append(FaceBox(x / f, y / f, (x + w) / f, (y + h) / f,
                                 float(s)))
        # Haar weights are not comparable across faces of different size:
        # prefer the largest face (the presented face in FAS captures).
        return sorted(boxes, key=lambda b: (-b.area, -b.score, b.x1, b.y1))


def mtcnn_available() -> bool:
    """Whether ``facenet_pytorch`` can be imported."""
    try:
        importlib.import_module('facenet_pytorch')
    except Exception:  # ImportError, or a broken install
        return False
    return True


class MTCNNFaceDetector(BaseFaceDetector):
    """MTCNN (``facenet_pytorch.MTCNN``), imported on first use.

    Args:
        device (str): Torch device. Defaults to ``'cpu'``.
        min_face_size (int): In pixels of the (shrunk) frame. Defaults to 40.
        thresholds (tuple): The three stage thresholds.
            Defaults to ``(0.6, 0.7, 0.7)`` (facenet-pytorch's).
        score_thr (float): Boxes below this final score are dropped.
            Defaults to 0.9.
        max_side (int): Frames are shrunk to this longer side first.
            Defaults to 960.
    """
    name = 'mtcnn'

    def __init__(self,
                 device: str = 'cpu',
                 min_face_size: int = 40,
                 thresholds: Sequence[float] = (0.6, 0.7, 0.7),
                 score_thr: float = 0.9,
                 max_side: int = 960):
        try:
            module = importlib.import_module('facenet_pytorch')
        except ImportError as e:
            raise ImportError(
                'The MTCNN face detector needs facenet-pytorch, which is not '
                f'installed ({e}). Install it without its (outdated) '
                f'dependencies: {MTCNN_INSTALL} ; or use --detector haar.'
            ) from e
        self._mtcnn = module.MTCNN(
            keep_all=True, device=device, min_face_size=min_face_size,
            thresholds=list(thresholds), post_process=False,
            select_largest=False)
        self.device = str(device)
        self.min_face_size = min_face_size
        self.thresholds = tuple(float(t) for t in thresholds)
        self.score_thr = score_thr
        self.max_side = max_side

    def config(self):
        return dict(name=self.name, min_face_size=self.min_face_size,
                    thresholds=list(self.thresholds),
                    score_thr=self.score_thr, max_side=self.max_side)

    def detect(self, image):
        small, f = _downscale(image, self.max_side)
        rgb = np.ascontiguousarray(small[..., ::-1]) if small.ndim == 3 \
            else np.repeat(small[..., None], 3, axis=2)
        boxes, probs = self._mtcnn.detect(rgb)
        out = []
        if boxes is None:
            return out
        for b, p in zip(boxes, probs):
            if p is None or float(p) < self.score_thr:
                continue
            out.append(FaceBox(b[0] / f, b[1] / f, b[2] / f, b[3] / f,
                               float(p)))
        return _sort_boxes(out)


class MMDetFaceDetector(BaseFaceDetector):
    """Adapter for an mmdet face detector (imported lazily).

    Any mmdet 3.x config whose classes include a face class works, e.g. a
    RetinaFace / YOLOX face model trained on WIDER FACE.

    Args:
        config (str): mmdet config file.
        checkpoint (str): Local checkpoint file.
        device (str): Defaults to ``'cpu'``.
        score_thr (float): Defaults to 0.5.
        face_label (int, optional): Keep only this class index
            (None keeps every class). Defaults to 0.
    """
    name = 'mmdet'

    def __init__(self,
                 config: str,
                 checkpoint: str,
                 device: str = 'cpu',
                 score_thr: float = 0.5,
                 face_label: Optional[int] = 0):
        if not config or not checkpoint:
            raise ValueError('the mmdet detector needs --mmdet-config and '
                             '--mmdet-checkpoint (a local file)')
        try:
            apis = importlib.import_module('mmdet.apis')
        except Exception as e:  # ImportError, or mmcv._ext missing
            raise ImportError(
                'The mmdet face detector needs mmdet with a full mmcv '
                f'(compiled ops); importing mmdet.apis failed: {e}. Install: '
                f'{MMDET_INSTALL}; or use --detector mtcnn / haar.') from e
        self._apis = apis
        self._model = apis.init_detector(config, checkpoint, device=device)
        self.config_file = config
        self.checkpoint = checkpoint
        self.score_thr = score_thr
        self.face_label = face_label

    def config(self):
        return dict(name=self.name, config=osp.basename(self.config_file),
                    checkpoint=osp.basename(self.checkpoint),
                    score_thr=self.score_thr, face_label=self.face_label)

    def detect(self, image):
        result = self._apis.inference_detector(self._model, image)
        inst = result.pred_instances
        bboxes = inst.bboxes.detach().cpu().numpy().reshape(-1, 4)
        scores = inst.scores.detach().cpu().numpy().reshape(-1)
        labels = inst.labels.detach().cpu().numpy().reshape(-1)
        out = []
        for b, s, lab in zip(bboxes, scores, labels):
            if s < self.score_thr:
                continue
            if self.face_label is not None and int(lab) != self.face_label:
                continue
            out.append(FaceBox(*[float(v) for v in b], float(s)))
        return _sort_boxes(out)


DETECTORS = ('auto', 'mtcnn', 'haar', 'mmdet', 'none')


def build_detector(spec='auto', **kwargs) -> BaseFaceDetector:
    """Build a detector from a name (see :data:`DETECTORS`), a dict
    ``dict(type=name, **kwargs)`` or return a ready detector object.

    ``'auto'`` picks MTCNN when facenet-pytorch imports, else Haar.
    """
    if isinstance(spec, dict):
        spec = dict(spec)
        kwargs = {**spec, **kwargs}
        spec = kwargs.pop('type')
    if not isinstance(spec, str):
        if not hasattr(spec, 'detect'):
            raise TypeError(f'not a face detector: {spec!r}')
        return spec
    name = spec.lower()
    if name == 'auto':
        name = 'mtcnn' if mtcnn_available() else 'haar'
    if name == 'mtcnn':
        keys = ('device', 'min_face_size', 'thresholds', 'score_thr',
                'max_side')
        return MTCNNFaceDetector(**{k: v for k, v in kwargs.items()
                                    if k in keys})
    if name == 'haar':
        keys = ('cascade', 'scale_factor', 'min_neighbors', 'min_size_ratio',
                'max_side')
        return HaarFaceDetector(**{k: v for k, v in kwargs.items()
                                   if k in keys})
    if name == 'mmdet':
        keys = ('config', 'checkpoint', 'device', 'score_thr', 'face_label')
        return MMDetFaceDetector(**{k: v for k, v in kwargs.items()
                                    if k in keys})
    if name == 'none':
        return NoFaceDetector()
    raise ValueError(f'unknown face detector {spec!r}; choose one of '
                     f'{list(DETECTORS)}')
