"""Liveness of the faces in a video or a camera stream.

    python demo/video_demo.py CONFIG CHECKPOINT VIDEO [--out OUT.mp4]
    python demo/video_demo.py CONFIG CHECKPOINT --camera 0 --max-frames 300
        [--out OUT.mp4] [--show]

Every frame: faces are detected and scored by
:func:`mmfas.apis.inference_model` (``detect_faces=True``: the converters'
detector, the training crop, the score rule). A simple IoU tracker links
the faces of consecutive frames; each track's liveness is the mean of its
frame scores, the video-level rule of :class:`~mmfas.evaluation.FASMetric`
(``level='video'``: a video's score is the mean of its frames' liveness
scores), and the track is live iff that mean ``>= threshold``. The boxes in
the annotated video (``--out``) are coloured by the track's decision and
captioned with the track id, the frame score and the running mean. The
frames per second of detection + scoring are printed, then a table of the
tracks. No display is needed; ``--show`` opens a window (``q`` stops).
"""
import argparse
import os
import os.path as osp
import sys
import time

import cv2
import numpy as np
from mmengine.config import DictAction

SOURCES = {
    'checkpoint': "checkpoint meta['fas_threshold']",
    'argument': '--threshold',
    'default': 'uncalibrated default',
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Detect, track and score faces in a video or a camera')
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('video', nargs='?', default=None,
                   help='video file (or use --camera)')
    p.add_argument('--camera', type=int, default=None, metavar='N',
                   help='read camera N instead of a file')
    p.add_argument('--out', default=None,
                   help='write the annotated video here (.mp4 or .avi)')
    p.add_argument('--detector', default='auto',
                   choices=['auto', 'haar', 'mtcnn'],
                   help='face detector (auto: MTCNN if facenet-pytorch is '
                   'installed, else Haar)')
    p.add_argument('--threshold', type=float, default=None,
                   help='decision threshold when the checkpoint has none')
    p.add_argument('--max-frames', type=int, default=None,
                   help='stop after this many frames (a camera runs until '
                   'q or Ctrl-C otherwise)')
    p.add_argument('--iou', type=float, default=0.3,
                   help='IoU linking a face to a track (default 0.3)')
    p.add_argument('--max-age', type=int, default=10,
                   help='frames a track survives unseen (default 10)')
    p.add_argument('--show', action='store_true',
                   help='show the annotated frames in a window')
    p.add_argument('--device', default='cpu', help='torch device')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value')
    args = p.parse_args(argv)
    if (args.video is None) == (args.camera is None):
        p.error('give a VIDEO file or --camera N (one of them)')
    return args


def iou(a, b) -> float:
    """Intersection over union of two ``[x1, y1, x2, y2]`` boxes."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) *
             (b[3] - b[1]) - inter)
    return inter / union if union > 0 else 0.0


class IoUTracker:
    """Greedy IoU tracking of face boxes with a per-track mean score.

    Each frame's faces are matched to the live tracks by IoU (highest
    first, at least ``iou_thr``); an unmatched face starts a track; a track
    unseen for more than ``max_age`` frames ends. A track's score is the
    mean of its frames' liveness scores (the metric's video-level rule).
    """

    def __init__(self, iou_thr: float = 0.3, max_age: int = 10):
        if not 0.0 < iou_thr <= 1.0:
            raise ValueError(f'--iou must be in (0, 1], got {iou_thr}')
        self.iou_thr = iou_thr
        self.max_age = max_age
        self.tracks = {}  # id -> dict(box, scores, first, last)
        self._next = 0

    def update(self, frame_idx: int, faces: list) -> list:
        """Assign ``faces`` (dicts with ``bbox`` and ``live_score``) to
        tracks; returns the track id of each face."""
        live = {i: t for i, t in self.tracks.items()
                if frame_idx - t['last'] <= self.max_age}
        pairs = sorted(((iou(f['bbox'], t['box']), k, i)
                        for k, f in enumerate(faces)
                        for i, t in live.items()), reverse=True)
        ids = [None] * len(faces)
        used = set()
        for v, k, i in pairs:
            if v < self.iou_thr:
                break
            if ids[k] is None and i not in used:
                ids[k] = i
                used.add(i)
        for k, f in enumerate(faces):
            if ids[k] is None:
                ids[k] = self._next
                self._next += 1
                self.tracks[ids[k]] = dict(box=None, scores=[],
                                           first=frame_idx, last=frame_idx)
            t = self.tracks[ids[k]]
            t['box'] = list(f['bbox'])
            t['scores'].append(float(f['live_score']))
            t['last'] = frame_idx
        return ids

    def mean_score(self, track_id: int) -> float:
        return float(np.mean(self.tracks[track_id]['scores']))


def _open(args):
    if args.camera is not None:
        cap = cv2.VideoCapture(args.camera)
        what = f'camera {args.camera}'
    else:
        if not osp.isfile(args.video):
            raise FileNotFoundError(f'video not found: {args.video}')
        cap = cv2.VideoCapture(args.video)
        what = args.video
    if not cap.isOpened():
        raise ValueError(f'cannot open {what} with OpenCV')
    return cap, what


def _writer(path, fps, size):
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    codec = 'MJPG' if path.lower().endswith('.avi') else 'mp4v'
    w = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), fps, size)
    if not w.isOpened():
        raise ValueError(f'cannot write the video {path} (codec {codec}); '
                         'use .mp4 or .avi')
    return w


def run(args):
    from mmfas.apis import inference_model, init_model
    from mmfas.apis.inference import get_face_detector, resolve_threshold
    from mmfas.structures import score_rule
    from mmfas.visualization import draw_faces

    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    # built once for all frames; MTCNN runs on --device too
    detector = get_face_detector(dict(type=args.detector,
                                      device=args.device))
    # the checkpoint's threshold, else --threshold, else the default
    thr, source = resolve_threshold(model, args.threshold)
    cap, what = _open(args)
    fps_in = cap.get(cv2.CAP_PROP_FPS)
    fps_in = fps_in if fps_in and fps_in > 0 else 25.0
    tracker = IoUTracker(args.iou, args.max_age)
    writer = None
    n = 0
    busy = 0.0
    t0 = time.perf_counter()
    try:
        while args.max_frames is None or n < args.max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            t = time.perf_counter()
            res = inference_model(model, frame, threshold=args.threshold,
                                  detect_faces=True, detector=detector)
            busy += time.perf_counter() - t
            faces = res['faces']
            ids = tracker.update(n, faces)
            drawn = []
            for f, i in zip(faces, ids):
                mean = tracker.mean_score(i)
                label = 'live' if score_rule.is_live(mean, thr) else 'spoof'
                drawn.append(dict(
                    bbox=f['bbox'], live_score=f['live_score'],
                    pred_label=label,
                    text=f"#{i} {f['live_score']:.2f} avg {mean:.2f} "
                    f'{label}'))
            img = draw_faces(frame, drawn, min_side=0)
            if writer is None and args.out:
                writer = _writer(args.out, fps_in,
                                 (img.shape[1], img.shape[0]))
            if writer is not None:
                writer.write(img)
            if args.show:
                cv2.imshow('mmfas video demo', img)
                if cv2.waitKey(1) & 0xFF == ord('q'):
                    n += 1
                    break
            n += 1
    except KeyboardInterrupt:
        print('stopped')
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if args.show:
            cv2.destroyAllWindows()
    wall = time.perf_counter() - t0
    if n == 0:
        raise ValueError(f'no frame could be read from {what}')
    print(f'{n} frames from {what}: {n / max(busy, 1e-9):.1f} fps detection '
          f'+ scoring ({n / max(wall, 1e-9):.1f} fps with reading, drawing '
          f'and writing), device {args.device}')
    print('track  frames  first-last  mean live score  decision')
    for i, t in sorted(tracker.tracks.items()):
        mean = tracker.mean_score(i)
        label = 'live' if score_rule.is_live(mean, thr) else 'spoof'
        print(f'{i:<5}  {len(t["scores"]):<6}  '
              f'{t["first"]:>4}-{t["last"]:<5}  {mean:<15.4f}  {label}')
    if not tracker.tracks:
        print('(no face detected)')
    print(f'threshold {thr:.4g} ({SOURCES.get(source, source)}); a track '
          'is live iff its mean frame score >= threshold')
    if args.out:
        print(f'annotated video: {args.out}')
    return dict(frames=n, tracks=tracker.tracks, threshold=thr)


def main(argv=None):
    return run(parse_args(argv))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, ImportError) as e:
        sys.exit(f'video_demo: {e}')
