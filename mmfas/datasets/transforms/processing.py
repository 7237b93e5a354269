import random
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from mmfas.datasets.annotation import AnnotationError, check_bbox
from mmfas.registry import TRANSFORMS



def _rgb_slice(results: dict):
    """Channel slice of the RGB image inside ``img`` (None if no RGB)."""
    mods = results.get('modalities') or ['rgb']
    if 'rgb' not in mods:
        return None
    i = mods.index('rgb')
    return slice(3 * i, 3 * i + 3)


@TRANSFORMS.register_module()
class FaceCrop(BaseTransform):
    """Crop the face box, enlarged by a margin, from the image (all
    modalities, which :class:`LoadFASImages` stacks along channels).

    **Required Keys:** ``img``; ``face_bbox`` (``[x1, y1, x2, y2]``) when
    present; ``ann_source`` (``file:line`` of the annotation, set by
    :class:`FASDataset`) names the record in errors.

    **Modified Keys:** ``img``, ``img_shape``.

    A box that is not four finite numbers with a positive size, or that lies
    entirely outside the image, is an annotation error
    (:class:`~mmfas.datasets.annotation.AnnotationError` naming the
    annotation line); a box partly outside is padded by replicating the
    border.

    Args:
        margin (float): Enlarge the box by this fraction of its size on each
            side. Defaults to 0.2.
        square (bool): Make the box square (longer side) before the margin.
            Defaults to True.
        missing (str): When a sample has no ``face_bbox``: ``'ignore'`` (the
            image already is a face crop, as the converters write it) or
            ``'error'``. Defaults to ``'ignore'``.
    """

    def __init__(self, margin: float = 0.2, square: bool = True,
                 missing: str = 'ignore'):
        if margin < 0:
            raise ValueError(f'FaceCrop: margin must be >= 0, got {margin}')
        if missing not in ('ignore', 'error'):
            raise ValueError('FaceCrop: missing must be "ignore" or "error", '
                             f'got {missing!r}')
        self.margin = margin
        self.square = square
        self.missing = missing

    def _box(self, box, h, w) -> Tuple[int, int, int, int]:
        x1, y1, x2, y2 = [float(v) for v in box]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        bw, bh = x2 - x1, y2 - y1
        if self.square:
            bw = bh = max(bw, bh)
        bw, bh = bw * (1 + 2 * self.margin), bh * (1 + 2 * self.margin)
        return (int(round(cx - bw / 2)), int(round(cy - bh / 2)),
                int(round(cx + bw / 2)), int(round(cy + bh / 2)))

    @staticmethod
    def _crop(img, x1, y1, x2, y2):
        h, w = img.shape[:2]
        pad = max(0, -x1, -y1, x2 - w, y2 - h)
        if pad:
            img = cv2.copyMakeBorder(img, pad, pad, pad, pad,
                                     cv2.BORDER_REPLICATE)
            x1, y1, x2, y2 = x1 + pad, y1 + pad, x2 + pad, y2 + pad
        return img[y1:y2, x1:x2]

    def transform(self, results: dict) -> dict:
        box = results.get('face_bbox')
        if box is None:
            if self.missing == 'error':
                raise KeyError(f'FaceCrop: no face_bbox for '
                               f'{results.get("img_path")}')
            return results
        h, w = results['img'].shape[:2]
        values = [float(v) for v in np.asarray(box).reshape(-1)]
        problems = check_bbox(values, w, h)
        if problems:
            where = results.get('ann_source') or results.get('img_path')
            raise AnnotationError(f'{where}: {problems[0]} '
                                  f'({results.get("img_path")}); FaceCrop '
                                  'cannot crop it')
        x1, y1, x2, y2 = self._box(values, h, w)
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f'FaceCrop: empty box {box} for '
                             f'{results.get("img_path")}')
        results['img'] = self._crop(results['img'], x1, y1, x2, y2)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(margin={self.margin}, '
                f'square={self.square}, missing={self.missing!r})')


@TRANSFORMS.register_module()
class HSVSaturationJitter(BaseTransform):
    """Multiply the HSV saturation of the RGB image by ``U(low, high)``
    with probability ``prob`` (FLIP's training augmentation).

    **Modified Keys:** the RGB channels of ``img``; depth and IR channels
    are left alone.

    Args:
        saturation_range (tuple[float]): Defaults to (0.8, 1.2).
        prob (float): Defaults to 0.5.
    """

    def __init__(self, saturation_range: Sequence[float] = (0.8, 1.2),
                 prob: float = 0.5):
        lo, hi = saturation_range
        if not 0 <= lo <= hi:
            raise ValueError('HSVSaturationJitter: saturation_range must be '
                             f'0 <= low <= high, got {saturation_range}')
        self.saturation_range = (float(lo), float(hi))
        self.prob = prob

    @cache_randomness
    def _draw(self):
        if np.random.rand() >= self.prob:
            return None
        return np.random.uniform(*self.saturation_range)

    def transform(self, results: dict) -> dict:
        sl = _rgb_slice(results)
        factor = self._draw()
        if sl is None or factor is None:
            return results
        img = results['img']
        dtype = img.dtype
        rgb = np.ascontiguousarray(img[..., sl]).astype(np.uint8)
        hsv = cv2.cvtColor(rgb, cv2.COLOR_BGR2HSV)
        s = hsv[..., 1].astype(np.float32) * factor
        hsv[..., 1] = np.clip(s, 0, 255).astype(np.uint8)
        out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(dtype)
        if img.shape[-1] == 3:
            results['img'] = out
        else:
            img = img.copy()
            img[..., sl] = out
            results['img'] = img
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(saturation_range='
                f'{self.saturation_range}, prob={self.prob})')


@TRANSFORMS.register_module()
class FastColorJitter(BaseTransform):
    """torchvision-style ColorJitter on BGR uint8 arrays with OpenCV, in a
    random order, applied with probability ``prob`` (SimCLR: 0.4, 0.4, 0.4,
    0.1, p=0.8). mmpretrain's ``ColorJitter`` with any hue crashes under
    numpy 2, hence this one.

    **Modified Keys:** ``img``.

    Args:
        brightness, contrast, saturation (float): Factor drawn from
            ``U(max(0, 1 - x), 1 + x)``. Defaults to 0.
        hue (float): Shift drawn from ``U(-hue, hue)`` (fraction of the hue
            circle, <= 0.5). Defaults to 0.
        prob (float): Defaults to 1.
    """

    def __init__(self, brightness: float = 0., contrast: float = 0.,
                 saturation: float = 0., hue: float = 0., prob: float = 1.):
        if not 0 <= hue <= 0.5:
            raise ValueError(f'FastColorJitter: hue must be in [0, 0.5], '
                             f'got {hue}')
        self.brightness, self.contrast = brightness, contrast
        self.saturation, self.hue, self.prob = saturation, hue, prob

    @cache_randomness
    def _draw(self):
        if np.random.rand() >= self.prob:
            return None
        ops = []
        for name, x in (('b', self.brightness), ('c', self.contrast),
                        ('s', self.saturation)):
            if x > 0:
                ops.append((name, np.random.uniform(max(0, 1 - x), 1 + x)))
        if self.hue > 0:
            ops.append(('h', np.random.uniform(-self.hue, self.hue)))
        random.Random(np.random.randint(1 << 30)).shuffle(ops)
        return ops

    def transform(self, results: dict) -> dict:
        ops = self._draw()
        if not ops:
            return results
        img = results['img'].astype(np.float32)
        for name, v in ops:
            if name == 'b':
                img = img * v
            elif name == 'c':
                gray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8),
                                    cv2.COLOR_BGR2GRAY)
                img = (img - gray.mean()) * v + gray.mean()
            elif name == 's':
                gray = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8),
                                    cv2.COLOR_BGR2GRAY)[..., None]
                img = (img - gray) * v + gray
            else:
                hsv = cv2.cvtColor(np.clip(img, 0, 255).astype(np.uint8),
                                   cv2.COLOR_BGR2HSV)
                h = hsv[..., 0].astype(np.int32) + int(round(v * 180))
                hsv[..., 0] = np.mod(h, 180).astype(np.uint8)
                img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR).astype(np.float32)
            img = np.clip(img, 0, 255)
        results['img'] = img.astype(np.uint8)
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(brightness={self.brightness}, '
                f'contrast={self.contrast}, saturation={self.saturation}, '
                f'hue={self.hue}, prob={self.prob})')
