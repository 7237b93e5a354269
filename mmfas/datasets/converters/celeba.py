"""CelebA-Spoof converter.

Raw layout (as distributed)::

    <src>/Data/{train,test}/<subject id>/{live,spoof}/<image>.{jpg,png}
    <src>/Data/{train,test}/<subject id>/{live,spoof}/<image>_BB.txt
    <src>/metas/intra_test/{train,test}_label.json   (optional)

``_BB.txt`` holds ``x y w h score`` on a 224 x 224 grid (rescaled to the
image). The label JSON maps ``"Data/train/<id>/spoof/<image>.png"`` to 44
numbers: index 40 = spoof type (0 live, 1 photo, 2 poster, 3 A4, 4 face mask,
5 upper-body mask, 6 region mask, 7 PC, 8 pad, 9 phone, 10 3D mask), 43 =
live (0) / spoof (1). Photo, poster, A4 and the paper masks (4-6) map to
``print``, PC / pad / phone to ``replay``, 3D mask to ``mask``; the exact
kind is kept in ``attack_subtype``. Without the JSON the label comes from the
folder name and a spoof's type is ``other``.

Every image is its own "video" (``video_id`` = image), one frame (0).
"""
import argparse
import json
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .common import VideoJob, add_common_args, find_dir, run_cli, \
    split_counts

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'CELEBA'
SPOOF_TYPES = {0: ('none', None), 1: ('print', 'photo'),
               2: ('print', 'poster'), 3: ('print', 'a4'),
               4: ('print', 'face_mask'), 5: ('print', 'upper_body_mask'),
               6: ('print', 'region_mask'), 7: ('replay', 'pc'),
               8: ('replay', 'pad'), 9: ('replay', 'phone'),
               10: ('mask', '3d_mask')}
ILLUMINATION = {0: 'live', 1: 'normal', 2: 'strong', 3: 'back', 4: 'dark'}
ENVIRONMENT = {0: 'live', 1: 'indoor', 2: 'outdoor'}
IMG_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def read_bb(path: str) -> Optional[List[float]]:
    """``x y w h [score]`` -> ``[x1, y1, x2, y2]`` on the 224 grid."""
    with open(path, encoding='utf-8', errors='replace') as f:
        nums = re.findall(r'-?\d+(?:\.\d+)?', f.read())
    if len(nums) < 4:
        return None
    x, y, w, h = (float(v) for v in nums[:4])
    if w <= 0 or h <= 0:
        return None
    return [x, y, x + w, y + h]


def load_label_json(src: str) -> Dict[str, list]:
    labels = {}
    for name in ('train_label.json', 'test_label.json'):
        for sub in (('metas', 'intra_test'), ('metas',), ()):
            p = osp.join(src, *sub, name)
            if osp.isfile(p):
                with open(p, encoding='utf-8') as f:
                    for k, v in json.load(f).items():
                        labels[k.replace('\\', '/')] = v
                break
    return labels


def collect_jobs(src: str, use_boxes: bool = True,
                 max_per_subject: Optional[int] = None
                 ) -> Tuple[List[VideoJob], dict]:
    data = find_dir(src, ['Data'], max_depth=2)
    if data is None:
        raise FileNotFoundError(f'CelebA-Spoof: no Data/ folder under {src}')
    base = osp.dirname(data)
    labels = load_label_json(base)
    jobs, mismatch, no_meta = [], [], 0
    for split in ('train', 'test'):
        sdir = osp.join(data, split)
        if not osp.isdir(sdir):
            logger.warning('CelebA-Spoof: missing %s', sdir)
            continue
        for subj in sorted(os.listdir(sdir)):
            kept = 0
            for kind in ('live', 'spoof'):
                kdir = osp.join(sdir, subj, kind)
                if not osp.isdir(kdir):
                    continue
                for fname in sorted(os.listdir(kdir)):
                    stem, ext = osp.splitext(fname)
                    if ext.lower() not in IMG_EXTS:
                        continue
                    if max_per_subject and kept >= max_per_subject:
                        break
                    path = osp.join(kdir, fname)
                    key = f'Data/{split}/{subj}/{kind}/{fname}'
                    vec = labels.get(key)
                    label = 'live' if kind == 'live' else 'spoof'
                    extra = {}
                    if vec is not None and len(vec) >= 44:
                        if (int(vec[43]) == 0) != (label == 'live'):
                            mismatch.append(key)
                            continue
                        attack, sub = SPOOF_TYPES.get(int(vec[40]),
                                                      ('other', None))
                        extra.update(
                            spoof_type=int(vec[40]),
                            illumination=ILLUMINATION.get(int(vec[41])),
                            environment=ENVIRONMENT.get(int(vec[42])))
                    else:
                        no_meta += 1
                        attack, sub = ('none', None) if label == 'live' \
                            else ('other', None)
                    if label == 'live':
                        attack, sub = 'none', None
                    if sub:
                        extra['attack_subtype'] = sub
                    name = f'{split}_{subj}_{kind}_{stem}'
                    meta = dict(label=label, attack_type=attack,
                                video_id=f'{DOMAIN}/{name}',
                                subject_id=f'{DOMAIN}/{subj}', domain=DOMAIN,
                                split=split, **extra)
                    boxes = None
                    bb = osp.join(kdir, stem + '_BB.txt')
                    if use_boxes and osp.isfile(bb):
                        b = read_bb(bb)
                        boxes = {0: b} if b else None
                    jobs.append(VideoJob(
                        name=name, meta=meta,
                        source=dict(type='images', frames=[{'rgb': path}],
                                    numbers=[0]),
                        src_path=path, provided_boxes=boxes,
                        provided_ref_size=(224, 224)))
                    kept += 1
    if mismatch:
        logger.warning('CelebA-Spoof: %d images whose label JSON disagrees '
                       'with their folder were left out', len(mismatch))
    return jobs, dict(label_json=bool(labels), images_without_meta=no_meta,
                      label_mismatch=mismatch[:100],
                      counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert CelebA-Spoof (Data/{train,test}/<id>/{live,'
        'spoof}) to face crops + annotations/all.jsonl')
    add_common_args(p)
    p.add_argument('--no-provided-boxes', action='store_true',
                   help='ignore the _BB.txt boxes (no-face fallback)')
    p.add_argument('--max-per-subject', type=int, default=None,
                   help='keep at most N images per subject (live first, '
                   'sorted by name)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src, not args.no_provided_boxes,
                              args.max_per_subject)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
