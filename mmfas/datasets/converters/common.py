"""Shared machinery of the dataset converters.

A dataset module turns a raw tree into a list of :class:`VideoJob` (one per
video / image sequence / image, with its labels already derived); this module
samples frames, detects and crops faces, writes the images, and runs the jobs
in parallel with resume and a summary.

Output layout (paths in the annotations are relative to ``out_root``)::

    <out_root>/<DOMAIN>/frames/<video_name>/<frame:04d>.jpg        (RGB)
    <out_root>/<DOMAIN>/frames/<video_name>/<frame:04d>_depth.jpg  (Depth)
    <out_root>/<DOMAIN>/frames/<video_name>/<frame:04d>_ir.jpg     (IR/NIR)
    <out_root>/<DOMAIN>/frames/<video_name>/.complete.json  (resume marker)
    <out_root>/<DOMAIN>/annotations/all.jsonl
    <out_root>/<DOMAIN>/summary.json

Crop (``crop``):

* ``'face'`` (default for videos): a square centred on the face box, side =
  ``scale`` x the longer box side (default 1.3), padded with black where it
  leaves the frame, resized to ``size`` (default 256). ``bbox`` is the face box
  in pixels of the written crop.
* ``'full'`` (default for the already face-cropped multi-modal sets): the whole
  image, padded to a centred square, resized to ``size``; no detection.
* ``'none'``: the full frame as decoded, unresized; ``bbox`` in frame pixels.

No-face policy (``fallbacks``, tried in order for a frame where the detector
finds nothing; every use is counted in the summary):

* ``provided``: the dataset's own box for that frame (Replay-Attack
  face-location files, OULU-NPU eye positions, CelebA-Spoof ``_BB.txt``);
* ``neighbour``: the detector on frames ``i-1, i+1, i-2, ...`` up to
  ``neighbour_window`` away; the first hit's box is used on frame ``i``;
* ``video``: the box of the nearest sampled frame of the same video that has
  one;
* ``centre``: the largest centred square of the frame (no ``bbox`` written);
* ``skip``: the frame is dropped.
"""
import hashlib
import json
import logging
import multiprocessing as mp
import os
import os.path as osp
import re
import shutil
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mmfas.datasets.annotation import (frame_filename, load_annotations,
                                       make_record, write_annotations)
from .face_detectors import (DETECTORS, BaseFaceDetector, FaceBox,
                             build_detector, mtcnn_available)

logger = logging.getLogger('mmfas.converters')

CONVERTER_VERSION = 1
MARKER = '.complete.json'
FALLBACKS = ('provided', 'neighbour', 'video', 'centre', 'skip')
DEFAULT_FALLBACKS = ('provided', 'neighbour', 'video', 'centre')
CROPS = ('face', 'full', 'none')
SAMPLINGS = ('flip', 'even', 'all')
FLIP_OFFSET = 6


# --------------------------------------------------------------------------
# options
# --------------------------------------------------------------------------
@dataclass
class ConvertOptions:
    """Everything that decides what a conversion writes.

    Args:
        sampling (str): ``'flip'`` (frames ``6`` and ``6 + N // 2``, FLIP's
            recipe), ``'even'`` (``num_frames`` evenly spaced, ends included)
            or ``'all'``.
        num_frames (int): For ``'even'``.
        size (int): Side of the written square images (``crop`` face/full).
        scale (float): Crop side / longer face-box side.
        crop (str): ``'face'``, ``'full'`` or ``'none'`` (see module doc).
        fallbacks (tuple[str]): No-face policy, in order.
        neighbour_window (int): How far ``neighbour`` looks.
        jpeg_quality (int): JPEG quality of the written images.
        detector: Name in :data:`DETECTORS`, a dict with ``type``, or an
            object with ``detect()``.
        detector_kwargs (dict): Extra arguments for :func:`build_detector`.
        orient_frames (int): How many frames vote on the orientation of a
            ``rotate='auto'`` video. Checked per video on resume (not part
            of :meth:`fingerprint`, which every video shares).
    """
    sampling: str = 'flip'
    num_frames: int = 2
    size: int = 256
    scale: float = 1.3
    crop: str = 'face'
    fallbacks: Tuple[str, ...] = DEFAULT_FALLBACKS
    neighbour_window: int = 3
    jpeg_quality: int = 95
    detector: Any = 'auto'
    detector_kwargs: Dict[str, Any] = field(default_factory=dict)
    orient_frames: int = 10

    def __post_init__(self):
        if self.sampling not in SAMPLINGS:
            raise ValueError(f'sampling must be one of {SAMPLINGS}, got '
                             f'{self.sampling!r}')
        if self.crop not in CROPS:
            raise ValueError(f'crop must be one of {CROPS}, got '
                             f'{self.crop!r}')
        self.fallbacks = tuple(self.fallbacks)
        bad = [f for f in self.fallbacks if f not in FALLBACKS]
        if bad:
            raise ValueError(f'unknown no-face fallback(s) {bad}; choose from '
                             f'{list(FALLBACKS)}')
        if self.sampling == 'even' and self.num_frames < 1:
            raise ValueError('num_frames must be >= 1')
        if self.orient_frames < 1:
            raise ValueError(f'orient_frames must be >= 1, got '
                             f'{self.orient_frames}')
        if self.size < 8 or self.scale <= 0:
            raise ValueError(f'bad size/scale: {self.size}, {self.scale}')

    def resolved_detector_spec(self):
        """The detector as a plain spec (``'auto'`` resolved), or the object
        itself when one was given."""
        if self.crop == 'full':
            return 'none'
        det = self.detector
        if isinstance(det, str):
            name = det.lower()
            if name not in DETECTORS:
                raise ValueError(f'unknown detector {det!r}; choose one of '
                                 f'{list(DETECTORS)}')
            if name == 'auto':
                name = 'mtcnn' if mtcnn_available() else 'haar'
            return dict(type=name, **self.detector_kwargs)
        if isinstance(det, dict):
            spec = {**det, **self.detector_kwargs}
            if str(spec.get('type', '')).lower() == 'auto':
                spec['type'] = 'mtcnn' if mtcnn_available() else 'haar'
            return spec
        return det

    def fingerprint(self) -> dict:
        """What must match for a finished video to be reused."""
        spec = self.resolved_detector_spec()
        if isinstance(spec, dict):
            det = {k: (v if isinstance(v, (int, float, str, bool, list,
                                           type(None))) else repr(v))
                   for k, v in sorted(spec.items()) if k != 'device'}
        else:
            det = spec.config() if hasattr(spec, 'config') else repr(spec)
        fp = dict(version=CONVERTER_VERSION, sampling=self.sampling,
                  size=self.size, scale=self.scale, crop=self.crop,
                  fallbacks=list(self.fallbacks),
                  neighbour_window=self.neighbour_window,
                  jpeg_quality=self.jpeg_quality, detector=det)
        if self.sampling == 'even':
            fp['num_frames'] = self.num_frames
        return fp


# --------------------------------------------------------------------------
# frame sampling and sources
# --------------------------------------------------------------------------
def sample_indices(total: int, sampling: str = 'flip',
                   num_frames: int = 2) -> List[int]:
    """Positions (0-based) of the frames to keep out of ``total``.

    ``'flip'``: ``[6, 6 + total // 2]`` (clipped to the last frame,
    de-duplicated); ``'even'``: ``num_frames`` evenly spaced positions from
    the first to the last frame; ``'all'``: every frame.
    """
    if total <= 0:
        return []
    if sampling == 'all':
        return list(range(total))
    if sampling == 'flip':
        idx = [FLIP_OFFSET, FLIP_OFFSET + total // 2]
    elif sampling == 'even':
        if num_frames >= total:
            return list(range(total))
        if num_frames == 1:
            idx = [total // 2]
        else:
            idx = np.round(np.linspace(0, total - 1, num_frames)).astype(int)
    else:
        raise ValueError(f'unknown sampling {sampling!r}')
    return sorted({min(int(i), total - 1) for i in idx})


class VideoSource:
    """Frames of a video file (.avi, .mov, .mp4, ...) read with OpenCV.

    Frames are decoded sequentially (``grab``) rather than by seeking, so the
    same positions give the same pixels on every run and every codec.
    """

    def __init__(self, path: str):
        self.path = path
        self._count = None
        #: frame count the container header gives (None: not read yet / the
        #: header has none and the frames were counted by decoding)
        self.header_count: Optional[int] = None

    def _open(self):
        import cv2
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise IOError(f'OpenCV cannot open video {self.path}')
        return cap

    def count(self) -> int:
        if self._count is None:
            import cv2
            cap = self._open()
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            if n > 0:
                self.header_count = n
            else:  # no header count: decode to count
                n = 0
                while cap.grab():
                    n += 1
            cap.release()
            self._count = n
        return self._count

    def read(self, positions: Sequence[int]) -> Dict[int, Dict[str, Any]]:
        wanted = sorted(set(int(p) for p in positions if p >= 0))
        out = {}
        if not wanted:
            return out
        if self._count is None:
            self.count()
        cap = self._open()
        last, pos, want = wanted[-1], 0, set(wanted)
        while pos <= last:
            if not cap.grab():
                # The header over-counted: remember the real length.
                self._count = min(self._count, pos)
                break
            if pos in want:
                ok, img = cap.retrieve()
                if ok and img is not None:
                    out[pos] = {'rgb': img}
            pos += 1
        cap.release()
        return out

    def truncation(self) -> Optional[Tuple[int, int]]:
        """``(header frames, decodable frames)`` when decoding ran out of
        frames well before the count in the header (a truncated or damaged
        file), else None. An over-count of one frame or 2 % is common in
        valid files and not reported. Only shortfalls met while reading are
        known (the video is not decoded to its end just to check)."""
        n, hdr = self._count, self.header_count
        if n is None or hdr is None or n >= hdr:
            return None
        if hdr - n <= max(1, int(0.02 * hdr)):
            return None
        return hdr, n

    def frame_number(self, pos: int) -> int:
        return pos


_NUM_RE = re.compile(r'(\d+)(?!.*\d)')


def read_image(path: str):
    """Read an image as 3-channel uint8 BGR (16-bit data scaled down)."""
    import cv2
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise IOError(f'cannot read image {path}')
    return to_bgr_uint8(img)


def to_bgr_uint8(img: np.ndarray) -> np.ndarray:
    """Any 2-D / 3-D array to 3-channel uint8 (16-bit and float data are
    scaled by their maximum; alpha dropped)."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        f = img.astype(np.float64)
        mx = float(f.max()) if f.size else 0.0
        f = f * (255.0 / mx) if mx > 255 else f
        img = np.clip(np.round(f), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = np.ascontiguousarray(img[..., :3])
    return img


class ImageSequenceSource:
    """Frames given as image files, one dict ``{modality: path}`` per frame
    (a single image is a sequence of one).

    Args:
        frames (list[dict]): Per frame, modality -> path (``rgb``, ``depth``,
            ``ir``), in temporal order.
        numbers (list[int], optional): Frame numbers to write (default: the
            trailing number of the RGB / first file name when every frame has
            one, else the position).
    """

    def __init__(self, frames: Sequence[Dict[str, str]],
                 numbers: Optional[Sequence[int]] = None):
        self.frames = list(frames)
        if numbers is None:
            numbers = []
            for fr in self.frames:
                p = fr.get('rgb') or next(iter(fr.values()))
                m = _NUM_RE.search(osp.splitext(osp.basename(p))[0])
                numbers.append(int(m.group(1)) if m else None)
            if None in numbers or len(set(numbers)) != len(numbers):
                numbers = list(range(len(self.frames)))
        self.numbers = list(numbers)

    def count(self):
        return len(self.frames)

    def read(self, positions):
        out = {}
        for p in sorted(set(positions)):
            if 0 <= p < len(self.frames):
                out[p] = {m: read_image(path)
                          for m, path in self.frames[p].items()}
        return out

    def frame_number(self, pos):
        return self.numbers[pos]


def _import_string(name: str):
    module, _, attr = name.rpartition('.')
    import importlib
    return getattr(importlib.import_module(module), attr)


def open_source(spec: dict):
    """Build a frame source from a picklable spec:
    ``{'type': 'video', 'path': ...}``, ``{'type': 'images', 'frames': [...],
    'numbers': [...]}`` or ``{'type': 'class', 'cls': 'pkg.mod.Class',
    'kwargs': {...}}``."""
    kind = spec['type']
    if kind == 'video':
        return VideoSource(spec['path'])
    if kind == 'images':
        return ImageSequenceSource(spec['frames'], spec.get('numbers'))
    if kind == 'class':
        return _import_string(spec['cls'])(**spec.get('kwargs', {}))
    raise ValueError(f'unknown source type {kind!r}')


# --------------------------------------------------------------------------
# jobs
# --------------------------------------------------------------------------
@dataclass
class VideoJob:
    """One capture to convert.

    Args:
        name (str): Folder name under ``frames/`` (unique in the dataset).
        meta (dict): Record fields: ``label``, ``attack_type``, ``video_id``,
            ``subject_id``, ``domain``, ``split`` and any extra metadata.
        source (dict): Frame source spec (see :func:`open_source`).
        src_path (str): Raw path, for messages.
        provided_boxes (dict, optional): Frame position -> ``[x1, y1, x2,
            y2]`` from the dataset's own annotations.
        provided_ref_size (tuple, optional): ``(w, h)`` the provided boxes
            refer to when not the frame's own size (CelebA-Spoof's boxes are
            given on a 224 x 224 grid); they are rescaled to the frame.
        rotate: ``0``, ``180`` or ``'auto'``: the detector votes on up to
            ``ConvertOptions.orient_frames`` frames spread over the video
            (the sampled ones first), each frame voting for the orientation
            in which it alone shows a face; the majority decides (see
            :func:`decide_orientation`).
        rotate_prior: With ``rotate='auto'``: the orientation known for this
            video (MSU-MFSD's list of upside-down videos). It is used when
            the vote is undecided, and kept (with a warning) when the vote
            contradicts it. None: no prior; an undecided vote leaves the
            video as stored and is reported.
    """
    name: str
    meta: Dict[str, Any]
    source: Dict[str, Any]
    src_path: str = ''
    provided_boxes: Optional[Dict[int, List[float]]] = None
    provided_ref_size: Optional[Tuple[int, int]] = None
    rotate: Any = 0
    rotate_prior: Optional[int] = None


_SAFE_RE = re.compile(r'[^A-Za-z0-9_.+-]+')


def safe_name(*parts: str) -> str:
    """Join path parts into one file-system-safe folder name."""
    s = '_'.join(str(p) for p in parts if p not in (None, ''))
    s = _SAFE_RE.sub('_', s.replace('/', '_').replace('\\', '_'))
    return s.strip('_.') or 'video'


def modality_filename(frame: int, modality: str, ext: str = '.jpg') -> str:
    """``0006.jpg`` for RGB, ``0006_depth.jpg`` / ``0006_ir.jpg`` else (the
    naming of :func:`mmfas.datasets.annotation.frame_filename`)."""
    return frame_filename(frame, modality, ext)


# --------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------
def rotate180(img):
    return np.ascontiguousarray(img[::-1, ::-1])


def rotate_box180(box, w, h):
    x1, y1, x2, y2 = box[:4]
    return [w - x2, h - y2, w - x1, h - y1]


def crop_region(box, scale: float) -> Tuple[float, float, float]:
    """Square ``(cx, cy, side)`` around a face box."""
    x1, y1, x2, y2 = [float(v) for v in box[:4]]
    side = max(x2 - x1, y2 - y1) * scale
    return (x1 + x2) / 2.0, (y1 + y2) / 2.0, max(side, 2.0)


def full_region(w: int, h: int) -> Tuple[float, float, float]:
    """The whole image padded to a centred square."""
    return w / 2.0, h / 2.0, float(max(w, h))


def centre_region(w: int, h: int) -> Tuple[float, float, float]:
    """The largest centred square inside the image."""
    return w / 2.0, h / 2.0, float(min(w, h))


def warp_square(img, region, size: int, ref_wh=None):
    """Crop the square ``region`` (in the reference image's pixels) out of
    ``img`` and resize it to ``size``; outside pixels are black.

    ``ref_wh`` is the size the region was computed on (for modalities with a
    different resolution than the RGB frame)."""
    import cv2
    cx, cy, side = region
    h, w = img.shape[:2]
    if ref_wh is not None and (ref_wh[0] != w or ref_wh[1] != h):
        sx, sy = w / float(ref_wh[0]), h / float(ref_wh[1])
        cx, cy, side = cx * sx, cy * sy, side * (sx + sy) / 2.0
    s = size / side
    # maps pixel centres of the region onto pixel centres of the output
    m = np.array([[s, 0, size / 2.0 - cx * s - 0.5 + 0.5 * s],
                  [0, s, size / 2.0 - cy * s - 0.5 + 0.5 * s]],
                 dtype=np.float64)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(img, m, (size, size), flags=interp,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def box_in_region(box, region, size: int) -> Optional[List[float]]:
    """A frame box mapped into the written square crop (clipped)."""
    cx, cy, side = region
    s = size / side
    x0, y0 = cx - side / 2.0, cy - side / 2.0
    b = [(box[0] - x0) * s, (box[1] - y0) * s, (box[2] - x0) * s,
         (box[3] - y0) * s]
    b = [min(max(v, 0.0), float(size)) for v in b]
    if b[2] - b[0] < 1 or b[3] - b[1] < 1:
        return None
    return [round(v, 2) for v in b]


def eyes_to_box(left, right) -> List[float]:
    """A face box from two eye centres (heuristic used for OULU-NPU's eye
    positions): width 2.2 x the eye distance, height 2.6 x, the eyes at 38 %
    of the height."""
    lx, ly = float(left[0]), float(left[1])
    rx, ry = float(right[0]), float(right[1])
    d = max(float(np.hypot(rx - lx, ry - ly)), 1.0)
    cx, cy = (lx + rx) / 2.0, (ly + ry) / 2.0
    w, h = 2.2 * d, 2.6 * d
    y1 = cy - 0.38 * h
    return [cx - w / 2.0, y1, cx + w / 2.0, y1 + h]


# --------------------------------------------------------------------------
# one job
# --------------------------------------------------------------------------
_WORKER: Dict[str, Any] = {}


def _init_worker(detector_spec, opts: ConvertOptions, out_root: str,
                 domain: str):
    import cv2
    cv2.setNumThreads(1)
    if 'torch' in sys.modules:
        try:
            sys.modules['torch'].set_num_threads(1)
        except Exception:  # pragma: no cover
            pass
    _WORKER.clear()
    _WORKER.update(detector=build_detector(detector_spec), opts=opts,
                   out_root=out_root, domain=domain)


def _best(detector, img) -> Optional[FaceBox]:
    if detector is None or img is None:
        return None
    boxes = detector.detect(img)
    return boxes[0] if boxes else None


def _detect_rgb(detector, frame):
    return _best(detector, frame.get('rgb'))


def _apply_rotation(frames, rot):
    if rot == 180:
        for fr in frames.values():
            for m in list(fr):
                fr[m] = rotate180(fr[m])


def decide_orientation(src, total: int, detector, frames: dict,
                       pos: Sequence[int], n_frames: int = 10,
                       prior: Optional[int] = None):
    """Whether a video is stored upside down, by a vote of the detector.

    Up to ``n_frames`` frames vote: the sampled ones (``pos``, already
    decoded in ``frames``) first, then frames evenly spaced over the video.
    A frame votes *upright* when the detector finds a face in it and not in
    its 180 degree rotation, *upside down* in the opposite case, and not at
    all when it finds a face in both or neither. Voting stops early once one
    side has 3 votes and the other none.

    The majority decides. A tie (most often: no face either way, as with
    the Haar cascade on dark or blurred frames) is *undecided*: ``prior``
    (a known orientation, e.g. MSU-MFSD's list) is used when given, else the
    video is left as stored (rotation 0). A decided vote that contradicts
    ``prior`` keeps ``prior`` and is flagged as a conflict.

    Returns:
        tuple: ``(rotation, info, upright_boxes)``: ``info`` = ``dict(
        rotation, decided_by ('detector' | 'prior' | 'undecided'), upright,
        upside_down, frames, prior, conflict)``; ``upright_boxes`` maps the
        sampled positions to their upright detection (reusable when the
        rotation is 0).
    """
    up = down = used = 0
    upright: Dict[int, Optional[FaceBox]] = {}
    if detector is not None:
        order = [p for p in pos if p in frames]
        extra = [q for q in sample_indices(total, 'even', n_frames)
                 if q not in frames]
        order += extra
        order = order[:max(n_frames, len(pos))]
        more = src.read([q for q in order if q not in frames]) \
            if any(q not in frames for q in order) else {}
        for q in order:
            fr = frames.get(q) or more.get(q)
            img = fr.get('rgb') if fr else None
            if img is None:
                continue
            used += 1
            b_up = _best(detector, img)
            if q in frames:
                upright[q] = b_up
            b_down = _best(detector, rotate180(img))
            if b_up is not None and b_down is None:
                up += 1
            elif b_down is not None and b_up is None:
                down += 1
            if max(up, down) >= 3 and min(up, down) == 0:
                break
    vote = 0 if up > down else 180 if down > up else None
    conflict = vote is not None and prior is not None and vote != prior
    if vote is not None and not conflict:
        rot, how = vote, 'detector'
    elif prior is not None:
        rot, how = int(prior), 'prior'
    else:
        rot, how = 0, 'undecided'
    info = dict(rotation=rot, decided_by=how, upright=up, upside_down=down,
                frames=used, prior=prior, conflict=conflict)
    return rot, info, upright


def process_job(job: VideoJob, detector: BaseFaceDetector,
                opts: ConvertOptions, out_root: str, domain: str) -> dict:
    """Convert one job; returns ``dict(status, name, records, stats, ...)``.

    Never raises for a bad video: the error is returned (``status='failed'``).
    """
    res = dict(name=job.name, src_path=job.src_path, status='failed',
               records=[], stats={}, no_face=[], error=None, rotated=False,
               orientation=None, truncated=None)
    vdir = osp.join(out_root, domain, 'frames', job.name)
    src = None
    try:
        src = open_source(job.source)
        total = src.count()
        if total <= 0:
            raise IOError('no frames')
        pos = sample_indices(total, opts.sampling, opts.num_frames)
        frames = src.read(pos)
        if len(frames) < len(pos):
            # header count was wrong: resample on the real length
            total = src.count()
            pos = sample_indices(total, opts.sampling, opts.num_frames)
            frames = src.read(pos)
        pos = [p for p in pos if p in frames]
        if not pos:
            raise IOError('no decodable frame')
        use_detector = (opts.crop != 'full' and detector is not None
                        and getattr(detector, 'name', '') != 'none')
        det = detector if use_detector else None
        first = frames[pos[0]]
        ref = first.get('rgb', next(iter(first.values())))
        H, W = ref.shape[:2]

        # orientation
        rot = job.rotate
        boxes: Dict[int, Optional[FaceBox]] = {}
        if rot == 'auto':
            rot, res['orientation'], upright = decide_orientation(
                src, total, det, frames, pos, opts.orient_frames,
                job.rotate_prior)
            if rot == 0:  # reuse the upright detections of the vote
                boxes.update(upright)
        rot = int(rot or 0)
        if rot not in (0, 180):
            raise ValueError(f'rotate must be 0, 180 or "auto", got {rot}')
        _apply_rotation(frames, rot)
        if rot == 180:
            boxes = {}
            res['rotated'] = True

        def provided(p):
            if not job.provided_boxes:
                return None
            b = job.provided_boxes.get(p)
            if b is None:
                b = job.provided_boxes.get(str(p))
            if b is None:
                return None
            b = [float(v) for v in b[:4]]
            if job.provided_ref_size:
                rw, rh = job.provided_ref_size
                b = [b[0] * W / rw, b[1] * H / rh, b[2] * W / rw,
                     b[3] * H / rh]
            if b[2] - b[0] < 2 or b[3] - b[1] < 2:
                return None
            if rot == 180:
                b = rotate_box180(b, W, H)
            return FaceBox(*b, 1.0)

        # 1) the detector on every sampled frame
        source_of: Dict[int, str] = {}
        if opts.crop != 'full':
            for p in pos:
                if p not in boxes:
                    boxes[p] = _detect_rgb(det, frames[p]) if det else None
                if boxes[p] is not None:
                    source_of[p] = 'detector'
        # 2) fallbacks for frames without a face
        missing = [p for p in pos if p not in source_of] \
            if opts.crop != 'full' else []
        detected = {p: boxes[p] for p in pos if source_of.get(p) == 'detector'}
        near_cache: Dict[int, Optional[FaceBox]] = {}

        def neighbours(p):
            near = []
            for k in range(1, opts.neighbour_window + 1):
                near += [p - k, p + k]  # nearest first, earlier first
            return [q for q in near if 0 <= q < total]

        if missing and det is not None and opts.neighbour_window > 0 \
                and 'neighbour' in opts.fallbacks:
            # one decoding pass for every neighbour not sampled already
            want = sorted({q for p in missing for q in neighbours(p)
                           if q not in frames})
            extra = src.read(want) if want else {}
            _apply_rotation(extra, rot)
            for q, fr in extra.items():
                near_cache[q] = _detect_rgb(det, fr)
            for q in pos:  # sampled frames: their detector result
                near_cache[q] = detected.get(q)
        for p in missing:
            for fb in opts.fallbacks:
                if fb == 'provided':
                    b = provided(p)
                    if b is not None:
                        boxes[p], source_of[p] = b, 'provided'
                        break
                elif fb == 'neighbour' and near_cache:
                    hit = next((near_cache[q] for q in neighbours(p)
                                if near_cache.get(q) is not None), None)
                    if hit is not None:
                        boxes[p], source_of[p] = hit, 'neighbour'
                        break
                elif fb == 'video':
                    cands = [q for q in pos if source_of.get(q) in (
                        'detector', 'provided', 'neighbour')]
                    if cands:
                        q = min(cands, key=lambda q: (abs(q - p), q))
                        boxes[p], source_of[p] = boxes[q], 'video'
                        break
                elif fb == 'centre':
                    boxes[p], source_of[p] = None, 'centre'
                    break
                elif fb == 'skip':
                    source_of[p] = 'skip'
                    break
            else:
                source_of[p] = 'centre'
                boxes[p] = None
            res['no_face'].append(dict(frame=src.frame_number(p),
                                       resolved=source_of[p]))

        # 3) write
        if osp.isdir(vdir):
            shutil.rmtree(vdir)
        os.makedirs(vdir, exist_ok=True)
        import cv2
        params = [cv2.IMWRITE_JPEG_QUALITY, int(opts.jpeg_quality)]
        records, geos = [], []
        for p in pos:
            how = source_of.get(p, 'full')
            if how == 'skip':
                continue
            fr = frames[p]
            ref = fr.get('rgb', next(iter(fr.values())))
            h, w = ref.shape[:2]
            box = boxes.get(p)
            if opts.crop == 'full':
                region = full_region(w, h)
            elif opts.crop == 'face':
                region = crop_region(box, opts.scale) if box is not None \
                    else centre_region(w, h)
            else:
                region = None
            num = src.frame_number(p)
            paths = {}
            for m in ('rgb', 'depth', 'ir'):
                if m not in fr:
                    continue
                img = fr[m]
                if region is not None:
                    img = warp_square(img, region, opts.size, ref_wh=(w, h))
                fname = modality_filename(num, m)
                if not cv2.imwrite(osp.join(vdir, fname), img, params):
                    raise IOError(f'cannot write {osp.join(vdir, fname)}')
                paths[m] = f'{domain}/frames/{job.name}/{fname}'
            bbox = None
            if box is not None and how != 'centre':
                if region is None:
                    bbox = box.as_list()
                else:
                    bbox = box_in_region(box, region, opts.size)
            geo = dict(paths, frame=int(num), bbox=bbox, face_source=how,
                       frame_total=int(total))
            if rot:
                geo['rotation'] = rot
            geos.append(geo)
            records.append(build_record(job.meta, geo))
        if not records:
            raise IOError('every sampled frame was skipped (no face)')
        stats = dict(frames=len(records),
                     faces=sum(1 for p in pos
                               if source_of.get(p) == 'detector'))
        for p in pos:
            s = source_of.get(p)
            if s not in (None, 'detector'):
                stats[s] = stats.get(s, 0) + 1
        res.update(status='done', records=records, stats=stats,
                   truncated=_truncation(src))
        _write_json(osp.join(vdir, MARKER),
                    dict(fingerprint=_fp_hash(opts), name=job.name,
                         frames=geos, stats=stats, no_face=res['no_face'],
                         rotated=res['rotated'], rotation=rot,
                         orientation=res['orientation'],
                         orient_key=_orient_key(job, opts),
                         truncated=res['truncated']))
    except Exception as e:  # reported in the summary, never silent
        res['error'] = f'{type(e).__name__}: {e}'
        res['truncated'] = _truncation(src)
        if osp.isdir(vdir):
            shutil.rmtree(vdir, ignore_errors=True)
    return res


def _truncation(src) -> Optional[dict]:
    fn = getattr(src, 'truncation', None) if src is not None else None
    t = fn() if callable(fn) else None
    return None if t is None else dict(header_frames=int(t[0]),
                                       decodable_frames=int(t[1]))


def _orient_key(job: VideoJob, opts: ConvertOptions):
    """What decided a video's orientation: a finished video is redone when
    this changes (e.g. ``--rotate-list`` or the built-in list edited)."""
    if job.rotate == 'auto':
        return ['auto', opts.orient_frames, job.rotate_prior]
    return [int(job.rotate or 0)]


def _worker_run(job: VideoJob) -> dict:
    w = _WORKER
    return process_job(job, w['detector'], w['opts'], w['out_root'],
                       w['domain'])


# --------------------------------------------------------------------------
# resume
# --------------------------------------------------------------------------
def _write_json(path: str, obj) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=1, sort_keys=False)
    os.replace(tmp, path)


def _fp_hash(opts: ConvertOptions) -> str:
    s = json.dumps(opts.fingerprint(), sort_keys=True)
    return hashlib.sha1(s.encode()).hexdigest()[:16]


def build_record(meta: dict, geo: dict) -> dict:
    """A record from a job's metadata and one written frame's geometry
    (paths, frame, bbox, face_source, frame_total, rotation); the same call
    builds fresh and resumed records, so both come out identical."""
    geo = dict(geo)
    paths = {m: geo.pop(m) for m in ('rgb', 'depth', 'ir') if m in geo}
    frame, bbox = geo.pop('frame'), geo.pop('bbox', None)
    extra = dict(meta)
    extra.update(geo)
    return make_record(frame=frame, bbox=bbox, **paths, **extra)


def load_complete(out_root: str, domain: str, job: VideoJob,
                  fp: str, opts: Optional[ConvertOptions] = None
                  ) -> Optional[dict]:
    """The finished result of ``job`` when its marker matches ``fp`` and
    every image is on disk; else None. The records are rebuilt from the job's
    current metadata, so a changed label list (e.g. OULU protocol files added
    later) updates ``all.jsonl`` without decoding the video again."""
    opts = opts or ConvertOptions()
    marker = osp.join(out_root, domain, 'frames', job.name, MARKER)
    if not osp.isfile(marker):
        return None
    try:
        with open(marker, encoding='utf-8') as f:
            done = json.load(f)
    except (OSError, ValueError):
        return None
    if done.get('fingerprint') != fp or not done.get('frames'):
        return None
    key = done.get('orient_key')
    if key is None:  # a marker of an earlier version: no orientation vote
        if job.rotate == 'auto' or bool(done.get('rotated')) != (
                job.rotate == 180):
            return None
    elif key != _orient_key(job, opts):
        return None  # orientation decided another way
    for geo in done['frames']:
        for m in ('rgb', 'depth', 'ir'):
            if m in geo and not osp.isfile(osp.join(out_root, geo[m])):
                return None
    meta = json.loads(json.dumps(job.meta))
    try:
        records = [build_record(meta, g) for g in done['frames']]
    except Exception:  # a marker from another version: redo the video
        return None
    return dict(name=job.name, src_path=job.src_path, status='skipped',
                records=records, stats=done.get('stats', {}),
                no_face=done.get('no_face', []), error=None,
                rotated=done.get('rotated', False),
                orientation=done.get('orientation'),
                truncated=done.get('truncated'))


# --------------------------------------------------------------------------
# runner
# --------------------------------------------------------------------------
def check_dirs(src_root: str, out_root: str, domain: str) -> None:
    """Refuse an output inside the source tree (we never write there), and a
    source inside the folder the converter rewrites."""
    src = osp.realpath(src_root)
    out = osp.realpath(out_root)
    if not osp.isdir(src):
        raise FileNotFoundError(f'source folder not found: {src_root}')

    def inside(a, b):
        return a == b or osp.commonpath([a, b]) == b

    if inside(out, src):
        raise ValueError(
            f'refusing to write inside the source tree: output {out_root} '
            f'is inside source {src_root}; choose an output folder outside '
            'the raw dataset')
    if inside(src, osp.join(out, domain)):
        raise ValueError(f'source {src_root} is inside the output folder '
                         f'{osp.join(out_root, domain)} that the converter '
                         'rewrites')


def _progress(iterable, total, desc, enabled):
    if not enabled:
        return iterable
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, total=total, desc=desc, unit='video',
                dynamic_ncols=True)


def run_conversion(jobs: Sequence[VideoJob],
                   src_root: str,
                   out_root: str,
                   domain: str,
                   opts: Optional[ConvertOptions] = None,
                   workers: int = 1,
                   force: bool = False,
                   progress: bool = True,
                   start_method: Optional[str] = None,
                   extra_summary: Optional[dict] = None,
                   limit: Optional[int] = None,
                   allow_shrink: bool = False) -> dict:
    """Convert ``jobs`` into ``<out_root>/<domain>``; returns the summary.

    Finished videos whose marker matches the options are reused (resume);
    ``force`` redoes everything. ``all.jsonl`` is written in job-name order,
    so a re-run writes an identical file. The summary (counts, no-face
    frames, failures with paths, orientation, truncated videos, warnings) is
    also written to ``summary.json``.

    ``limit``: convert (or resume) only the first ``limit`` jobs by name;
    the other jobs' finished videos are still listed in ``all.jsonl``, so a
    quick ``--limit`` run never drops finished work from it.

    An existing ``all.jsonl`` is never shrunk: when the new records would
    leave out videos it lists (source videos gone or failing, options
    changed with ``limit``), nothing is written and
    :class:`ConversionError` names them, unless ``allow_shrink``.

    Raises:
        ConversionError: ``jobs`` is empty, or ``all.jsonl`` would shrink.
    """
    opts = opts or ConvertOptions()
    check_dirs(src_root, out_root, domain)
    if not jobs:
        raise ConversionError(f'{domain}: no videos to convert from '
                              f'{src_root}')
    # resolve 'auto' once, so every worker and the resume check agree
    spec = opts.resolved_detector_spec()
    opts = replace(opts, detector=spec, detector_kwargs={})
    names = [j.name for j in jobs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f'duplicate video names in {domain}: {dup[:5]}')
    jobs = sorted(jobs, key=lambda j: j.name)
    os.makedirs(osp.join(out_root, domain, 'frames'), exist_ok=True)
    fp = _fp_hash(opts)
    if limit is not None and limit < 1:
        raise ValueError(f'limit must be >= 1, got {limit}')
    selected = jobs[:limit] if limit else jobs
    results, todo, kept = [], [], []
    for job in selected:
        done = None if force else load_complete(out_root, domain, job, fp,
                                                opts)
        (results.append(done) if done else todo.append(job))
    for job in jobs[len(selected):]:  # outside --limit: keep what is done
        done = load_complete(out_root, domain, job, fp, opts)
        if done:
            kept.append(done)
    det_desc = spec if isinstance(spec, dict) else repr(spec)
    logger.info('%s: %d videos, %d to convert, %d already done; detector %s',
                domain, len(selected), len(todo), len(results), det_desc)
    if kept:
        logger.info('%s: --limit %d: %d more finished videos stay in '
                    'all.jsonl', domain, limit, len(kept))
    if todo:
        if workers <= 1 or len(todo) == 1:
            det = build_detector(spec)
            it = (process_job(j, det, opts, out_root, domain) for j in todo)
            for r in _progress(it, len(todo), domain, progress):
                results.append(r)
        else:
            # spawn, not fork: a forked child can deadlock on locks that
            # OpenCV / OpenMP threads of the parent held (seen in testing)
            ctx = mp.get_context(start_method or 'spawn')
            with ctx.Pool(min(workers, len(todo)), initializer=_init_worker,
                          initargs=(spec, opts, out_root, domain)) as pool:
                it = pool.imap_unordered(_worker_run, todo, chunksize=1)
                for r in _progress(it, len(todo), domain, progress):
                    results.append(r)
    results.sort(key=lambda r: r['name'])
    listed = sorted(results + kept, key=lambda r: r['name'])
    records = [rec for r in listed if r['status'] in ('done', 'skipped')
               for rec in r['records']]
    ann_file = osp.join(out_root, domain, 'annotations', 'all.jsonl')
    summary = summarise(results, domain, src_root, out_root, opts, det_desc)
    summary['videos_listed_outside_limit'] = len(kept)
    if extra_summary:
        summary.update(extra_summary)
    _log_warnings(summary)
    dropped = [] if allow_shrink else _dropped_videos(ann_file, records)
    if dropped:
        summary['annotation_file'] = None
        summary['annotation_file_kept'] = ann_file
        summary['would_drop_videos'] = dropped
        _write_json(osp.join(out_root, domain, 'summary.json'), summary)
        raise ConversionError(
            f'{ann_file} lists {len(dropped)} video(s) this run did not '
            f'produce (e.g. {", ".join(dropped[:3])}): refusing to shrink '
            'it; the file is unchanged. Causes: source videos missing or '
            'failing, or other options than the run that wrote it. Pass '
            '--allow-shrink (allow_shrink=True) to rewrite it.',
            summary=summary)
    if records:
        write_annotations(records, ann_file)
        # self-check: the file is valid and every image exists
        load_annotations(ann_file, data_root=out_root, check_files=True)
        summary['annotation_file'] = ann_file
    else:
        summary['annotation_file'] = None
    _write_json(osp.join(out_root, domain, 'summary.json'), summary)
    return summary


class ConversionError(RuntimeError):
    """A conversion that must not pass as a success: no video found, videos
    failed, or an annotation file that would shrink. ``summary`` holds the
    run's summary when there is one."""

    def __init__(self, msg: str, summary: Optional[dict] = None):
        super().__init__(msg)
        self.summary = summary


def _dropped_videos(ann_file: str, records: Sequence[dict]) -> List[str]:
    """Video ids listed in an existing ``ann_file`` but not in ``records``
    (an unreadable old file counts as empty)."""
    if not osp.isfile(ann_file):
        return []
    old = set()
    try:
        with open(ann_file, encoding='utf-8') as f:
            for line in f:
                line = line.strip()
                if line and not line.startswith('#'):
                    vid = json.loads(line).get('video_id')
                    if vid:
                        old.add(vid)
    except (OSError, ValueError, AttributeError):
        return []
    return sorted(old - {r['video_id'] for r in records})


#: fallback share of the face-cropped frames above which a run warns
FALLBACK_WARN_SHARE = 0.5


def _warnings(s: dict) -> List[str]:
    """The warnings of a summary (also stored in it under ``warnings``)."""
    out = []
    src = s.get('face_sources', {})
    cropped = sum(src.values())
    fb = cropped - src.get('detector', 0)
    if cropped and fb > FALLBACK_WARN_SHARE * cropped:
        parts = ', '.join(f'{k} {v}' for k, v in src.items() if v)
        out.append(
            f'the detector found a face on only {src.get("detector", 0)} of '
            f'{cropped} face-cropped frames; fallbacks dominate ({parts}). '
            'Check the crops (no_face_frames in summary.json lists them); a '
            'stronger detector (--detector mtcnn) or a wider '
            '--neighbour-window may help.')
    elif src.get('centre'):
        out.append(f'{src["centre"]} frames with no face box anywhere were '
                   'centre-cropped (listed under no_face_frames)')
    for o in s.get('orientation_undecided', []):
        out.append(f'orientation of {o["video"]} undecided (a face upright '
                   f'on {o["upright"]}, upside down on {o["upside_down"]} '
                   f'of {o["frames"]} frames): kept as stored; check it, '
                   'and list it in --rotate-list if it is upside down')
    for o in s.get('orientation_conflicts', []):
        vote = 'upright' if o['upright'] > o['upside_down'] else \
            'upside down'
        out.append(f'orientation of {o["video"]}: the detector voted {vote} '
                   f'({o["upright"]} vs {o["upside_down"]} frames) against '
                   f'the known orientation; rotated by {o["rotation"]} as '
                   'known')
    for t in s.get('truncated_videos', []):
        out.append(f'{t["path"] or t["video"]} is truncated: its header '
                   f'says {t["header_frames"]} frames, only '
                   f'{t["decodable_frames"]} decode; frames were sampled '
                   'from the decodable part')
    return out


def _log_warnings(summary: dict) -> None:
    summary['warnings'] = _warnings(summary)
    for w in summary['warnings']:
        logger.warning('%s: WARNING: %s', summary['domain'], w)


def summarise(results, domain, src_root, out_root, opts, det_desc) -> dict:
    fallbacks = {k: 0 for k in FALLBACKS}
    frames = faces = 0
    no_face, failures, rotated = [], [], []
    undecided, conflicts, truncated = [], [], []
    for r in results:
        if r.get('truncated'):
            truncated.append(dict(video=r['name'], path=r['src_path'],
                                  **r['truncated']))
        if r['status'] == 'failed':
            failures.append(dict(video=r['name'], path=r['src_path'],
                                 error=r['error']))
            continue
        o = r.get('orientation')
        if o and o.get('decided_by') == 'undecided':
            undecided.append(dict(video=r['name'], **o))
        if o and o.get('conflict'):
            conflicts.append(dict(video=r['name'], **o))
        frames += r['stats'].get('frames', 0)
        faces += r['stats'].get('faces', 0)
        for k in FALLBACKS:
            fallbacks[k] += r['stats'].get(k, 0)
        for nf in r['no_face']:
            no_face.append(dict(video=r['name'], **nf))
        if r.get('rotated'):
            rotated.append(r['name'])
    return dict(
        domain=domain,
        source=osp.abspath(src_root),
        output=osp.abspath(osp.join(out_root, domain)),
        options=opts.fingerprint(),
        detector=det_desc if isinstance(det_desc, (str, dict)) else
        repr(det_desc),
        videos=len(results),
        videos_converted=sum(r['status'] == 'done' for r in results),
        videos_resumed=sum(r['status'] == 'skipped' for r in results),
        videos_failed=len(failures),
        frames=frames,
        faces_detected=faces,
        fallbacks={k: v for k, v in fallbacks.items() if v},
        face_sources=dict(detector=faces, **{k: v for k, v in
                                             fallbacks.items() if v})
        if opts.crop != 'full' else {},
        no_face_frames=no_face,
        rotated_videos=rotated,
        orientation_undecided=undecided,
        orientation_conflicts=conflicts,
        truncated_videos=truncated,
        failures=failures)


def format_summary(s: dict) -> str:
    lines = [
        f"{s['domain']}: {s['videos']} videos ({s['videos_converted']} "
        f"converted, {s['videos_resumed']} resumed, {s['videos_failed']} "
        f"failed), {s['frames']} frames, {s['faces_detected']} faces "
        f"detected, fallbacks {s['fallbacks'] or 'none'}",
        f"  detector: {s['detector']}",
    ]
    src = s.get('face_sources') or {}
    if src:
        lines.append('  frames cropped by: ' + ', '.join(
            f'{k} {v}' for k, v in src.items()))
    if s.get('rotated_videos'):
        lines.append(f"  rotated 180 deg: {len(s['rotated_videos'])} videos")
    warnings = s.get('warnings', [])
    for w in warnings[:20]:
        lines.append(f'  WARNING: {w}')
    if len(warnings) > 20:
        lines.append(f'  ... and {len(warnings) - 20} more warnings '
                     '(summary.json)')
    for f in s['failures'][:20]:
        lines.append(f"  FAILED {f['path'] or f['video']}: {f['error']}")
    if len(s['failures']) > 20:
        lines.append(f"  ... and {len(s['failures']) - 20} more failures")
    lines.append(f"  annotations: {s.get('annotation_file')}")
    lines.append(f"  summary: {osp.join(s['output'], 'summary.json')}")
    return '\n'.join(lines)


# --------------------------------------------------------------------------
# CLI helpers
# --------------------------------------------------------------------------
def add_common_args(parser, crop='face', detector='auto'):
    """Arguments every converter CLI shares."""
    parser.add_argument('src', help='raw dataset root (as distributed)')
    parser.add_argument('out', help='output root (the data_root of the '
                        'annotations); must not be inside src')
    g = parser.add_argument_group('frames')
    ex = g.add_mutually_exclusive_group()
    ex.add_argument('--frames', type=int, default=None, metavar='N',
                    help='N evenly spaced frames per video (default: FLIP '
                    'sampling, frames 6 and 6 + N/2)')
    ex.add_argument('--all', action='store_true', help='every frame')
    g.add_argument('--size', type=int, default=256,
                   help='side of the written square images (default 256)')
    g.add_argument('--scale', type=float, default=1.3,
                   help='crop side / face-box side (default 1.3)')
    g.add_argument('--crop', choices=CROPS, default=crop,
                   help=f'face | full | none (default {crop})')
    g.add_argument('--jpeg-quality', type=int, default=95,
                   help='JPEG quality of the written images (default 95)')
    d = parser.add_argument_group('face detection')
    d.add_argument('--detector', choices=DETECTORS, default=detector,
                   help='auto = MTCNN if facenet-pytorch imports, else Haar '
                   f'(default {detector})')
    d.add_argument('--device', default='cpu', help='for mtcnn / mmdet')
    d.add_argument('--mmdet-config', default=None,
                   help='mmdet face detector config (--detector mmdet)')
    d.add_argument('--mmdet-checkpoint', default=None,
                   help='its checkpoint (--detector mmdet)')
    d.add_argument('--fallback', default=','.join(DEFAULT_FALLBACKS),
                   help='no-face policy, comma-separated, in order, from '
                   f'{",".join(FALLBACKS)} (default %(default)s)')
    d.add_argument('--neighbour-window', type=int, default=3,
                   help='how many frames away the neighbour fallback looks '
                   'for a detected face (default 3)')
    r = parser.add_argument_group('run')
    r.add_argument('--workers', type=int,
                   default=max(1, min(8, (os.cpu_count() or 1))),
                   help='processes (videos in parallel)')
    r.add_argument('--force', action='store_true',
                   help='redo finished videos too')
    r.add_argument('--limit', type=int, default=None, metavar='N',
                   help='convert only the first N videos (by name; a '
                   'quick check); videos finished earlier stay in '
                   'all.jsonl')
    r.add_argument('--allow-shrink', action='store_true',
                   help='let this run rewrite an existing all.jsonl with '
                   'fewer videos (refused by default)')
    r.add_argument('--no-progress', action='store_true',
                   help='no progress bar')
    r.add_argument('--start-method', choices=('spawn', 'forkserver',
                                              'fork'), default=None,
                   help='multiprocessing start method (default spawn; fork '
                   'can deadlock with OpenCV threads)')
    return parser


def options_from_args(args) -> ConvertOptions:
    if args.all:
        sampling, n = 'all', 0
    elif args.frames:
        sampling, n = 'even', args.frames
    else:
        sampling, n = 'flip', 2
    kw = {}
    if args.detector in ('mtcnn', 'mmdet', 'auto'):
        kw['device'] = args.device
    if args.detector == 'mmdet':
        kw.update(config=args.mmdet_config, checkpoint=args.mmdet_checkpoint)
    return ConvertOptions(
        sampling=sampling, num_frames=n or 2, size=args.size,
        scale=args.scale, crop=args.crop,
        fallbacks=tuple(f.strip() for f in args.fallback.split(',')
                        if f.strip()),
        neighbour_window=args.neighbour_window,
        jpeg_quality=args.jpeg_quality, detector=args.detector,
        detector_kwargs=kw,
        orient_frames=getattr(args, 'orient_frames', None) or 10)


def raw_layout(doc: Optional[str]) -> str:
    """The ``Raw layout ...::`` block of a converter module's docstring (for
    the error a wrong source folder gets)."""
    lines = (doc or '').splitlines()
    for i, line in enumerate(lines):
        if line.startswith('Raw layout') and line.rstrip().endswith('::'):
            block = []
            for ln in lines[i + 1:]:
                if ln.strip() and not ln.startswith(' '):
                    break
                block.append(ln)
            return '\n'.join(block).strip('\n')
    return ''


def run_cli(args, domain: str, jobs: List[VideoJob],
            extra_summary: Optional[dict] = None,
            layout: Optional[str] = None) -> dict:
    """Shared tail of every converter CLI.

    Args:
        layout (str, optional): The converter module's docstring; its ``Raw
            layout`` block is quoted when no video is found.

    Raises:
        ConversionError: no video found under ``args.src`` (wrong folder or
            layout), some videos failed (after writing what converted), or
            ``all.jsonl`` would shrink. :func:`cli_entry` turns it into an
            exit status.
    """
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    opts = options_from_args(args)
    if not jobs:
        scan = (extra_summary or {}).get('scan') or {}
        ignored = scan.get('ignored_files') or []
        msg = (f'{domain}: no videos found under {args.src}: not the '
               'folder of the raw dataset, or not its layout as '
               'distributed')
        hint = raw_layout(layout)
        if hint:
            msg += f'. Expected:\n{hint}'
        if ignored:
            msg += (f'\n{len(ignored)} file(s) with names this converter '
                    f'does not know were ignored, e.g. {ignored[0]}')
        raise ConversionError(msg + '\n(see docs/data_preparation.md)')
    try:
        summary = run_conversion(jobs, args.src, args.out, domain, opts,
                                 workers=args.workers, force=args.force,
                                 progress=not args.no_progress,
                                 start_method=args.start_method,
                                 extra_summary=extra_summary,
                                 limit=args.limit,
                                 allow_shrink=args.allow_shrink)
    except ConversionError as e:
        if e.summary:  # what did convert (and fail) before the refusal
            print(format_summary(e.summary))
        raise
    print(format_summary(summary))
    if summary['videos_failed']:
        f = summary['failures'][0]
        raise ConversionError(
            f'{domain}: {summary["videos_failed"]} of {summary["videos"]} '
            f'videos failed (first: {f["path"] or f["video"]}: '
            f'{f["error"]}); the others were written. Every failure is '
            f'listed in {osp.join(summary["output"], "summary.json")}; a '
            're-run retries only the failed videos.', summary=summary)
    return summary


def cli_entry(main, argv=None) -> int:
    """Run a converter's ``main(argv)`` as a command: 0 on success, 1 with
    the reason on stderr when the conversion failed (:class:`ConversionError`)
    or its input is wrong (missing folder, bad list file)."""
    try:
        main(argv)
    except (ConversionError, FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------
# small parsing helpers shared by dataset modules
# --------------------------------------------------------------------------
def find_files(root: str, exts: Sequence[str]) -> List[str]:
    """All files under ``root`` with one of ``exts`` (case-insensitive),
    sorted, as paths relative to ``root``."""
    exts = tuple(e.lower() for e in exts)
    out = []
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            if f.lower().endswith(exts):
                out.append(osp.relpath(osp.join(d, f), root))
    return sorted(out)


def find_dir(root: str, names: Sequence[str],
             max_depth: int = 3) -> Optional[str]:
    """The shallowest folder under ``root`` (``root`` included) whose name
    is one of ``names`` (case-insensitive); ties broken by sorted path."""
    wanted = {n.lower() for n in names}
    level = [root]
    for _ in range(max_depth + 1):
        nxt = []
        for d in sorted(level):
            if osp.basename(osp.normpath(d)).lower() in wanted:
                return d
            try:
                subs = sorted(e for e in os.listdir(d)
                              if osp.isdir(osp.join(d, e)))
            except OSError:
                continue
            nxt += [osp.join(d, e) for e in subs]
        level = nxt
    return None


def find_file(root: str, names: Sequence[str],
              max_depth: int = 3) -> Optional[str]:
    """The shallowest file under ``root`` named one of ``names``
    (case-insensitive)."""
    wanted = {n.lower() for n in names}
    level = [root]
    for _ in range(max_depth + 1):
        nxt = []
        for d in sorted(level):
            try:
                entries = sorted(os.listdir(d))
            except OSError:
                continue
            for e in entries:
                full = osp.join(d, e)
                if osp.isfile(full) and e.lower() in wanted:
                    return full
                if osp.isdir(full):
                    nxt.append(full)
        level = nxt
    return None


def resolve_listed(root: str, rel: str) -> Optional[str]:
    """Resolve a path written in an official list against ``root``: the
    list may name it from a parent folder (``CASIA_CeFA/Ethnicity/...``), so
    leading components are dropped until the path exists."""
    parts = [p for p in rel.replace('\\', '/').split('/') if p]
    for i in range(len(parts)):
        cand = osp.join(root, *parts[i:])
        if osp.exists(cand):
            return cand
    return None


RGB_DIRS = ('color', 'profile', 'rgb')
DEPTH_DIRS = ('depth',)
IR_DIRS = ('ir', 'nir', 'infrared')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def _sub(video_dir: str, names) -> Optional[str]:
    try:
        entries = os.listdir(video_dir)
    except OSError:
        return None
    low = {e.lower(): e for e in entries}
    for n in names:
        if n in low and osp.isdir(osp.join(video_dir, low[n])):
            return osp.join(video_dir, low[n])
    return None


def modality_dirs(video_dir: str) -> Dict[str, str]:
    """``{modality: folder}`` for a capture stored as ``color|profile|rgb``
    / ``depth`` / ``ir`` sub-folders."""
    out = {}
    for m, names in (('rgb', RGB_DIRS), ('depth', DEPTH_DIRS),
                     ('ir', IR_DIRS)):
        d = _sub(video_dir, names)
        if d:
            out[m] = d
    return out


def _num_key(name: str):
    m = _NUM_RE.search(osp.splitext(name)[0])
    return (int(m.group(1)) if m else -1, name)


def paired_frames(video_dir: str) -> List[Dict[str, str]]:
    """Frames of a ``color/depth/ir`` capture folder, paired by file name
    (RGB frames define the sequence; a modality missing for a frame is left
    out of that frame), in numeric order."""
    dirs = modality_dirs(video_dir)
    if 'rgb' not in dirs:
        return []
    listing = {}
    for m, d in dirs.items():
        listing[m] = {osp.splitext(f)[0]: osp.join(d, f)
                      for f in os.listdir(d)
                      if f.lower().endswith(IMAGE_EXTS)}
    frames = []
    for stem in sorted(listing['rgb'], key=_num_key):
        fr = {'rgb': listing['rgb'][stem]}
        for m in ('depth', 'ir'):
            if m in listing and stem in listing[m]:
                fr[m] = listing[m][stem]
        frames.append(fr)
    return frames


def read_id_list(path: str) -> List[int]:
    """Integers of a list file (one or more per line, any separator)."""
    ids = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            ids += [int(t) for t in re.findall(r'\d+', line)]
    return ids


def split_counts(jobs: Sequence[VideoJob]) -> dict:
    """``{split: {label: n}}`` over jobs, for a quick check in summaries."""
    out: Dict[str, Dict[str, int]] = {}
    for j in jobs:
        s = out.setdefault(j.meta['split'], {})
        s[j.meta['label']] = s.get(j.meta['label'], 0) + 1
    return out


__all__ = [
    'ConvertOptions', 'VideoJob', 'VideoSource', 'ImageSequenceSource',
    'sample_indices', 'run_conversion', 'process_job', 'check_dirs',
    'safe_name', 'modality_filename', 'eyes_to_box', 'warp_square',
    'crop_region', 'box_in_region', 'add_common_args', 'options_from_args',
    'run_cli', 'format_summary', 'find_files', 'read_id_list',
    'split_counts', 'to_bgr_uint8', 'read_image', 'find_dir', 'find_file',
    'build_record', 'load_complete',
    'resolve_listed', 'paired_frames', 'modality_dirs', 'FALLBACKS',
    'CROPS', 'ConversionError', 'cli_entry', 'decide_orientation',
    'raw_layout'
]
