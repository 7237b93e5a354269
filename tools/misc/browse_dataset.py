"""Preview a config's data pipeline: the face crops the model sees.

    python tools/misc/browse_dataset.py CONFIG --output-dir DIR \\
        [--phase train|val|test] [--show-number 20] [--mode transformed|concat]

Each of the first ``--show-number`` samples of the phase's dataset runs
through its pipeline (face crop, resize, augmentations, views) and is
written as ``DIR/<index>_<label>_<attack type>_<domain>.png``: the packed
image(s) as the model receives them before normalisation, the views of a
multi-view pipeline (FLIP-MCL) and the modalities of paired samples side by
side. ``--mode concat`` puts the original image with its face box in front.
mmpretrain's ``browse_dataset.py`` builds the dataset in the mmpretrain
scope, where mmfas' datasets and transforms are not registered; this tool
uses the config's scope. Paths are relative to where it runs (the repo
root for the shipped configs' ``data_root``).
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.config import DictAction

PHASES = dict(train='train_dataloader', val='val_dataloader',
              test='test_dataloader')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a config's pipeline outputs (face crops) as "
        'images')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--output-dir', required=True,
                        help='where the images go')
    parser.add_argument('--phase', default='train', choices=list(PHASES),
                        help='which dataloader to preview (default train)')
    parser.add_argument('--show-number', type=int, default=20,
                        help='how many samples (default 20)')
    parser.add_argument('--mode', default='transformed',
                        choices=['transformed', 'concat'],
                        help='concat: the original image with its face box '
                        'first')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def _to_images(inputs) -> list:
    """Packed inputs -> HWC uint8 BGR images (views, then 3-channel
    groups)."""
    views = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for v in views:
        arr = v.detach().cpu().numpy() if hasattr(v, 'detach') else \
            np.asarray(v)
        arr = np.clip(arr, 0, 255).astype(np.uint8)
        for g in range(arr.shape[0] // 3):
            out.append(np.ascontiguousarray(
                arr[3 * g:3 * g + 3].transpose(1, 2, 0)))
    return out


def _original(info: dict, height: int) -> np.ndarray:
    path = info.get('img_path')
    img = cv2.imread(path) if path else None
    if img is None:
        raise FileNotFoundError(
            f'cannot read the original image {path!r} of sample '
            f'{info.get("sample_idx")} ({info.get("ann_source", "")})')
    box = info.get('face_bbox')
    if box is not None:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(img, (x1, y1), (x2, y2), (0, 255, 0),
                      max(1, img.shape[0] // 100))
    scale = height / img.shape[0]
    return cv2.resize(img, (max(1, round(img.shape[1] * scale)), height))


def _safe(text) -> str:
    return ''.join(c if c.isalnum() or c in '-.' else '-' for c in str(text))


def main(argv=None) -> list:
    from mmengine.registry import init_default_scope

    from mmfas.registry import DATASETS
    from mmfas.utils import (load_config, merge_data_preprocessor,
                             register_all_modules)
    args = parse_args(argv)
    if args.show_number < 1:
        raise ValueError(f'--show-number must be >= 1, got '
                         f'{args.show_number}')
    register_all_modules(init_default_scope=False)
    cfg = load_config(args.config, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_data_preprocessor(cfg)
    init_default_scope(cfg.get('default_scope', 'mmfas'))
    loader = cfg.get(PHASES[args.phase])
    if not loader:
        raise KeyError(f'{args.config} has no {PHASES[args.phase]}')
    dataset = DATASETS.build(loader['dataset'])
    os.makedirs(args.output_dir, exist_ok=True)
    written = []
    for i in range(min(args.show_number, len(dataset))):
        item = dataset[i]
        sample = item['data_samples']
        images = _to_images(item['inputs'])
        h = max(im.shape[0] for im in images)
        row = [cv2.resize(im, (round(im.shape[1] * h / im.shape[0]), h))
               for im in images]
        if args.mode == 'concat':
            row.insert(0, _original(dataset.get_data_info(i), h))
        label = 'live' if int(sample.gt_label[0]) == 1 else 'spoof'
        name = (f'{i:05d}_{label}_{_safe(sample.get("attack_type", ""))}_'
                f'{_safe(sample.get("domain", ""))}.png')
        path = osp.join(args.output_dir, name)
        cv2.imwrite(path, np.concatenate(row, axis=1))
        written.append(path)
    print(f'wrote {len(written)} images of the {args.phase} pipeline '
          f'({type(dataset).__name__}, {len(dataset)} samples) to '
          f'{args.output_dir}')
    return written


if __name__ == '__main__':
    main()
