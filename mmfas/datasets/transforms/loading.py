from typing import Optional

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform

from mmfas.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadFASImages(BaseTransform):
    """Load the image of every modality of a sample.

    **Required Keys:** ``img_paths`` (dict modality -> path, from
    :class:`FASDataset`).

    **Added Keys:** ``img`` (H, W, 3 * M, BGR uint8): the M modality images
    concatenated along channels in ``modalities`` order, so every spatial
    transform (crop, resize, flip) treats all modalities of a sample alike;
    colour transforms touch only the RGB channels. Also ``modalities``
    (list), ``img_shape``, ``ori_shape``.

    Depth and IR images are loaded as 3-channel images and later normalised
    like RGB (CM-CLIP's convention).

    Args:
        to_float32 (bool): Convert to float32. Defaults to False.
        backend (str): mmcv image backend. Defaults to ``'cv2'``.
    """

    def __init__(self, to_float32: bool = False, backend: str = 'cv2'):
        self.to_float32 = to_float32
        self.backend = backend

    def _load(self, path: str) -> np.ndarray:
        try:
            img = mmcv.imread(path, flag='color', backend=self.backend)
        except Exception as e:  # noqa: BLE001 - re-raised with the path
            raise OSError(f'LoadFASImages: cannot read {path}: {e}') from e
        if img is None:
            raise OSError(f'LoadFASImages: cannot decode {path}')
        return img.astype(np.float32) if self.to_float32 else img

    def transform(self, results: dict) -> Optional[dict]:
        paths = results.get('img_paths')
        if not paths:
            raise KeyError('LoadFASImages needs "img_paths" (from FASDataset)')
        mods = list(paths)
        results['modalities'] = mods
        imgs = [self._load(paths[m]) for m in mods]
        shapes = {i.shape[:2] for i in imgs}
        if len(shapes) > 1:
            raise ValueError(f'LoadFASImages: modalities of one sample differ '
                             f'in size {dict(zip(mods, shapes))}: {paths}')
        img = imgs[0] if len(imgs) == 1 else np.ascontiguousarray(
            np.concatenate(imgs, axis=-1))
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(to_float32={self.to_float32}, '
                f'backend={self.backend!r})')
