"""Synthetic multi-domain face anti-spoofing demo dataset (the embedded default).

Everything this module writes is **synthetic**: procedurally drawn cartoon-like
faces, rendered with numpy + OpenCV only. No real person, photograph or public
dataset is involved, so the data can be generated anywhere, offline, in a few
seconds, and is only meant for smoke tests, tutorials and CI -- not for
reporting anti-spoofing results.

What is simulated
-----------------
* **Identities.** Each subject has its own skin tone, face ellipse and jaw
  shape, eyes (size, spacing, iris colour), brows, nose, mouth, hair (colour,
  style, hairline), optional beard / glasses, clothes and room background.
  Each video (session) has its own lighting and framing; each frame adds pose
  jitter (shift, roll, yaw), expression (smile, open mouth, blink) and
  lighting / exposure jitter. Faces are shaded with a height field (Lambertian
  + specular), which is also the source of the depth modality.
* **Live** (``attack_type='none'``): the scene, captured by the domain camera,
  with fine skin-pore texture.
* **Print** attacks: a photo of the subject from another session is printed
  (CMY halftone dots, reduced dynamic range, paper fibre texture, slight
  blur), held flat in front of the camera (random homography, flat lighting,
  paper edges sometimes visible), then captured.
* **Replay** attacks: a video of the subject from another session is shown on
  a screen (gamma / saturation shift, RGB sub-pixel grid sampled by the camera
  which produces moire, extra moire bands, glare highlight, bezel), then
  captured.
* **Mask** attacks: a rigid mask of the subject (uniform smooth albedo without
  pores, frozen neutral expression, broad plastic sheen, visible edge seam and
  eye-hole rims, wearer's skin tone on neck / ears).
* **Partial** attacks (``attack_type='partial'``, SLIP's premise): a live
  face whose named region -- one of the 8 :data:`OCCLUSION_POSITIONS`
  (``upper``, ``lower``, ``left``, ``right``, ``upper left``, ...: the half
  or quadrant of the face box as the viewer sees it) -- is covered by an
  object of :data:`OCCLUSION_OBJECTS`: ``paper`` (the face region printed),
  ``screen`` (shown on a display), ``mask`` (part of a rigid mask) or
  ``cloth`` (woven fabric). One region and object per video; the record
  holds ``occlusion=dict(position=..., object=...)`` and
  ``occlusion_mask``, the path of a PNG (0 / 255, image size) of the
  covered pixels. These records go to their own annotation file,
  ``<Domain>/annotations/partial.jsonl``, so the classic print / replay /
  mask protocol over ``all.jsonl`` is unchanged by them.
* **Captions**: every record has ``captions``, five sentences the
  generator knows to be true of the image (:func:`demo_captions`): live or
  spoof in several words (real / live / bonafide / genuine, spoof / fake /
  attack), the attack and its medium, texture cues (pores, halftone dots,
  moire, plastic, woven fabric) and, for partial attacks, the covered
  region and the object ("the upper part of the face is covered by
  paper."). Equal facts give equal captions. They ground the words of the
  demo CLIP (``tools/misc/pretrain_demo_clip.py``).
* Every attack image is gain-matched per colour channel to the live capture
  of the same frame (a partial occluder to the face region it hides), so
  **no attack is separable by mean colour alone**; the cues are texture-
  and geometry-level.
* **Domains** ``DemoA`` .. ``DemoD`` are four "cameras" that differ in image
  size (96 / 112 / 128 / 160 px), colour cast, saturation, sensor noise,
  optical blur, tone curve, JPEG quality and room palette, so that
  leave-one-domain-out is a real (if small) generalisation test.
* Optional **depth** (live: face-shaped height map; print / replay: flat
  plane; mask: face-shaped but smoothed, shallower and with holes) and
  **IR** (active NIR: bright skin with distance fall-off, dark screens,
  flat paper, uniform mask material); a partial occluder changes both
  inside its region only.

On-disk layout (the same as the dataset converters write)::

    <out_dir>/README.md                       how the data was made
    <out_dir>/demo_meta.json                  settings + summary (written last)
    <out_dir>/<Domain>/frames/<video>/<frame:04d>.jpg        rgb
    <out_dir>/<Domain>/frames/<video>/<frame:04d>_depth.jpg  depth (optional)
    <out_dir>/<Domain>/frames/<video>/<frame:04d>_ir.jpg     ir (optional)
    <out_dir>/<Domain>/frames/<video>/<frame:04d>_occlusion.png  region
                                              mask (partial attacks)
    <out_dir>/<Domain>/annotations/all.jsonl  one record per frame (live,
                                              print, replay, mask), paths
                                              relative to <out_dir>
    <out_dir>/<Domain>/annotations/partial.jsonl  partial attacks

Generation is seeded and deterministic: the same settings and seed give the
same bytes (every frame has its own random stream, so the number of worker
processes does not matter, and adding the partial attacks left every
print / replay / mask / live image byte-identical).
"""
import json
import os
import os.path as osp
import shutil
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from mmfas.models.utils.cue_maps import CUE_POSITIONS
from .annotation import frame_filename, make_record, write_annotations

__all__ = [
    'DEMO_DOMAINS', 'DEMO_ATTACK_TYPES', 'DEMO_MODALITIES', 'DOMAIN_SPECS',
    'META_FILE', 'OCCLUSION_POSITIONS', 'OCCLUSION_OBJECTS',
    'FULL_FACE_ATTACK_TYPES', 'make_demo_dataset', 'demo_settings',
    'load_demo_meta', 'is_demo_dataset_complete', 'format_summary',
    'region_box_fractions', 'occlusion_phrase', 'demo_captions',
    'ann_file_of', 'load_demo_images'
]

META_FILE = 'demo_meta.json'
META_VERSION = 5  # bump whenever the generated bytes change
DEMO_DOMAINS = ('DemoA', 'DemoB', 'DemoC', 'DemoD')
#: attacks over the whole face: ``<Domain>/annotations/all.jsonl``
FULL_FACE_ATTACK_TYPES = ('print', 'replay', 'mask')
#: ``partial``: an object covers a named region of a live face; its records
#: go to ``<Domain>/annotations/partial.jsonl``
DEMO_ATTACK_TYPES = FULL_FACE_ATTACK_TYPES + ('partial', )
DEMO_MODALITIES = ('rgb', 'depth', 'ir')
#: the 8 named regions of partial attacks (SLIP's cue-map positions)
OCCLUSION_POSITIONS = tuple(CUE_POSITIONS)
#: objects covering the region in partial attacks
OCCLUSION_OBJECTS = ('paper', 'screen', 'mask', 'cloth')

# "Camera" of each domain. cast: RGB gains; noise: sensor noise std (0..1);
# chroma: weight of per-channel (colour) noise; blur: optical blur sigma in
# pixels; sat: saturation; gamma: tone curve exponent 1/gamma; exposure: gain;
# jpeg: JPEG quality; room: RGB tint of the room backgrounds.
DOMAIN_SPECS: Dict[str, dict] = OrderedDict(
    DemoA=dict(size=96, cast=(1.12, 1.00, 0.84), noise=0.032, chroma=0.6,
               blur=0.6, sat=1.00, gamma=1.00, exposure=1.00, jpeg=55,
               room=(1.10, 1.00, 0.85)),
    DemoB=dict(size=112, cast=(0.88, 1.00, 1.14), noise=0.012, chroma=0.2,
               blur=0.35, sat=1.10, gamma=1.10, exposure=1.05, jpeg=88,
               room=(0.90, 1.00, 1.12)),
    DemoC=dict(size=128, cast=(0.96, 1.08, 0.92), noise=0.022, chroma=0.4,
               blur=0.5, sat=0.72, gamma=0.95, exposure=0.95, jpeg=72,
               room=(0.95, 1.08, 0.95)),
    DemoD=dict(size=160, cast=(1.00, 1.00, 1.00), noise=0.006, chroma=0.1,
               blur=0.0, sat=1.05, gamma=1.25, exposure=0.90, jpeg=95,
               room=(1.00, 1.00, 1.00)),
)

_SKIN_DARK = np.array([0.30, 0.18, 0.12], np.float32)
_SKIN_LIGHT = np.array([0.95, 0.78, 0.68], np.float32)
_HAIR = np.array([[0.05, 0.04, 0.04], [0.16, 0.10, 0.06], [0.33, 0.21, 0.12],
                  [0.78, 0.62, 0.36], [0.55, 0.22, 0.10], [0.62, 0.62, 0.62]],
                 np.float32)
_HAIR_P = np.array([0.3, 0.25, 0.2, 0.1, 0.07, 0.08])
_IRIS = np.array([[0.28, 0.16, 0.08], [0.10, 0.07, 0.05], [0.25, 0.45, 0.65],
                  [0.30, 0.45, 0.25], [0.45, 0.35, 0.15]], np.float32)


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------
def _rng(*keys) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


def _u(rng, lo, hi):
    return float(rng.uniform(lo, hi))


def _blur(img, sigma):
    if sigma <= 0:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma),
                            borderType=cv2.BORDER_REFLECT)


_BANK_SIZE = 1 << 20
_BANK: List[np.ndarray] = []


def _gauss(rng, shape) -> np.ndarray:
    """Standard normal float32 noise of ``shape``, fast.

    Drawing normals is the bottleneck of the generator, so noise images are
    cut at random offsets (from ``rng``) out of a fixed bank of 2**20
    normals, with a random sign; deterministic given ``rng``.
    """
    if not _BANK:
        _BANK.append(np.random.default_rng(20240607).standard_normal(
            _BANK_SIZE, dtype=np.float32))
    bank = _BANK[0]
    n = int(np.prod(shape))
    if n > _BANK_SIZE // 2:
        return rng.standard_normal(shape, dtype=np.float32)
    off = int(rng.integers(0, _BANK_SIZE - n))
    out = bank[off:off + n].reshape(shape)
    return -out if rng.random() < 0.5 else out.copy()


def _clip(x, lo, hi):
    """``np.clip`` without its Python-level overhead (hot path)."""
    return np.minimum(np.maximum(x, lo), hi)


def _soft(d, w):
    """Anti-aliased step: 1 inside (d > 0), 0 outside, ramp of width w."""
    return _clip(0.5 + d / w, 0.0, 1.0)


def _noise(rng, shape, sigma):
    """Gaussian noise field blurred by ``sigma`` px, rescaled to unit std."""
    n = _gauss(rng, shape)
    if sigma > 0:
        n = _blur(n, sigma)
        s = float(n.std())
        if s > 0:
            n /= s
    return n


def _lowfreq_noise(rng, S, cells):
    """Smooth unit-std noise: a ``cells`` x ``cells`` grid, upsampled."""
    g = rng.standard_normal((cells, cells), dtype=np.float32)
    n = cv2.resize(g, (S, S), interpolation=cv2.INTER_CUBIC)
    s = float(n.std())
    return n / s if s > 0 else n


def _hsv_colour(rng, s_range=(0.1, 0.6), v_range=(0.2, 0.9)):
    hsv = np.uint8([[[rng.integers(0, 180), int(255 * _u(rng, *s_range)),
                      int(255 * _u(rng, *v_range))]]])
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255


# --------------------------------------------------------------------------
# identities, sessions, frames
# --------------------------------------------------------------------------
def _sample_identity(rng, spec) -> dict:
    t = rng.beta(1.3, 1.3)
    skin = _SKIN_DARK + t * (_SKIN_LIGHT - _SKIN_DARK)
    skin = _clip(skin * (1 + rng.normal(0, 0.04, 3)), 0.05, 1).astype(
        np.float32)
    hair = _HAIR[rng.choice(len(_HAIR), p=_HAIR_P)] * _u(rng, 0.85, 1.15)
    room = np.asarray(spec['room'], np.float32)
    bg1 = _clip(_hsv_colour(rng, (0.05, 0.45), (0.35, 0.9)) * room, 0, 1)
    bg2 = _clip(_hsv_colour(rng, (0.05, 0.45), (0.2, 0.8)) * room, 0, 1)
    a = _u(rng, 0.18, 0.23)
    return dict(
        skin=skin,
        # the person wearing this subject's mask in mask attacks
        wearer=_clip(skin * rng.uniform(0.8, 1.15, 3), 0.05, 1).astype(
            np.float32),
        a=a, b=a * _u(rng, 1.22, 1.42), jaw=_u(rng, 0.0, 0.35),
        eye_u=_u(rng, 0.36, 0.46), eye_v=_u(rng, -0.22, -0.10),
        eye_ru=_u(rng, 0.13, 0.18), eye_rv=_u(rng, 0.05, 0.075),
        iris=_IRIS[rng.integers(len(_IRIS))], iris_r=_u(rng, 0.45, 0.6),
        brow_dv=_u(rng, 0.13, 0.19), brow_th=_u(rng, 0.035, 0.07),
        brow_tilt=_u(rng, -0.25, 0.2),
        nose_v=_u(rng, 0.18, 0.30), nose_w=_u(rng, 0.06, 0.10),
        nose_h=_u(rng, 0.18, 0.32),
        mouth_v=_u(rng, 0.46, 0.58), mouth_ru=_u(rng, 0.16, 0.24),
        lip_rv=_u(rng, 0.035, 0.06),
        lip=_clip(skin * np.array([0.95, 0.55, 0.55]) +
                    np.array([0.08, 0.0, 0.02]), 0, 1).astype(np.float32),
        hair=hair.astype(np.float32),
        hair_style=int(rng.choice(4, p=[0.12, 0.35, 0.28, 0.25])),
        hairline=_u(rng, -0.78, -0.52), hair_vol=_u(rng, 1.06, 1.22),
        beard=bool(rng.random() < 0.2), glasses=bool(rng.random() < 0.15),
        frame_col=_hsv_colour(rng, (0.0, 0.5), (0.05, 0.35)),
        clothes=_hsv_colour(rng, (0.1, 0.8), (0.15, 0.85)),
        bg1=bg1.astype(np.float32), bg2=bg2.astype(np.float32),
        bg_style=int(rng.integers(0, 3)),
        bg_rects=[(_u(rng, 0, 1), _u(rng, 0, 1), _u(rng, 0.08, 0.4),
                   _u(rng, 0.05, 0.3), _hsv_colour(rng) * room)
                  for _ in range(int(rng.integers(1, 4)))],
    )


def _sample_session(rng) -> dict:
    return dict(
        light=(_u(rng, -0.7, 0.7), _u(rng, -0.6, 0.4)),
        ambient=_u(rng, 0.30, 0.50), diffuse=_u(rng, 0.55, 0.8),
        light_col=np.array([1.0, 1.0, 1.0]) + rng.normal(0, 0.04, 3),
        dx=_u(rng, -0.04, 0.04), dy=_u(rng, -0.03, 0.04),
        scale=_u(rng, 0.9, 1.1), bg_shift=_u(rng, -0.1, 0.1))


def _sample_frame(rng, session, rigid=False) -> dict:
    lx, ly = session['light']
    return dict(
        cx=0.5 + session['dx'] + _u(rng, -0.015, 0.015),
        cy=0.50 + session['dy'] + _u(rng, -0.015, 0.015),
        scale=session['scale'] * _u(rng, 0.97, 1.03),
        roll=_u(rng, -7, 7) * np.pi / 180, yaw=_u(rng, -0.12, 0.12),
        smile=0.0 if rigid else _u(rng, -0.3, 1.0),
        mouth_open=0.0 if rigid or rng.random() < 0.6 else _u(rng, 0.2, 0.8),
        eye_open=1.0 if rigid or rng.random() > 0.1 else _u(rng, 0.1, 0.3),
        light=(lx + _u(rng, -0.08, 0.08), ly + _u(rng, -0.08, 0.08)),
        ambient=session['ambient'] * _u(rng, 0.95, 1.05),
        diffuse=session['diffuse'] * _u(rng, 0.95, 1.05),
        light_col=session['light_col'], bg_shift=session['bg_shift'])


# --------------------------------------------------------------------------
# face renderer
# --------------------------------------------------------------------------
class _Painter:
    """Paints anti-aliased shapes defined in face coordinates (u, v).

    u runs along the face width in units of the semi-axis ``a``, v along the
    height in units of ``b`` (image-normalised units), rotated by ``roll``.
    Every shape is evaluated on its own pixel window only (fast).
    """

    def __init__(self, S, cx, cy, a, b, roll, stack, height):
        self.S, self.cx, self.cy, self.a, self.b = S, cx, cy, a, b
        self.c, self.s = float(np.cos(roll)), float(np.sin(roll))
        coords = (np.arange(S, dtype=np.float32) + 0.5) / S
        X = coords[None, :] - cx
        Y = coords[:, None] - cy
        # face coordinates of every pixel; windows are views into these
        self.U = (X * self.c + Y * self.s) * (1.0 / a)
        self.V = (Y * self.c - X * self.s) * (1.0 / b)
        # stack: planar (6, S, S) = r, g, b, ir reflectance, pores,
        # specular weight (planar: per-pixel maps broadcast fast)
        self.stack, self.height = stack, height
        self.px = 1.0 / (S * min(a, b))  # one pixel in face units

    def window(self, u0, v0, ru, rv):
        S = self.S
        X = self.a * u0 * self.c - self.b * v0 * self.s + self.cx
        Y = self.a * u0 * self.s + self.b * v0 * self.c + self.cy
        R = max(ru * self.a, rv * self.b) * S + 2
        x0, x1 = int(max(0, X * S - R)), int(min(S, X * S + R + 1))
        y0, y1 = int(max(0, Y * S - R)), int(min(S, Y * S + R + 1))
        if x1 <= x0 or y1 <= y0:
            return None
        sl = (slice(y0, y1), slice(x0, x1))
        return sl, self.U[sl], self.V[sl]

    def ellipse(self, u0, v0, ru, rv, rot=0.0, bend=0.0, ring=None):
        """Alpha of an ellipse (or of a ring of width ``ring``) + window."""
        w = self.window(u0, v0, ru + (ring or 0), rv + (ring or 0))
        if w is None:
            return None, None
        sl, u, v = w
        du, dv = u - u0, v - v0
        if rot:
            c, s = float(np.cos(rot)), float(np.sin(rot))
            du, dv = du * c + dv * s, dv * c - du * s
        du *= 1.0 / ru
        if bend:
            dv += (bend * rv) * du * du
        dv *= 1.0 / rv
        du *= du
        dv *= dv
        du += dv
        e = np.sqrt(du, out=du)
        k = min(ru, rv) / self.px
        if ring is None:  # alpha = clip(0.5 + k * (1 - e))
            e *= -k
            e += 0.5 + k
        else:  # alpha = clip(0.5 + ring / px - k * |1 - e|)
            e -= 1.0
            np.abs(e, out=e)
            e *= -k
            e += 0.5 + ring / self.px
        np.maximum(e, 0.0, out=e)
        return sl, np.minimum(e, 1.0, out=e)

    def paint(self, sl, alpha, rgb=None, ir=None, spec=None, pores=None):
        """Alpha-blend values into the planar maps inside window ``sl``:
        ``rgb`` is a colour (3,) or a window-sized texture (3, h, w); the
        others are scalars."""
        if sl is None:
            return
        sy, sx = sl
        vals = [None] * 6
        if rgb is not None:
            if np.ndim(rgb) == 3:  # texture
                d = self.stack[0:3, sy, sx]
                d += alpha * (rgb - d)
            else:
                vals[0:3] = [float(c) for c in rgb]
        for i, x in ((3, ir), (4, pores), (5, spec)):
            if x is not None:
                vals[i] = float(x)
        i = 0
        while i < 6:  # blend each run of consecutive channels at once
            if vals[i] is None:
                i += 1
                continue
            j = i
            while j < 6 and vals[j] is not None:
                j += 1
            d = self.stack[i:j, sy, sx]
            v = np.array(vals[i:j], np.float32).reshape(-1, 1, 1)
            d += alpha * (v - d)
            i = j

    def raise_height(self, sl, h):
        if sl is not None:
            np.maximum(self.height[sl], h, out=self.height[sl])


def _background(S, ident, fr) -> np.ndarray:
    """Room behind the subject, planar (3, S, S); cached per image size and
    session."""
    cache = ident.setdefault('_bg_cache', {})
    key = (S, fr['bg_shift'])
    if key not in cache:
        if len(cache) > 8:
            cache.clear()
        cache[key] = _make_background(S, ident, fr)
    return cache[key]


def _make_background(S, ident, fr) -> np.ndarray:
    # drawn at a quarter of the resolution and upsampled: the room is out of
    # focus anyway
    s = max(16, S // 4)
    y = (np.arange(s, dtype=np.float32) + 0.5) / s
    t = _clip(y[:, None] + 1.5 * (y[None, :] - 0.5) * fr['bg_shift'], 0,
                1)[..., None]
    bg = ident['bg1'] * (1 - t) + ident['bg2'] * t
    if ident['bg_style'] > 0:
        for (rx, ry, rw, rh, col) in ident['bg_rects']:
            x0 = int(round((rx + fr['bg_shift'] - rw / 2) * s))
            y0 = int(round((ry - rh / 2) * s))
            x1, y1 = x0 + max(1, int(rw * s)), y0 + max(1, int(rh * s))
            x0, y0 = max(0, x0), max(0, y0)
            if x1 > x0 and y1 > y0:
                bg[y0:y1, x0:x1] = col
    bg = cv2.resize(bg.astype(np.float32), (S, S),
                    interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(bg.transpose(2, 0, 1))


def _render(S, ident, fr, rng, mode='live') -> dict:
    """Render one face scene. ``mode`` is ``'live'`` or ``'mask'`` (the
    subject's face replaced by a rigid mask worn by someone else).

    Returns linear-ish RGB in [0, 1], a height map (0 = background, ~1 = nose
    tip), an NIR reflectance-shaded image and the face box in pixels.
    """
    mask = mode == 'mask'
    a, b = ident['a'] * fr['scale'], ident['b'] * fr['scale']
    if mask:  # a mask is a generic (average-shaped), rigid shell
        a, b = a * 1.02, 0.5 * b + 0.5 * 1.32 * a
    cx, cy, roll, yaw = fr['cx'], fr['cy'], fr['roll'], fr['yaw']
    stack = np.empty((6, S, S), np.float32)
    stack[0:3] = _background(S, ident, fr)
    stack[3] = 0.35
    stack[4:6] = 0.0
    height = np.zeros((S, S), np.float32)
    P = _Painter(S, cx, cy, a, b, roll, stack, height)
    skin = ident['skin']
    body_skin = ident['wearer'] if mask else skin
    hair = ident['hair']

    # shoulders and neck
    sl, al = P.ellipse(0.0, 2.35, 2.6, 1.0)
    P.paint(sl, al, rgb=ident['clothes'], ir=0.55)
    P.raise_height(sl, al * 0.25 if sl is not None else None)
    sl, al = P.ellipse(0.0, 1.05, 0.55, 0.75)
    P.paint(sl, al, rgb=body_skin * 0.85, ir=0.75, pores=1.0)
    if sl is not None:
        _, u, _ = P.window(0.0, 1.05, 0.55, 0.75)
        P.raise_height(sl, al * (0.35 + 0.2 * np.sqrt(
            _clip(1 - (u / 0.55)**2, 0, 1))))
    # long hair behind the head
    if ident['hair_style'] == 3:
        sl, al = P.ellipse(0.0, 0.15, 1.25 * ident['hair_vol'], 1.15)
        P.paint(sl, al, rgb=hair * 0.8, ir=0.3, pores=0.0)
        P.raise_height(sl, al * 0.3)
    # ears
    for side in (-1, 1):
        sl, al = P.ellipse(side * (0.98 - 0.3 * side * yaw), -0.02, 0.14, 0.2)
        P.paint(sl, al, rgb=body_skin * 0.92, ir=0.78, pores=1.0)
        P.raise_height(sl, al * 0.5)

    # the face: an egg-shaped ellipsoid (narrower jaw)
    w = P.window(0, 0, 1.0, 1.0)
    sl, u, v = w
    uj = u * (1 + ident['jaw'] * np.maximum(v, 0))
    r2 = uj**2 + v**2
    al = _soft((1 - np.sqrt(r2)), P.px)
    hgt = 0.55 + 0.45 * np.sqrt(_clip(1 - r2, 0, 1))
    if mask:
        P.paint(sl, al, rgb=skin, ir=0.55, spec=1.0, pores=0.0)
    else:
        P.paint(sl, al, rgb=skin, ir=0.82, spec=0.35, pores=1.0)
    P.raise_height(sl, al * hgt)
    face_u, face_v, face_al = u, v, al
    # forehead / cheek colour variation (blush) -- skin only
    if not mask:
        for side in (-1, 1):
            s2, a2 = P.ellipse(side * 0.5 + yaw * 0.5, 0.25, 0.28, 0.2)
            P.paint(s2, a2 * 0.25,
                    rgb=_clip(skin * np.array([1.05, 0.85, 0.85]), 0, 1))
    # nose: a height bump along the centre line, nostrils
    nu = yaw * 0.9
    s2, a2 = P.ellipse(nu, ident['nose_v'] - 0.12, ident['nose_w'] * 1.6,
                       0.32)
    if s2 is not None:
        _, u2, v2 = P.window(nu, ident['nose_v'] - 0.12,
                             ident['nose_w'] * 1.6, 0.32)
        bump = np.exp(-((u2 - nu) / ident['nose_w'])**2 / 2 -
                      ((v2 - ident['nose_v'] + 0.1) / 0.22)**2 / 2)
        height[s2] += ident['nose_h'] * bump * (0.6 if mask else 1)
    if not mask:
        for side in (-1, 1):
            s2, a2 = P.ellipse(nu + side * ident['nose_w'] * 0.8,
                               ident['nose_v'] + 0.04, 0.04, 0.025)
            P.paint(s2, a2 * 0.8, rgb=skin * 0.35, ir=0.3)
    # eyes (with sockets)
    eo = fr['eye_open']
    for side in (-1, 1):
        eu = side * ident['eye_u'] + yaw * 0.6
        ev = ident['eye_v']
        s2, a2 = P.ellipse(eu, ev, ident['eye_ru'] * 1.3,
                           ident['eye_rv'] * 2.2)
        if s2 is not None:  # socket: lower the height a little
            height[s2] -= 0.06 * a2
        rv = ident['eye_rv'] * eo
        s2, a2 = P.ellipse(eu, ev, ident['eye_ru'] * 1.12, rv * 1.5 + 0.01)
        P.paint(s2, a2, rgb=skin * 0.45, ir=0.45)  # lids / lashes
        s2, a2 = P.ellipse(eu, ev, ident['eye_ru'], rv)
        P.paint(s2, a2, rgb=(0.84, 0.82, 0.78), ir=0.7, pores=0.0,
                spec=1.0)
        ir_r = ident['iris_r'] * ident['eye_rv']
        s3, a3 = P.ellipse(eu + yaw * 0.1, ev, ir_r * b / a, ir_r)
        if s3 is not None and s2 is not None:
            # clip the iris to the eye opening
            a3 = a3 * _rect_crop(a2, s2, s3)
            P.paint(s3, a3, rgb=ident['iris'], ir=0.35)
            s4, a4 = P.ellipse(eu + yaw * 0.1, ev, ir_r * 0.45 * b / a,
                               ir_r * 0.45)
            if s4 is not None:
                P.paint(s4, a4 * _rect_crop(a2, s2, s4), rgb=(0.0, 0.0, 0.0),
                        ir=0.05)
        if mask:  # eye-hole rim of the mask
            s2, a2 = P.ellipse(eu, ev, ident['eye_ru'] * 1.25,
                               ident['eye_rv'] * 1.6, ring=0.03)
            P.paint(s2, a2 * 0.6, rgb=skin * 0.35, ir=0.25)
        # brows
        s2, a2 = P.ellipse(eu, ev - ident['brow_dv'], ident['eye_ru'] * 1.25,
                           ident['brow_th'], rot=side * ident['brow_tilt'],
                           bend=-0.6)
        P.paint(s2, a2 * (0.5 if mask else 0.95),
                rgb=hair * 0.55 if not mask else skin * 0.55, ir=0.4)
    # mouth
    mv, mru, lrv = ident['mouth_v'], ident['mouth_ru'], ident['lip_rv']
    smile, mo = fr['smile'], fr['mouth_open']
    lip = ident['lip'] if not mask else 0.5 * (ident['lip'] + skin)
    s2, a2 = P.ellipse(yaw * 0.5, mv, mru * (1 + 0.1 * smile),
                       lrv * (1 + mo), bend=-0.8 * smile)
    P.paint(s2, a2, rgb=lip, ir=0.7, pores=0.3)
    if mo > 0:
        s2, a2 = P.ellipse(yaw * 0.5, mv, mru * 0.75, lrv * mo * 0.9,
                           bend=-0.8 * smile)
        P.paint(s2, a2, rgb=(0.15, 0.05, 0.05), ir=0.2)
    else:
        s2, a2 = P.ellipse(yaw * 0.5, mv, mru * 0.9, 0.008, bend=-0.8 * smile)
        P.paint(s2, a2 * 0.7, rgb=lip * 0.4, ir=0.4)
    # beard (live only: a mask hides it)
    if ident['beard'] and not mask:
        bal = face_al * _soft(face_v - (mv - 0.12), 0.05) * 0.75
        bal = bal * (1 - _clip(_soft(1 - np.sqrt(
            ((face_u - yaw * 0.5) / (mru * 1.1))**2 +
            ((face_v - mv) / (lrv * (1 + mo) * 1.5))**2), 0.05), 0, 1))
        tex = 0.75 + 0.25 * _noise(rng, bal.shape, 0.6)
        P.paint(sl, bal, rgb=hair[:, None, None] * tex, ir=0.35,
                pores=0.0)
    if mask:  # mask edge seam
        seam = face_al * _soft(0.045 - np.abs(np.sqrt(r2) - 0.93), P.px)
        P.paint(sl, seam * 0.55, rgb=skin * 0.45, ir=0.3)
    # hair on top of the head
    if ident['hair_style'] > 0:
        vol = ident['hair_vol']
        w = P.window(0, -0.08, vol, vol)
        if w is not None:
            s2, u2, v2 = w
            rh = np.sqrt(u2**2 + ((v2 + 0.08) / vol)**2 * 1.0) / vol
            hl = ident['hairline'] + 0.35 * u2**2 + (
                0.12 if ident['hair_style'] == 1 else 0)
            ah = _soft(1 - rh, P.px) * _soft(hl - v2, 0.04)
            # strands: noise smeared along the (image) vertical
            tex = cv2.blur(0.8 + 0.2 * _noise(rng, ah.shape, 0.0), (1, 5))
            P.paint(s2, ah, rgb=hair[:, None, None] * tex, ir=0.3,
                    pores=0.0, spec=0.2)
            P.raise_height(s2, ah * (0.6 + 0.45 * np.sqrt(
                _clip(1 - rh**2, 0, 1))))
    # glasses (frames only)
    if ident['glasses']:
        for side in (-1, 1):
            eu = side * ident['eye_u'] + yaw * 0.6
            s2, a2 = P.ellipse(eu, ident['eye_v'], ident['eye_ru'] * 1.5,
                               ident['eye_rv'] * 2.8, ring=0.022)
            P.paint(s2, a2, rgb=ident['frame_col'], ir=0.2, spec=1.0)
        s2, a2 = P.ellipse(yaw * 0.6, ident['eye_v'] - 0.02, 0.12, 0.015)
        P.paint(s2, a2, rgb=ident['frame_col'], ir=0.2)

    # ---- texture and shading ----
    rgb, irr, pores, specw = stack[0:3], stack[3], stack[4], stack[5]
    if not mask:  # fine skin pores + blotches: the live texture cue
        n = 0.055 * _noise(rng, (S, S), 0.45)
        n += 0.03 * _lowfreq_noise(rng, S, 12)
        tex = 1 + pores * n
    else:  # masks: faint low-frequency paint variation only
        tex = 1 + 0.015 * _lowfreq_noise(rng, S, 6)
    hs = _blur(height, 0.7)
    hs *= a * S  # heights in pixels
    gy, gx = np.gradient(hs)
    nz = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    lx, ly = fr['light']
    ln = 1.0 / np.sqrt(lx * lx + ly * ly + 1.0)
    # n = (-gx, -gy, 1) * nz
    ndl = _clip((1.0 - gx * lx - gy * ly) * (nz * ln), 0, 1)
    shade = fr['ambient'] + fr['diffuse'] * ndl
    hx, hy, hz = lx * ln, ly * ln, ln + 1.0
    hn = 1.0 / np.sqrt(hx * hx + hy * hy + hz * hz)
    ndh = _clip((hz - gx * hx - gy * hy) * (nz * hn), 0, 1)
    if mask:
        spec = (0.22 * specw) * ndh**6
    else:
        spec = (0.10 * specw) * ndh**24
    lc = np.asarray(fr['light_col'], np.float32).reshape(3, 1, 1)
    out = rgb * (shade * tex)
    out += spec
    out *= lc
    # NIR: active frontal illumination with distance fall-off
    fall = 0.25 + 0.75 * _clip(height, 0, 1)
    ir = irr * (0.3 + 0.7 * nz) * (fall * fall) * (
        1 + 0.5 * (tex - 1)) + 0.8 * spec
    # face box in pixels (rotated ellipse extent)
    ex = np.sqrt((a * P.c)**2 + (b * P.s)**2) * S
    ey = np.sqrt((a * P.s)**2 + (b * P.c)**2) * S
    box = np.array([cx * S - ex, cy * S - ey, cx * S + ex, cy * S + ey])
    return dict(rgb=_clip(out, 0, 1).astype(np.float32),
                height=_clip(height, 0, 1.2).astype(np.float32),
                ir=_clip(ir, 0, 1).astype(np.float32), box=box)


def _rect_crop(alpha, sl_a, sl_b):
    """Values of ``alpha`` (defined on window ``sl_a``) on window ``sl_b``
    (0 where ``sl_b`` lies outside ``sl_a``)."""
    out = np.zeros((sl_b[0].stop - sl_b[0].start,
                    sl_b[1].stop - sl_b[1].start), np.float32)
    y0 = max(sl_a[0].start, sl_b[0].start)
    y1 = min(sl_a[0].stop, sl_b[0].stop)
    x0 = max(sl_a[1].start, sl_b[1].start)
    x1 = min(sl_a[1].stop, sl_b[1].stop)
    if y1 > y0 and x1 > x0:
        out[y0 - sl_b[0].start:y1 - sl_b[0].start,
            x0 - sl_b[1].start:x1 - sl_b[1].start] = \
            alpha[y0 - sl_a[0].start:y1 - sl_a[0].start,
                  x0 - sl_a[1].start:x1 - sl_a[1].start]
    return out


# --------------------------------------------------------------------------
# presentation attack instruments
# --------------------------------------------------------------------------
def _random_homography(rng, S, scale_range, jitter=0.04):
    c = S / 2
    src = np.float32([[0, 0], [S, 0], [S, S], [0, S]])
    s = _u(rng, *scale_range)
    rot = _u(rng, -6, 6) * np.pi / 180
    R = np.array([[np.cos(rot), -np.sin(rot)], [np.sin(rot), np.cos(rot)]])
    t = rng.uniform(-0.04, 0.04, 2) * S
    dst = (src - c) @ R.T * s + c + t + rng.uniform(-jitter, jitter,
                                                    (4, 2)) * S
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def _warp(img, M, S, interp=cv2.INTER_LINEAR):
    """Perspective warp of a 2-D map or a planar (C, S, S) image."""
    if img.ndim == 3:
        return np.stack([_warp(c, M, S, interp) for c in img])
    return cv2.warpPerspective(img, M, (S, S), flags=interp,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _resize(img, S):
    """Bilinear resize of a 2-D map or a planar (C, h, w) image to S x S."""
    if img.ndim == 3:
        return np.stack([_resize(c, S) for c in img])
    return cv2.resize(img, (S, S), interpolation=cv2.INTER_LINEAR)


def _blur3(img, sigma):
    """Gaussian blur of a planar (C, S, S) image."""
    if sigma <= 0:
        return img
    return np.stack([_blur(c, sigma) for c in img])


def _warp_box(box, M, S):
    x1, y1, x2, y2 = box
    pts = np.float32([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]])
    q = cv2.perspectiveTransform(pts, M)[0]
    return np.array([q[:, 0].min(), q[:, 1].min(), q[:, 0].max(),
                     q[:, 1].max()])


_GRIDS: Dict[int, Tuple[np.ndarray, np.ndarray]] = {}


def _grid(S):
    """Pixel-centre coordinates (yy, xx) in pixels, cached per size."""
    if S not in _GRIDS:
        yy, xx = np.mgrid[0:S, 0:S].astype(np.float32) + 0.5
        _GRIDS[S] = (yy, xx)
    return _GRIDS[S]


def _print_medium(photo, rng, S):
    """Printed photo: CMY halftone dots, reduced dynamic range, paper
    fibres, slight blur. ``photo`` and the result are planar (3, S, S)."""
    pitch = _u(rng, 2.6, 3.6)  # halftone cell in pixels
    y, x = _grid(S)
    f = 2 * np.pi / pitch
    out = np.empty_like(photo)
    for ch, ang in enumerate((15.0, 75.0, 45.0)):  # C, M, Y screens
        t = np.deg2rad(ang + _u(rng, -3, 3))
        c, sn = float(np.cos(t)), float(np.sin(t))
        screen = 0.5 + 0.25 * (np.cos((x * c + y * sn) * f) +
                               np.cos((y * c - x * sn) * f))
        ink = 1.0 - photo[ch]
        dots = 1 / (1 + np.exp(-10 * (ink - screen)))
        out[ch] = 1 - (0.3 * ink + 0.7 * dots)
    lo, hi = _u(rng, 0.08, 0.16), _u(rng, 0.78, 0.88)
    fib = 0.035 * _noise(rng, (S, S), 0.8) + 0.03 * _lowfreq_noise(rng, S, 10)
    out = (lo + (hi - lo) * out) * (1 + fib)
    return _blur3(out.astype(np.float32), _u(rng, 0.4, 0.8))


def _flat_shade(rng, S, fr):
    """Lighting of a flat surface: a smooth linear gradient, no face shape."""
    yy, xx = _grid(S)
    lx, ly = fr['light']
    k = (fr['ambient'] + fr['diffuse'] * 0.8) * _u(rng, 0.95, 1.05)
    return k * (1 + (0.25 / S) * (lx * (xx - S / 2) + ly * (yy - S / 2)))


def _sheen(rng, S):
    """A broad soft highlight (glossy paper)."""
    yy, xx = _grid(S)
    cx, cy, s = _u(rng, 0, 1) * S, _u(rng, 0, 1) * S, _u(rng, 0.2, 0.5) * S
    return np.exp(((xx - cx)**2 + (yy - cy)**2) * (-0.5 / (s * s)))


def _flat_depth(rng, S, cover, d0):
    """Depth of a flat plane (paper / screen), slightly tilted."""
    yy, xx = _grid(S)
    plane = d0 + (_u(rng, -0.02, 0.02) / S) * (xx - S / 2) + (
        _u(rng, -0.02, 0.02) / S) * (yy - S / 2)
    return (plane * (cover > 0.5)).astype(np.float32)


def _box_mean(img, box):
    """Mean colour of planar ``img`` inside ``box`` (whole image if the box
    is degenerate)."""
    S = img.shape[1]
    x1, y1, x2, y2 = [int(round(min(max(v, 0), S))) for v in box]
    if x2 - x1 < 2 or y2 - y1 < 2:
        return img.reshape(3, -1).mean(1)
    return img[:, y1:y2, x1:x2].reshape(3, -1).mean(1)


def _match_mean(img, box, ref, ref_box):
    """Per-channel gain so that the face box of planar ``img`` has the mean
    colour of the face box of the live reference ``ref``: attacks are not
    separable by mean colour (of the face crop or of the image)."""
    g = _box_mean(ref, ref_box) / (_box_mean(img, box) + 1e-4)
    return _clip(img * g.astype(np.float32).reshape(3, 1, 1), 0, 1)


def _prepare_print(photo, vrng, S) -> dict:
    """The printed sheet of a print-attack video (one per video)."""
    gray = photo['rgb'].mean(0)
    return dict(paper=_print_medium(photo['rgb'], vrng, S),
                ir=0.55 + 0.3 * (0.12 + 0.7 * gray), box=photo['box'],
                d0=_u(vrng, 0.45, 0.7))


def _attack_print(S, prep, fr, env, rng):
    """A frame of the printed sheet held in front of the camera."""
    M = _random_homography(rng, S, (0.92, 1.25), jitter=0.035)
    warped = _warp(prep['paper'], M, S)
    cover = _warp(np.ones((S, S), np.float32), M, S)
    lc = np.asarray(fr['light_col'], np.float32).reshape(3, 1, 1)
    rgb = warped * _flat_shade(rng, S, fr) * lc + 0.04 * _sheen(rng, S)
    rgb = rgb * cover + env['rgb'] * (1 - cover)
    d0 = prep['d0'] + _u(rng, -0.03, 0.03)
    depth = _flat_depth(rng, S, cover, d0)
    ir_paper = _warp(prep['ir'], M, S) * ((0.25 + 0.75 * d0)**2 * 1.6)
    ir = ir_paper * cover + env['ir'] * (1 - cover)
    return rgb, depth, ir, _warp_box(prep['box'], M, S)


def _prepare_replay(photo, vrng, S) -> dict:
    """The screen of a replay-attack video (one per video): the source
    frame with a gamma / saturation shift, inside a black bezel."""
    content = _clip(photo['rgb'], 0, 1)
    if vrng.random() < 0.5:
        g = _u(vrng, 0.7, 0.85)
    else:
        g = _u(vrng, 1.15, 1.35)
    content = np.power(content, np.float32(g))
    lum = content.mean(0)
    content = _clip(lum + _u(vrng, 1.05, 1.3) * (content - lum), 0, 1)
    bw = int(round(_u(vrng, 0.0, 0.06) * S))
    screen = np.zeros((3, S, S), np.float32)
    if bw:
        screen[:, bw:S - bw, bw:S - bw] = np.stack([
            cv2.resize(c, (S - 2 * bw, S - 2 * bw),
                       interpolation=cv2.INTER_AREA) for c in content])
    else:
        screen[:] = content
    box = photo['box'] * (S - 2 * bw) / S + bw
    return dict(screen=screen, ir=0.06 + 0.05 * screen.mean(0), box=box,
                pitch=_u(vrng, 1.6, 2.8), moire_angle=_u(vrng, 0, np.pi),
                moire_period=_u(vrng, 6, 18) * S / 128,
                moire_amp=_u(vrng, 0.05, 0.1), moire_curve=_u(vrng, -1, 1),
                d0=_u(vrng, 0.45, 0.7))


def _attack_replay(S, prep, fr, env, rng):
    """A frame of the screen filmed by the camera."""
    M = _random_homography(rng, S, (0.95, 1.2), jitter=0.02)
    warped = _warp(prep['screen'], M, S)
    cover = _warp(np.ones((S, S), np.float32), M, S)
    # RGB sub-pixel grid in display coordinates, sampled at camera pixels:
    # aliasing of the grid against the sensor produces moire.
    Minv = np.linalg.inv(M).astype(np.float32)
    yy, xx = _grid(S)
    den = Minv[2, 0] * xx + Minv[2, 1] * yy + Minv[2, 2]
    f = np.float32(2 * np.pi / prep['pitch'])
    px = (Minv[0, 0] * xx + Minv[0, 1] * yy + Minv[0, 2]) * f / den
    py = (Minv[1, 0] * xx + Minv[1, 1] * yy + Minv[1, 2]) * f / den
    rows = 0.86 + 0.14 * np.cos(py)
    # extra smooth moire bands (beat of screen and sensor grids)
    th, per = prep['moire_angle'], prep['moire_period']
    phase = (2 * np.pi / per) * (xx * float(np.cos(th)) +
                                 yy * float(np.sin(th))) + (
        0.002 / per * prep['moire_curve']) * (xx - S / 2)**2
    bands = 1 + prep['moire_amp'] * np.cos(phase + _u(rng, 0, 2 * np.pi))
    rb = rows * bands
    rgb = np.empty((3, S, S), np.float32)
    for ch in range(3):
        rgb[ch] = warped[ch] * (
            0.76 + 0.24 * np.cos(px - ch * 2 * np.pi / 3)) * rb
    # glare of a light source on the glass
    gx, gy = _u(rng, 0.15, 0.85) * S, _u(rng, 0.1, 0.7) * S
    sg = _u(rng, 0.06, 0.16) * S
    glare = _u(rng, 0.25, 0.55) * np.exp(
        -((xx - gx)**2 / (2 * (1.8 * sg)**2) + (yy - gy)**2 / (2 * sg**2)))
    rgb += glare * cover
    rgb = rgb * cover + env['rgb'] * (1 - cover)
    depth = _flat_depth(rng, S, cover, prep['d0'] + _u(rng, -0.03, 0.03))
    ir_screen = _warp(prep['ir'], M, S) + 0.6 * glare
    ir = ir_screen * cover + env['ir'] * (1 - cover)
    return rgb, depth, ir, _warp_box(prep['box'], M, S)


def _attack_mask(S, m, rng):
    """Depth of a worn mask; the image is the mask render ``m`` itself."""
    depth = m['height']
    # a mask is a smooth shell: blur the face shape, make it shallower and
    # cut holes where it is not in contact (eye holes)
    sm = _blur(depth, 0.06 * S)
    face = depth > 0.5
    depth = np.where(face, 0.5 + 0.6 * (sm - 0.5), depth * 0.9)
    depth = np.ascontiguousarray(depth, dtype=np.float32)
    if rng.random() < 0.7:
        cx, cy = m['box'][[0, 2]].mean(), m['box'][[1, 3]].mean()
        ew = (m['box'][2] - m['box'][0]) / 2
        eh = (m['box'][3] - m['box'][1]) / 2
        for side in (-1, 1):
            cv2.ellipse(depth, (int(cx + side * 0.4 * ew),
                                int(cy - 0.15 * eh)),
                        (max(1, int(0.14 * ew)), max(1, int(0.06 * eh))), 0,
                        0, 360, 0.0, -1)
    return m['rgb'], depth, m['ir'], m['box']


def region_box_fractions(position: str) -> Tuple[float, float, float, float]:
    """The named region of a face box as fractions ``(u0, v0, u1, v1)`` of
    its width / height (0 = left / top): the half or quadrant named by
    ``position``, in image coordinates as the viewer sees the face crop
    (the convention of :data:`~mmfas.models.utils.cue_maps.CUE_POSITIONS`).
    """
    if position not in OCCLUSION_POSITIONS:
        raise ValueError(f'unknown occlusion position {position!r}; choose '
                         f'from {list(OCCLUSION_POSITIONS)}')
    fx, fy = CUE_POSITIONS[position]

    def span(f):
        return (0.0, 0.5) if f < 0.5 else ((0.5, 1.0) if f > 0.5 else
                                           (0.0, 1.0))

    (u0, u1), (v0, v1) = span(fx), span(fy)
    return u0, v0, u1, v1


def _region_alpha(S, box, position, rng) -> np.ndarray:
    """Anti-aliased (S, S) alpha of an occluder over the named region of
    the face box: the half / quadrant with its inner edges moved by up to
    3 % of the box, outer edges reaching 2-10 % beyond the box, rotated by
    up to 4 degrees about the box centre."""
    x1, y1, x2, y2 = [float(v) for v in box]
    w, h = x2 - x1, y2 - y1
    u0, v0, u1, v1 = region_box_fractions(position)

    def edges(lo, hi):
        out_lo = -_u(rng, 0.02, 0.1) if lo == 0.0 else lo + _u(
            rng, -0.03, 0.03)
        out_hi = 1 + _u(rng, 0.02, 0.1) if hi == 1.0 else hi + _u(
            rng, -0.03, 0.03)
        return out_lo, out_hi

    u0, u1 = edges(u0, u1)
    v0, v1 = edges(v0, v1)
    pts = np.array([[u0, v0], [u1, v0], [u1, v1], [u0, v1]], np.float64)
    pts = pts * [w, h] + [x1, y1]
    c = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    t = np.deg2rad(_u(rng, -4, 4))
    R = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    pts = (pts - c) @ R.T + c
    canvas = np.zeros((S, S), np.uint8)
    cv2.fillPoly(canvas, [np.round(pts * 16).astype(np.int32)], 255,
                 lineType=cv2.LINE_AA, shift=4)
    return canvas.astype(np.float32) * (1 / 255)


def _weave(rng, S):
    """Woven-fabric reflectance: crossing threads, fibre noise and folds."""
    yy, xx = _grid(S)
    p = _u(rng, 2.2, 3.5)
    t = _u(rng, 0, np.pi)
    c, s = float(np.cos(t)), float(np.sin(t))
    f = np.float32(2 * np.pi / p)
    u, v = (xx * c + yy * s) * f, (yy * c - xx * s) * f
    threads = 0.86 + 0.07 * (np.cos(u) + np.cos(v)) * np.sign(
        np.cos(0.5 * u) * np.cos(0.5 * v))
    folds = 1 + 0.12 * _lowfreq_noise(rng, S, 5)
    return threads * folds + 0.04 * _noise(rng, (S, S), 0.5), folds


def _attack_partial(S, ident, fr, scene, occlusion, rng):
    """A live face with the named region covered by an occluding object.

    The occluder is aligned with the face it covers: ``paper`` is the face
    printed (halftone, paper fibres, flat lighting), ``screen`` the face on
    a display (gamma shift, RGB sub-pixel grid, moire, glare, dark in NIR),
    ``mask`` part of a rigid mask (smooth, no pores, sheen), ``cloth`` a
    woven fabric. Inside the region the occluder is gain-matched to the
    live face it hides (no mean-colour cue). Returns the planar RGB, depth,
    IR and the occluder alpha (S, S).
    """
    alpha = _region_alpha(S, scene['box'], occlusion['position'], rng)
    obj = occlusion['object']
    live_h = scene['height']
    lc = np.asarray(fr['light_col'], np.float32).reshape(3, 1, 1)
    yy, xx = _grid(S)
    if obj == 'paper':
        med = _print_medium(scene['rgb'], rng, S)
        med = med * _flat_shade(rng, S, fr) * lc + 0.04 * _sheen(rng, S)
        m_ir = 0.55 + 0.3 * (0.12 + 0.7 * scene['rgb'].mean(0))
        m_depth = np.full((S, S), _u(rng, 1.0, 1.1), np.float32)
    elif obj == 'screen':
        content = np.power(_clip(scene['rgb'], 0, 1),
                           np.float32(_u(rng, 0.7, 0.85) if rng.random() <
                                      0.5 else _u(rng, 1.15, 1.35)))
        lum = content.mean(0)
        content = _clip(lum + _u(rng, 1.05, 1.3) * (content - lum), 0, 1)
        pitch = _u(rng, 1.6, 2.8)
        f = np.float32(2 * np.pi / pitch)
        t = _u(rng, -0.05, 0.05)
        px = (xx * np.float32(np.cos(t)) + yy * np.float32(np.sin(t))) * f
        py = (yy * np.float32(np.cos(t)) - xx * np.float32(np.sin(t))) * f
        per = _u(rng, 6, 18) * S / 128
        th = _u(rng, 0, np.pi)
        bands = 1 + _u(rng, 0.05, 0.1) * np.cos(
            (2 * np.pi / per) * (xx * float(np.cos(th)) +
                                 yy * float(np.sin(th))))
        rb = (0.86 + 0.14 * np.cos(py)) * bands
        med = np.empty((3, S, S), np.float32)
        for ch in range(3):
            med[ch] = content[ch] * (
                0.76 + 0.24 * np.cos(px - ch * 2 * np.pi / 3)) * rb
        gx, gy, sg = _u(rng, 0.2, 0.8) * S, _u(rng, 0.2, 0.8) * S, _u(
            rng, 0.06, 0.14) * S
        glare = _u(rng, 0.2, 0.45) * np.exp(
            -((xx - gx)**2 + (yy - gy)**2) / (2 * sg**2))
        med += glare
        m_ir = 0.06 + 0.05 * content.mean(0) + 0.6 * glare
        m_depth = np.full((S, S), _u(rng, 1.0, 1.1), np.float32)
    elif obj == 'mask':
        m = _render(S, ident, fr, rng, mode='mask')
        med, m_depth, m_ir, _ = _attack_mask(S, m, rng)
        m_depth = np.maximum(m_depth, live_h * 0.95 + 0.05)
    elif obj == 'cloth':
        col = _hsv_colour(rng, (0.15, 0.7), (0.3, 0.85)).reshape(3, 1, 1)
        tex, folds = _weave(rng, S)
        med = col * tex * _flat_shade(rng, S, fr) * lc
        m_ir = 0.5 * folds
        m_depth = np.maximum(_blur(live_h, 0.06 * S), 0.4) + 0.05
    else:
        raise ValueError(f'unknown occluding object {obj!r}; choose from '
                         f'{list(OCCLUSION_OBJECTS)}')
    # gain-match the occluder to the live face it hides
    w = alpha.sum() + 1e-4
    live_mean = (scene['rgb'] * alpha).reshape(3, -1).sum(1) / w
    med_mean = (med * alpha).reshape(3, -1).sum(1) / w
    g = np.clip(live_mean / (med_mean + 1e-4), 0.3, 3.0).astype(np.float32)
    med = _clip(med * g.reshape(3, 1, 1), 0, 1)
    rgb = scene['rgb'] + alpha * (med - scene['rgb'])
    hard = (alpha >= 0.5).astype(np.float32)
    depth = live_h + hard * (m_depth - live_h)
    ir = scene['ir'] + alpha * (m_ir - scene['ir'])
    return (rgb.astype(np.float32), depth.astype(np.float32),
            _clip(ir, 0, 1).astype(np.float32), alpha)


# --------------------------------------------------------------------------
# captions
# --------------------------------------------------------------------------
#: the object as named in a caption
_OBJECT_PHRASES = {'paper': 'paper', 'screen': 'a screen', 'mask': 'a mask',
                   'cloth': 'a cloth'}
_OCCLUDER_CUES = {
    'paper': 'printed halftone dots',
    'screen': 'moire and a pixel grid',
    'mask': 'smooth plastic without pores',
    'cloth': 'woven fabric threads',
}
_CAPTIONS = {
    'none': ('a real face.', 'a photo of a real face.',
             'a live face with natural skin texture and pores.',
             'a bonafide face of a person in front of the camera.',
             'a genuine face, not a spoof.'),
    'print': ('a spoof face.', 'a photo of a spoof face printed on paper.',
              'a print attack: a fake face with halftone dots and paper '
              'texture.',
              'a paper printout of a face, not a real face.',
              'an attack face: a photo printed on paper.'),
    'replay': ('a spoof face.',
               'a photo of a spoof face replayed on a screen.',
               'a replay attack: a fake face with moire patterns and a '
               'pixel grid.',
               'a face shown on a display, not a real face.',
               'an attack face: a video replayed on a screen.'),
    'mask': ('a spoof face.', 'a photo of a spoof face wearing a rigid mask.',
             'a mask attack: a fake face with a smooth plastic surface '
             'without pores.',
             'a plastic face mask, not a real face.',
             'an attack face: a rigid mask with eye holes.'),
}


def occlusion_phrase(position: str, obj: str) -> str:
    """``'the upper left part of the face is covered by paper'`` (``'...
    by a screen'``)."""
    return (f'the {position} part of the face is covered by '
            f'{_OBJECT_PHRASES.get(obj, obj)}')


def demo_captions(attack_type: str,
                  occlusion: Optional[dict] = None) -> List[str]:
    """The captions of a demo image: five sentences true of every image of
    its kind, so equal facts give equal captions (a caption of one image is
    a true caption of another exactly when both lists hold it).

    They say live or spoof in several words (real / live / bonafide /
    genuine, spoof / fake / attack, with negations), the attack and its
    medium, texture cues and, for partial attacks, the covered region and
    the object (``"the upper part of the face is covered by paper."``).

    Args:
        attack_type (str): ``'none'`` (live) or one of
            :data:`DEMO_ATTACK_TYPES`.
        occlusion (dict, optional): ``dict(position=..., object=...)``,
            required for ``'partial'``.
    """
    if attack_type != 'partial':
        if attack_type not in _CAPTIONS:
            raise ValueError(f'no captions for attack type {attack_type!r}')
        return list(_CAPTIONS[attack_type])
    if not occlusion:
        raise ValueError('partial attacks need occlusion=dict(position=..., '
                         'object=...)')
    pos, obj = occlusion['position'], occlusion['object']
    if pos not in OCCLUSION_POSITIONS or obj not in OCCLUSION_OBJECTS:
        raise ValueError(f'unknown occlusion {occlusion!r}: positions '
                         f'{list(OCCLUSION_POSITIONS)}, objects '
                         f'{list(OCCLUSION_OBJECTS)}')
    thing = _OBJECT_PHRASES[obj]
    return ['a spoof face.', occlusion_phrase(pos, obj) + '.',
            f'a partial attack: a spoof face whose {pos} part is covered by '
            f'{thing}.',
            f'a fake face: {thing} over the {pos} part of the face, with '
            f'{_OCCLUDER_CUES[obj]}.',
            f'an attack face, partly covered by {thing}, not a real face.']


# --------------------------------------------------------------------------
# cameras
# --------------------------------------------------------------------------
def _camera_rgb(img, spec, rng):
    """Domain camera on a planar RGB image: colour cast, exposure, optical
    blur, saturation, tone curve, signal-dependent luma + chroma noise,
    8-bit quantisation. Returns an HWC **BGR** uint8 image."""
    gain = np.array([float(c) * spec['exposure'] * _u(rng, 0.95, 1.05)
                     for c in spec['cast']], np.float32).reshape(3, 1, 1)
    x = _blur3(img.astype(np.float32) * gain, spec['blur'])
    if spec['sat'] != 1.0:
        lum = x.mean(0)
        x = lum + spec['sat'] * (x - lum)
    x = _clip(x, 0.0, 1.0)
    if spec['gamma'] != 1.0:
        x = np.power(x, np.float32(1.0 / spec['gamma']))
    S = x.shape[1]
    sig = (spec['noise'] / np.sqrt(1 + spec['chroma']**2)) * (
        0.6 + 0.6 * np.sqrt(x))
    n = _gauss(rng, (3, S, S))
    n *= spec['chroma']
    n += _gauss(rng, (S, S))
    x += sig * n
    x *= 255
    x += 0.5
    x = _clip(x, 0, 255).astype(np.uint8)
    return cv2.merge([x[2], x[1], x[0]])


def _camera_gray(img, noise, rng):
    x = img + _gauss(rng, img.shape) * noise
    return _clip(x * 255 + 0.5, 0, 255).astype(np.uint8)


def _encode_jpg(path, img, quality):
    ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY,
                                         int(quality)])
    if not ok:
        raise IOError(f'could not encode {path}')
    buf.tofile(path)


def _video_plan(live_videos: int, attack_types: Sequence[str],
                attack_videos: int) -> List[Tuple[str, int]]:
    plan = [('none', k) for k in range(live_videos)]
    for t in attack_types:
        plan += [(t, k) for k in range(attack_videos)]
    return plan


def _split_subjects(n: int, ratios: Sequence[float]) -> List[str]:
    """Split names for subjects 0..n-1 (contiguous blocks, >= 1 each)."""
    r = np.asarray(ratios, np.float64)
    r = r / r.sum()
    n_dev = max(1, int(round(n * r[1])))
    n_test = max(1, int(round(n * r[2])))
    n_train = n - n_dev - n_test
    if n_train < 1:
        raise ValueError(f'num_subjects={n} is too small to give every '
                         'split at least one subject (need >= 3)')
    return ['train'] * n_train + ['dev'] * n_dev + ['test'] * n_test


def _gen_subject(task) -> List[dict]:
    """Render and write all videos of one subject; returns its records."""
    (out_dir, seed, d_idx, domain, s_idx, split, plan, frames_per_video,
     modalities) = task
    spec = DOMAIN_SPECS[domain]
    S = spec['size']
    ident = _sample_identity(_rng(seed, d_idx, s_idx, 0, 0, 1), spec)
    sid = f's{s_idx:02d}'
    records = []
    for v_idx, (atype, k) in enumerate(plan):
        vname = f'{sid}_{"live" if atype == "none" else atype}_{k:02d}'
        vdir = osp.join(out_dir, domain, 'frames', vname)
        os.makedirs(vdir, exist_ok=True)
        vrng = _rng(seed, d_idx, s_idx, v_idx + 1, 0, 2)
        session = _sample_session(vrng)
        prep = occlusion = None
        if atype == 'partial':  # one region and object per video
            occlusion = dict(
                position=OCCLUSION_POSITIONS[int(vrng.integers(
                    len(OCCLUSION_POSITIONS)))],
                object=OCCLUSION_OBJECTS[int(vrng.integers(
                    len(OCCLUSION_OBJECTS)))])
        if atype in ('print', 'replay'):
            # the photo / video shown was captured in another session
            src = _sample_session(vrng)
            src.update(light=(_u(vrng, -0.3, 0.3), _u(vrng, -0.3, 0.1)),
                       dx=0.0, dy=0.0)
            photo = _render(S, ident, _sample_frame(vrng, src), vrng)
            prep = (_prepare_print if atype == 'print' else _prepare_replay)(
                photo, vrng, S)
        for f_idx in range(frames_per_video):
            frng = _rng(seed, d_idx, s_idx, v_idx + 1, f_idx + 1, 5)
            fr = _sample_frame(frng, session, rigid=atype == 'mask')
            alpha = None
            if atype == 'none':
                scene = _render(S, ident, fr, frng)
                rgb, depth, ir, box = (scene['rgb'], scene['height'],
                                       scene['ir'], scene['box'])
            elif atype == 'partial':
                scene = _render(S, ident, fr, frng)
                rgb, depth, ir, alpha = _attack_partial(S, ident, fr, scene,
                                                        occlusion, frng)
                box = scene['box']
            else:
                # what a live capture of this frame would look like (half
                # resolution is enough): the room around the attack
                # instrument and the mean colour the attack is matched to
                ref = _render(S // 2, ident, fr, frng)
                env = dict(rgb=_resize(ref['rgb'], S),
                           ir=_resize(ref['ir'], S))
                if atype == 'print':
                    rgb, depth, ir, box = _attack_print(S, prep, fr, env, frng)
                elif atype == 'replay':
                    rgb, depth, ir, box = _attack_replay(S, prep, fr, env,
                                                         frng)
                elif atype == 'mask':
                    m = _render(S, ident, fr, frng, mode='mask')
                    rgb, depth, ir, box = _attack_mask(S, m, frng)
                else:
                    raise ValueError(f'unknown attack type {atype!r}')
                rgb = _match_mean(rgb, box, ref['rgb'], ref['box'])
            box = _clip(box, 0, S)
            # the converters' naming (annotation.frame_filename)
            vdir = f'{domain}/frames/{vname}/'
            paths = {m: vdir + frame_filename(f_idx, m) for m in modalities}
            if 'rgb' in modalities:
                img = _camera_rgb(rgb, spec, frng)  # BGR
                _encode_jpg(osp.join(out_dir, paths['rgb']), img,
                            spec['jpeg'])
            if 'depth' in modalities:
                d = np.where(depth > 0.02, 0.1 + 0.85 * depth, 0.0)
                d = _blur(d.astype(np.float32), 0.8)
                dimg = _camera_gray(d, 0.006, frng)
                _encode_jpg(osp.join(out_dir, paths['depth']), dimg, 95)
            if 'ir' in modalities:
                irimg = _camera_gray(_blur(ir.astype(np.float32), 0.5), 0.02,
                                     frng)
                _encode_jpg(osp.join(out_dir, paths['ir']), irimg,
                            max(60, spec['jpeg']))
            extra = {}
            if alpha is not None:
                # ground-truth region of the occluder, image coordinates
                extra['occlusion'] = dict(occlusion)
                extra['occlusion_mask'] = vdir + f'{f_idx:04d}_occlusion.png'
                ok, buf = cv2.imencode('.png', np.where(
                    alpha >= 0.5, 255, 0).astype(np.uint8))
                if not ok:
                    raise IOError(f'could not encode {extra["occlusion_mask"]}')
                buf.tofile(osp.join(out_dir, extra['occlusion_mask']))
            extra['captions'] = demo_captions(atype, occlusion)
            records.append(make_record(
                label='live' if atype == 'none' else 'spoof',
                attack_type=atype, video_id=f'{domain}/{vname}',
                subject_id=f'{domain}/{sid}', domain=domain, split=split,
                frame=f_idx,
                bbox=[round(float(v), 1) for v in box], **paths, **extra))
    return records


def demo_settings(num_subjects: int = 50,
                  frames_per_video: int = 2,
                  live_videos_per_subject: int = 2,
                  attack_videos_per_type: int = 1,
                  attack_types: Sequence[str] = DEMO_ATTACK_TYPES,
                  domains: Sequence[str] = DEMO_DOMAINS,
                  modalities: Sequence[str] = ('rgb', ),
                  seed: int = 0,
                  split_ratios: Sequence[float] = (0.5, 0.2, 0.3)) -> dict:
    """The settings that determine the generated bytes, normalised (what
    ``demo_meta.json`` stores and what idempotency checks compare)."""
    modalities = [m for m in DEMO_MODALITIES if m in set(modalities)]
    attack_types = list(OrderedDict.fromkeys(attack_types))
    domains = list(OrderedDict.fromkeys(domains))
    return dict(version=META_VERSION, seed=int(seed),
                num_subjects=int(num_subjects),
                frames_per_video=int(frames_per_video),
                live_videos_per_subject=int(live_videos_per_subject),
                attack_videos_per_type=int(attack_videos_per_type),
                attack_types=attack_types, domains=domains,
                modalities=modalities,
                split_ratios=[float(r) for r in split_ratios])


def load_demo_meta(out_dir: str) -> Optional[dict]:
    """The ``demo_meta.json`` of ``out_dir``, or None."""
    path = osp.join(out_dir, META_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def ann_file_of(domain: str, attack_type: str = 'none') -> str:
    """The annotation file (relative to the data root) holding a record of
    ``domain`` with ``attack_type``: ``<domain>/annotations/all.jsonl`` for
    live faces and full-face attacks, ``<domain>/annotations/partial.jsonl``
    for partial-occlusion attacks."""
    name = 'partial' if attack_type == 'partial' else 'all'
    return f'{domain}/annotations/{name}.jsonl'


def load_demo_images(data_root: str,
                     domains: Sequence[str],
                     splits: Union[str, Sequence[str]],
                     pipeline: Sequence[dict],
                     partial: bool = True) -> Tuple[list, List[dict]]:
    """Images of demo domains through a data pipeline, with their records.

    Reads ``<domain>/annotations/all.jsonl`` (and ``partial.jsonl`` with
    ``partial``) of a dataset written by :func:`make_demo_dataset` through
    :class:`~mmfas.datasets.FASDataset` and ``pipeline`` (e.g. the test
    pipeline of ``configs/_base_/datasets/fas_pipelines.py``), so images are
    cropped and resized exactly as in training and testing.

    Args:
        data_root (str): The demo dataset folder (``data/demo``).
        domains (Sequence[str]): Domains to read, e.g. ``['DemoD']``.
        splits (str | Sequence[str]): Splits to keep.
        pipeline (Sequence[dict]): Transform configs ending with
            ``PackFASInputs``.
        partial (bool): Also read the partial-occlusion attacks. Defaults
            to True.

    Returns:
        tuple(list, list[dict]): The packed ``inputs`` tensors (uint8, BGR,
        ``(3, H, W)``) and the annotation record of each (``captions``,
        ``occlusion`` and every other field), in the same order.

    Raises:
        FileNotFoundError: an annotation file is missing (the message says
            how to generate the data).
    """
    from .annotation import load_annotations
    from .fas_dataset import FASDataset
    files = [ann_file_of(d) for d in domains]
    if partial:
        files += [ann_file_of(d, 'partial') for d in domains]
    for f in files:
        if not osp.isfile(osp.join(data_root, f)):
            raise FileNotFoundError(
                f'{osp.join(data_root, f)} not found: generate the demo data '
                f'with python tools/misc/make_demo_data.py --out {data_root}'
                + (' (partial attacks are in the default attack types)'
                   if f.endswith('partial.jsonl') else ''))
    ds = FASDataset(ann_file=files, data_root=data_root, split=splits,
                    pipeline=list(pipeline))
    by_path = {}
    for f in files:
        for r in load_annotations(osp.join(data_root, f), data_root,
                                  check_files=False):
            by_path[osp.join(data_root, r['rgb'])] = r
    images, records = [], []
    for i in range(len(ds)):
        images.append(ds[i]['inputs'])
        records.append(by_path[ds.get_data_info(i)['img_path']])
    return images, records


def is_demo_dataset_complete(out_dir: str, **settings) -> bool:
    """True if ``out_dir`` holds a finished demo dataset made with exactly
    these settings (see :func:`demo_settings`) and its annotation files
    exist."""
    meta = load_demo_meta(out_dir)
    if meta is None or meta.get('settings') != demo_settings(**settings):
        return False
    summary = meta.get('summary', {})
    return all(
        osp.isfile(osp.join(out_dir, p))
        for p in summary.get('ann_files', ['?']) +
        summary.get('partial_ann_files', []))


def _summarise(records_by_domain, settings, out_dir) -> dict:
    doms = OrderedDict()
    for dom, recs in records_by_domain.items():
        splits = OrderedDict()
        for sp in ('train', 'dev', 'test'):
            rs = [r for r in recs if r['split'] == sp]
            at = OrderedDict()
            for t in ['none'] + list(settings['attack_types']):
                at[t] = sum(r['attack_type'] == t for r in rs)
            splits[sp] = dict(
                subjects=len({r['subject_id'] for r in rs}),
                videos=len({r['video_id'] for r in rs}), frames=len(rs),
                live=sum(r['label'] == 'live' for r in rs),
                spoof=sum(r['label'] == 'spoof' for r in rs),
                attack_types=at)
        doms[dom] = dict(
            size=DOMAIN_SPECS[dom]['size'],
            ann_file=ann_file_of(dom),
            videos=len({r['video_id'] for r in recs}), frames=len(recs),
            splits=splits)
        if 'partial' in settings['attack_types']:
            doms[dom]['partial_ann_file'] = ann_file_of(dom, 'partial')
    return dict(
        data_root=out_dir, domains=doms,
        ann_files=[d['ann_file'] for d in doms.values()],
        partial_ann_files=[d['partial_ann_file'] for d in doms.values()
                           if 'partial_ann_file' in d],
        total_videos=sum(d['videos'] for d in doms.values()),
        total_frames=sum(d['frames'] for d in doms.values()),
        total_images=sum(d['frames'] for d in doms.values()) *
        len(settings['modalities']),
        modalities=list(settings['modalities']))


_README = """# mmfas synthetic demo data (NOT real faces)

Everything in this folder is **synthetic**: it was drawn procedurally by
`mmfas.datasets.demo_data.make_demo_dataset` (numpy + OpenCV, seed {seed}).
No real person, photograph or public dataset was used. It exists so that the
mmfas pipeline (data loading, training, leave-one-domain-out evaluation) can
be run end to end anywhere, in minutes; numbers obtained on it say nothing
about real face anti-spoofing performance.

Regenerate with (from the mmfas repository root):

    {command}

## How it was made

* Cartoon faces of many identities (skin tone, face shape, eyes, brows, nose,
  mouth, hair, beard, glasses, clothes, room), with per-video lighting and
  framing and per-frame pose / expression / lighting jitter, shaded from a
  height field (also the depth map).
* `live` (attack_type `none`): the scene captured by the domain camera.
* `print`: a photo from another session, printed (CMY halftone dots,
  reduced dynamic range, paper texture, slight blur), held flat in front of
  the camera.
* `replay`: a video from another session on a screen (gamma shift, RGB
  sub-pixel grid -> moire, glare, bezel).
* `mask`: a rigid, smooth mask of the subject (no skin pores, frozen
  expression, plastic sheen, edge seam, eye-hole rims).
* `partial` (in `annotations/partial.jsonl`): a live face whose named
  region (upper, lower, left, right, upper left, upper right, lower left,
  lower right: the half or quadrant of the face box as the viewer sees it)
  is covered by paper (the region printed), a screen, part of a mask or a
  cloth; `occlusion` names the region and the object, `occlusion_mask` is a
  PNG (0 / 255) of the covered pixels.
* Every record has `captions`: five sentences true of the image (live or
  spoof, attack and medium, texture cues; for partial attacks the covered
  region and the object).
* Attack images are gain-matched to the mean colour of the live capture of
  the same frame, so cues are texture / geometry, not mean colour.
* Domains (cameras) differ in size, colour cast, noise, blur, tone curve,
  JPEG quality and room palette:

| domain | size | colour cast (RGB) | noise | JPEG q |
|---|---|---|---|---|
{domain_rows}

* Depth (`*_depth.jpg`, gray): live = face-shaped; print / replay = flat
  plane; mask = smoothed, shallower face shape with holes. IR (`*_ir.jpg`,
  gray): active NIR with distance fall-off; screens are dark.

## Layout

    <Domain>/frames/<video>/<frame:04d>.jpg   (+ _depth.jpg, _ir.jpg,
                                              _occlusion.png)
    <Domain>/annotations/all.jsonl            mmfas JSONL annotations,
                                              paths relative to this folder
    <Domain>/annotations/partial.jsonl        partial-occlusion attacks

Subjects of each domain are split into disjoint train / dev / test sets.

## Counts

{counts}
"""


def _write_readme(out_dir, settings, summary):
    rows = []
    for dom in settings['domains']:
        s = DOMAIN_SPECS[dom]
        rows.append(f"| {dom} | {s['size']} | {tuple(s['cast'])} | "
                    f"{s['noise']} | {s['jpeg']} |")
    counts = format_summary(summary)
    default = demo_settings()
    cmd = ['python tools/misc/make_demo_data.py --out <this folder>',
           f"--seed {settings['seed']}", f"--subjects {settings['num_subjects']}",
           f"--frames-per-video {settings['frames_per_video']}",
           f"--modalities {' '.join(settings['modalities'])}"]
    for key, flag in (('live_videos_per_subject', '--live-videos'),
                      ('attack_videos_per_type', '--attack-videos'),
                      ('attack_types', '--attack-types'),
                      ('domains', '--domains')):
        if settings[key] != default[key]:
            val = settings[key]
            cmd.append(f"{flag} {' '.join(val) if isinstance(val, list) else val}")
    if settings['split_ratios'] != default['split_ratios']:
        cmd.append(f"# split_ratios={settings['split_ratios']} (Python API)")
    text = _README.format(
        seed=settings['seed'], command=' \\\n        '.join(cmd),
        domain_rows='\n'.join(rows),
        counts='\n'.join('    ' + ln for ln in counts.splitlines()))
    with open(osp.join(out_dir, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(text)


def format_summary(summary: dict) -> str:
    """A small text table of a summary returned by
    :func:`make_demo_dataset`."""
    lines = [f"{'domain':<8}{'size':>5} {'split':<6}{'subj':>5}{'videos':>7}"
             f"{'frames':>7}{'live':>6}{'spoof':>6}  attack types"]
    for dom, d in summary['domains'].items():
        for sp, s in d['splits'].items():
            at = ' '.join(f'{k}={v}' for k, v in s['attack_types'].items())
            lines.append(f"{dom:<8}{d['size']:>5} {sp:<6}{s['subjects']:>5}"
                         f"{s['videos']:>7}{s['frames']:>7}{s['live']:>6}"
                         f"{s['spoof']:>6}  {at}")
    lines.append(f"total: {len(summary['domains'])} domains, "
                 f"{summary['total_videos']} videos, "
                 f"{summary['total_frames']} frames, "
                 f"{summary['total_images']} images "
                 f"({'+'.join(summary['modalities'])})")
    if summary.get('partial_ann_files'):
        lines.append('partial attacks (with region masks) are in '
                     '<Domain>/annotations/partial.jsonl, the rest in '
                     '<Domain>/annotations/all.jsonl')
    return '\n'.join(lines)


def make_demo_dataset(out_dir: str,
                      num_subjects: int = 50,
                      frames_per_video: int = 2,
                      live_videos_per_subject: int = 2,
                      attack_videos_per_type: int = 1,
                      attack_types: Sequence[str] = DEMO_ATTACK_TYPES,
                      domains: Sequence[str] = DEMO_DOMAINS,
                      modalities: Sequence[str] = ('rgb', ),
                      seed: int = 0,
                      split_ratios: Sequence[float] = (0.5, 0.2, 0.3),
                      num_workers: Optional[int] = None) -> dict:
    """Generate the synthetic multi-domain FAS demo dataset.

    The data is **synthetic** (procedurally drawn faces and attacks, see the
    module docstring); it is meant for smoke tests and tutorials only.

    With the defaults: 4 domains (``DemoA`` 96 px, ``DemoB`` 112 px,
    ``DemoC`` 128 px, ``DemoD`` 160 px) x 50 subjects (25 train / 10 dev /
    15 test) x 6 videos (2 live + print + replay + mask + partial) x 2
    frames = 2,400 RGB frames (800 live, 1,600 spoof): 2,000 in the
    ``all.jsonl`` files (live, print, replay, mask) and 400 partial attacks
    with their region masks in the ``partial.jsonl`` files.

    Args:
        out_dir (str): Output folder (the ``data_root``). Domain folders in
            it are replaced if it holds an earlier demo dataset
            (``demo_meta.json``); other existing data is never deleted -- a
            non-demo ``<out_dir>/<Domain>`` raises :class:`FileExistsError`.
        num_subjects (int): Subjects per domain (>= 3). Defaults to 50.
        frames_per_video (int): Frames per video. Defaults to 2.
        live_videos_per_subject (int): Live videos per subject. Defaults
            to 2.
        attack_videos_per_type (int): Videos per subject and attack type.
            Defaults to 1.
        attack_types (Sequence[str]): Subset of ``('print', 'replay',
            'mask', 'partial')``. Defaults to all four.
        domains (Sequence[str]): Subset of ``DEMO_DOMAINS``.
        modalities (Sequence[str]): Any of ``'rgb'``, ``'depth'``, ``'ir'``.
            Defaults to ``('rgb',)``.
        seed (int): Random seed; the output is a deterministic function of
            the settings. Defaults to 0.
        split_ratios (Sequence[float]): Train / dev / test share of the
            subjects (each split gets at least one subject).
        num_workers (int, optional): Worker threads. None: up to the
            number of CPUs (max 8); 0 or 1: in this process.

    Returns:
        dict: Summary with ``data_root``, ``ann_files`` (the ``all.jsonl``
        files, relative to ``out_dir``), ``partial_ann_files``, per-domain /
        per-split counts (subjects, videos, frames, live, spoof, per attack
        type), totals, ``settings`` and ``elapsed_s``.
    """
    t0 = time.time()
    unknown = set(modalities) - set(DEMO_MODALITIES)
    if unknown or not modalities:
        raise ValueError(f'modalities must be a non-empty subset of '
                         f'{DEMO_MODALITIES}, got {list(modalities)}')
    bad = set(attack_types) - set(DEMO_ATTACK_TYPES)
    if bad:
        raise ValueError(f'unknown attack types {sorted(bad)}; '
                         f'expected a subset of {DEMO_ATTACK_TYPES}')
    bad = set(domains) - set(DEMO_DOMAINS)
    if bad or not domains:
        raise ValueError(f'domains must be a non-empty subset of '
                         f'{DEMO_DOMAINS}, got {list(domains)}')
    if frames_per_video < 1 or live_videos_per_subject < 1 or \
            attack_videos_per_type < 0:
        raise ValueError('frames_per_video and live_videos_per_subject '
                         'must be >= 1, attack_videos_per_type >= 0')
    if len(split_ratios) != 3 or min(split_ratios) < 0 or \
            sum(split_ratios) <= 0:
        raise ValueError('split_ratios must be 3 non-negative numbers '
                         f'(train, dev, test), got {split_ratios}')
    settings = demo_settings(num_subjects, frames_per_video,
                             live_videos_per_subject, attack_videos_per_type,
                             attack_types, domains, modalities, seed,
                             split_ratios)
    split_of = _split_subjects(num_subjects, split_ratios)
    plan = _video_plan(live_videos_per_subject, settings['attack_types'],
                       attack_videos_per_type)

    os.makedirs(out_dir, exist_ok=True)
    meta_path = osp.join(out_dir, META_FILE)
    ours = osp.isfile(meta_path) or osp.isfile(meta_path + '.partial')
    if not ours:
        for dom in settings['domains']:
            ddir = osp.join(out_dir, dom)
            if osp.isdir(ddir) and os.listdir(ddir):
                raise FileExistsError(
                    f'{ddir} exists and {out_dir} holds no {META_FILE}: '
                    'refusing to overwrite data that the demo generator did '
                    'not write; choose another out_dir')
    else:  # an earlier demo dataset: replace all its domain folders
        for dom in DEMO_DOMAINS:
            if osp.isdir(osp.join(out_dir, dom)):
                shutil.rmtree(osp.join(out_dir, dom))
    # mark the folder as ours (and incomplete) while writing
    if osp.isfile(meta_path):
        os.replace(meta_path, meta_path + '.partial')
    else:
        with open(meta_path + '.partial', 'w', encoding='utf-8') as f:
            json.dump(dict(settings=settings, complete=False), f)

    tasks = []
    d_index = {d: i for i, d in enumerate(DEMO_DOMAINS)}
    for dom in settings['domains']:
        for s_idx in range(num_subjects):
            tasks.append((out_dir, int(seed), d_index[dom], dom, s_idx,
                          split_of[s_idx], plan, int(frames_per_video),
                          tuple(settings['modalities'])))
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1)
    num_workers = max(1, min(int(num_workers), len(tasks)))
    if num_workers > 1:
        # Threads, not processes: forking a process that already runs
        # threads (torch, a test runner, a converter pool) can deadlock, and
        # spawn would re-import torch in every worker. OpenCV and numpy
        # release the GIL in the heavy drawing / encoding calls; every frame
        # has its own random stream, so the result is order-free.
        prev_threads = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            with ThreadPoolExecutor(num_workers) as pool:
                results = list(pool.map(_gen_subject, tasks))
        finally:
            cv2.setNumThreads(prev_threads)
    else:
        results = [_gen_subject(t) for t in tasks]

    by_domain = OrderedDict((d, []) for d in settings['domains'])
    for task, recs in zip(tasks, results):
        by_domain[task[3]].extend(recs)
    for dom, recs in by_domain.items():
        files = OrderedDict()
        files[ann_file_of(dom)] = []
        if 'partial' in settings['attack_types']:
            files[ann_file_of(dom, 'partial')] = []
        for r in recs:
            files[ann_file_of(dom, r['attack_type'])].append(r)
        for rel, rs in files.items():
            write_annotations(rs, osp.join(out_dir, rel))
    summary = _summarise(by_domain, settings, out_dir)
    _write_readme(out_dir, settings, summary)
    tmp = meta_path + '.partial'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(dict(settings=settings, complete=True,
                       summary={k: v for k, v in summary.items()
                                if k != 'data_root'}), f, indent=1)
    os.replace(tmp, meta_path)
    summary['settings'] = settings
    summary['elapsed_s'] = round(time.time() - t0, 3)
    return summary
