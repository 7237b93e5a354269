"""Pictures of the demos: scored face boxes on an image, and a model's map
over the face crop it scored (OpenCV only, no matplotlib).

The faces are the dicts :func:`mmfas.apis.inference_model` returns with
``detect_faces=True`` (``bbox``, ``live_score``, ``pred_label``,
``threshold``); a box is green when the face is accepted as live
(``live_score >= threshold``, the score rule's decision) and red when it is
rejected as a spoof.
"""
from typing import Optional, Sequence

import cv2
import numpy as np

__all__ = ['LIVE_COLOR', 'SPOOF_COLOR', 'draw_faces', 'map_overlay']

#: BGR colours of the decisions
LIVE_COLOR = (40, 170, 40)
SPOOF_COLOR = (40, 40, 220)
_TEXT_COLOR = (255, 255, 255)


def _to_bgr(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.ndim != 3 or img.shape[-1] < 3:
        raise ValueError('expected a BGR image (H, W, 3), got shape '
                         f'{img.shape}')
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255)
    # a copy: the caller's image is never drawn on
    return np.array(img, dtype=np.uint8, order='C', copy=True)


def _label(img, text, x, y, color, scale, thick, above=True):
    """A filled caption box with ``text`` at ``(x, y)`` (its bottom-left
    when ``above``), kept inside the image."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = img.shape[:2]
    pad = max(2, thick)
    x = int(min(max(0, x), max(0, w - tw - 2 * pad)))
    y0 = int(y - th - base - 2 * pad) if above else int(y)
    if y0 < 0:
        y0 = int(y) if above else 0
    y0 = min(y0, max(0, h - th - base - 2 * pad))
    cv2.rectangle(img, (x, y0), (x + tw + 2 * pad, y0 + th + base + 2 * pad),
                  color, -1)
    cv2.putText(img, text, (x + pad, y0 + pad + th), font, scale,
                _TEXT_COLOR, thick, cv2.LINE_AA)


def draw_faces(image: np.ndarray,
               faces: Sequence[dict],
               min_side: int = 480,
               header: Optional[str] = None) -> np.ndarray:
    """Draw scored faces on a copy of ``image``.

    Args:
        image (np.ndarray): The BGR image the boxes are in.
        faces (Sequence[dict]): Each with ``bbox`` ``[x1, y1, x2, y2]``
            (pixels of ``image``), ``live_score``, ``pred_label``
            (``'live'`` / ``'spoof'``) and optionally ``'text'`` (replaces
            the caption) or ``'track_id'`` (prefixed to it).
        min_side (int): Small images are enlarged so that their shorter
            side is at least this (readable captions). Defaults to 480.
        header (str, optional): A line written at the top (e.g. the
            threshold and its source).

    Returns:
        np.ndarray: The annotated BGR image (possibly enlarged).
    """
    img = _to_bgr(image)
    h, w = img.shape[:2]
    s = max(1.0, float(min_side) / max(1, min(h, w)))
    if s > 1:
        img = cv2.resize(img, (round(w * s), round(h * s)),
                         interpolation=cv2.INTER_LINEAR)
    side = min(img.shape[:2])
    thick = max(1, round(side / 240))
    scale = max(0.4, side / 900)
    for face in faces:
        x1, y1, x2, y2 = [float(v) * s for v in face['bbox']]
        live = face.get('pred_label') == 'live'
        color = LIVE_COLOR if live else SPOOF_COLOR
        cv2.rectangle(img, (round(x1), round(y1)), (round(x2), round(y2)),
                      color, max(2, thick + 1))
        text = face.get('text')
        if text is None:
            text = f"{face.get('pred_label', '?')} {face['live_score']:.3f}"
            if face.get('track_id') is not None:
                text = f"#{face['track_id']} {text}"
        _label(img, text, x1, y1, color, scale, thick)
    if header is not None or not faces:
        lines = [header] if header is not None else []
        if not faces:
            lines.append('no face detected')
        y = 0
        font = cv2.FONT_HERSHEY_SIMPLEX
        for line in lines:
            # shrink a long line to the image width
            sc, th = scale * 0.9, thick
            while sc > 0.3 and cv2.getTextSize(
                    line, font, sc, th)[0][0] > img.shape[1] - 4 * th:
                sc *= 0.9
                th = max(1, min(th, round(sc * 2)))
            _label(img, line, 0, y, (60, 60, 60), sc, th, above=False)
            y += int(cv2.getTextSize(line, font, sc, th)[0][1] * 1.9) + 4
    return img


def map_overlay(crop: np.ndarray,
                fmap: np.ndarray,
                title: str = 'spoof cue map',
                alpha: float = 0.5,
                size: int = 256) -> np.ndarray:
    """The face crop, the map over it and the map alone, side by side.

    Args:
        crop (np.ndarray): The ``(H, W, 3)`` BGR face crop the model saw.
        fmap (np.ndarray): ``(h, w)`` map with values in ``[0, 1]`` (SLIP:
            1 = spoof cue); drawn with the JET colour map on a fixed
            ``[0, 1]`` scale (blue 0 .. red 1), so maps of different
            faces compare.
        title (str): Caption. Defaults to ``'spoof cue map'``.
        alpha (float): Weight of the map in the overlay. Defaults to 0.5.
        size (int): Side of each panel. Defaults to 256.

    Returns:
        np.ndarray: A BGR image ``(size + 40, 3 * size, 3)``.
    """
    crop = cv2.resize(_to_bgr(crop), (size, size),
                      interpolation=cv2.INTER_LINEAR)
    m = np.asarray(fmap, dtype=np.float32)
    if m.ndim != 2:
        raise ValueError(f'a map is (h, w), got shape {m.shape}')
    if not np.isfinite(m).all():
        raise ValueError('the map has non-finite values')
    m = cv2.resize(np.clip(m, 0.0, 1.0), (size, size),
                   interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap((m * 255).round().astype(np.uint8),
                             cv2.COLORMAP_JET)
    blend = cv2.addWeighted(crop, 1 - alpha, heat, alpha, 0)
    panel = np.concatenate([crop, blend, heat], axis=1)
    cap_h = 40
    out = np.full((size + cap_h, panel.shape[1], 3), 255, np.uint8)
    out[cap_h:] = panel
    captions = (['face crop (model input)'],
                ['overlay', 'map scale: 0 blue .. 1 red'], [
                    title, f'mean {float(np.mean(fmap)):.3f}, range '
                    f'{float(np.min(fmap)):.2f}-{float(np.max(fmap)):.2f}'
                ])
    for i, lines in enumerate(captions):
        for k, text in enumerate(lines):
            cv2.putText(out, text, (i * size + 6, 16 + 17 * k),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
    return out
