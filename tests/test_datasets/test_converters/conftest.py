"""Fixtures for the converter tests: tiny generated videos and images, and a
deterministic stub face detector."""
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmfas.datasets.converters.face_detectors import BaseFaceDetector, FaceBox

W, H = 128, 96


def draw_face(img, cx, cy, s):
    """A cartoon face that OpenCV's Haar cascade and MTCNN both detect."""
    cv2.ellipse(img, (cx, cy), (int(s * 0.8), s), 0, 0, 360,
                (150, 180, 220), -1)
    e = int(s * 0.35)
    for dx in (-e, e):
        cv2.ellipse(img, (cx + dx, cy - int(s * 0.25)),
                    (int(s * 0.16), int(s * 0.08)), 0, 0, 360, (30, 30, 30),
                    -1)
        cv2.line(img, (cx + dx - int(s * 0.2), cy - int(s * 0.45)),
                 (cx + dx + int(s * 0.2), cy - int(s * 0.45)), (40, 40, 60),
                 max(2, s // 15))
    cv2.line(img, (cx, cy - int(s * 0.1)), (cx, cy + int(s * 0.25)),
             (110, 140, 180), max(2, s // 20))
    cv2.ellipse(img, (cx, cy + int(s * 0.5)), (int(s * 0.3), int(s * 0.08)),
                0, 0, 360, (60, 60, 140), -1)
    return img


def face_frame(w=W, h=H, s=30, cx=None, cy=None, bg=(40, 90, 40)):
    img = np.zeros((h, w, 3), np.uint8)
    img[:] = bg
    draw_face(img, cx if cx is not None else w // 2,
              cy if cy is not None else h // 2, s)
    return cv2.GaussianBlur(img, (5, 5), 0)


def marker_frame(w=W, h=H, box=None, value=0):
    """Dark frame (brightness ``value``) with a white square at ``box``
    (``x1, y1, x2, y2``) standing for a face (for :class:`StubDetector`)."""
    img = np.full((h, w, 3), value, np.uint8)
    if box is not None:
        x1, y1, x2, y2 = box
        img[y1:y2, x1:x2] = 255
    return img


FOURCC = {'.avi': 'MJPG', '.mov': 'mp4v', '.mp4': 'mp4v'}


def write_video(path, frames, fps=25):
    """Write frames with a codec this OpenCV build can encode (MJPG for
    .avi, MPEG-4 part 2 'mp4v' for .mov / .mp4; H.264 has no encoder in the
    opencv-python wheel)."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    ext = osp.splitext(path)[1].lower()
    h, w = frames[0].shape[:2]
    vw = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*FOURCC[ext]), fps,
                         (w, h))
    assert vw.isOpened(), f'cannot write {path}'
    for f in frames:
        vw.write(f)
    vw.release()
    return path


def tiny_video(path, n=12, face=True, **kw):
    frames = [face_frame(**kw) if face else marker_frame() for _ in range(n)]
    return write_video(path, frames)


def write_image(path, img=None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, face_frame(64, 64, s=18) if img is None else img)
    return path


def touch(path, text=''):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return path


class StubDetector(BaseFaceDetector):
    """Finds the bounding box of white (>= 250) pixels in the upper half of
    the frame; the lower half never counts (so a frame rotated by 180
    degrees moves its "face" out of reach)."""
    name = 'stub'

    def detect(self, image):
        gray = image if image.ndim == 2 else image.max(axis=2)
        ys, xs = np.nonzero(gray >= 250)
        if len(xs) == 0:
            return []
        box = FaceBox(float(xs.min()), float(ys.min()), float(xs.max() + 1),
                      float(ys.max() + 1), 1.0)
        if (box.y1 + box.y2) / 2 > gray.shape[0] / 2:
            return []
        return [box]


@pytest.fixture
def stub():
    return StubDetector()


@pytest.fixture
def h():
    """The helpers above, as a fixture (test modules do not import
    conftest)."""
    import types
    return types.SimpleNamespace(
        W=W, H=H, face_frame=face_frame, marker_frame=marker_frame,
        write_video=write_video, tiny_video=tiny_video,
        write_image=write_image, touch=touch, StubDetector=StubDetector)
