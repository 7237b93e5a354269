"""WMCA converter (paired RGB / Depth / IR frames).

Raw layout (the preprocessed release: aligned face crops in HDF5)::

    <src>/.../preprocessed-face-station_RGB/<date>/<stem>.hdf5
        Frame_<k>/array: 3 x H x W (RGB)
    <src>/.../preprocessed-face-station_CDIT/<date>/<stem>.hdf5
        Frame_<k>/array: 4 x H x W (gray, depth, infrared, thermal)
    <src>/.../documentation/{bonafide,attack}_illustration_files.csv

``<stem>`` = ``<client>_<session>_<presenter>_<type id>_<PAI id>``, e.g.
``514_01_035_1_05``. Reading HDF5 needs ``h5py`` (``pip install h5py``).
Also accepted: frames already extracted to ``<stem>/{color,depth,ir}/*.jpg``.

Labels: membership of the two documentation CSVs when present, else type id
0 = bona fide. The release does not name its type ids, so a spoof's
``attack_type`` is ``other`` unless ``--type-map '{"1": "mask", ...}'`` says
otherwise; ``type_id`` and ``pai_id`` are kept in every record.

Splits: give the official protocol lists (e.g. grandtest) with
``--train-list / --dev-list / --test-list`` (any text or CSV naming the
stems). Without them the split is **derived**, not official: clients are
assigned by a fixed hash of the client id (about 60 / 20 / 20 %, client
disjoint), marked ``split_source: derived``.

Default crop ``full`` (no detection).
"""
import argparse
import hashlib
import json
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from .common import (VideoJob, add_common_args, find_dir, find_file,
                     modality_dirs, paired_frames, run_cli, split_counts,
                     to_bgr_uint8)

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'WMCA'
STEM_RE = re.compile(r'(\d{3})_(\d{2})_(\d{3})_(\d)_(\d{2})')
H5PY_INSTALL = 'pip install h5py'


def parse_stem(stem: str) -> dict:
    m = STEM_RE.fullmatch(stem)
    if not m:
        raise ValueError(f'not a WMCA file name: {stem!r}')
    client, session, presenter, type_id, pai = (int(g) for g in m.groups())
    return dict(client=client, session=session, presenter=presenter,
                type_id=type_id, pai_id=pai)


def derived_split(client: int) -> str:
    """Client-disjoint split from a fixed hash (not an official split)."""
    h = int(hashlib.sha1(f'WMCA-{client:03d}'.encode()).hexdigest(), 16) % 10
    return 'train' if h < 6 else 'dev' if h < 8 else 'test'


def _stems_in(path: str) -> List[str]:
    with open(path, encoding='utf-8', errors='replace') as f:
        return ['_'.join(m) for m in STEM_RE.findall(f.read())]


class WMCAHdf5Source:
    """Frames of a WMCA preprocessed video pair (RGB + CDIT HDF5 files).

    Args:
        rgb (str): RGB station file (``Frame_<k>/array``, 3 x H x W RGB).
        cdit (str, optional): CDIT file (4 x H x W: gray, depth, IR,
            thermal); depth and IR are written when given.
    """
    DEPTH, IR = 1, 2

    def __init__(self, rgb: str, cdit: Optional[str] = None):
        self.rgb, self.cdit = rgb, cdit
        self._keys = None

    @staticmethod
    def _open(path):
        try:
            import h5py
        except ImportError as e:
            raise ImportError(f'reading WMCA .hdf5 needs h5py: '
                              f'{H5PY_INSTALL}') from e
        return h5py.File(path, 'r')

    @staticmethod
    def frame_keys(f) -> List[str]:
        keys = [k for k in f.keys() if re.fullmatch(r'Frame_\d+', k)]
        return sorted(keys, key=lambda k: int(k.split('_')[1]))

    def _all_keys(self):
        if self._keys is None:
            f = self._open(self.rgb)
            try:
                self._keys = self.frame_keys(f)
            finally:
                if hasattr(f, 'close'):
                    f.close()
        return self._keys

    def count(self):
        return len(self._all_keys())

    @staticmethod
    def _chw(arr) -> np.ndarray:
        a = np.asarray(arr)
        if a.ndim == 3 and a.shape[0] in (1, 3, 4) and a.shape[2] not in (
                1, 3, 4):
            a = a.transpose(1, 2, 0)
        return a

    def read(self, positions):
        keys = self._all_keys()
        out = {}
        f = self._open(self.rgb)
        g = self._open(self.cdit) if self.cdit else None
        try:
            for p in sorted(set(positions)):
                if not 0 <= p < len(keys):
                    continue
                k = keys[p]
                rgb = self._chw(f[k]['array'])
                fr = {'rgb': to_bgr_uint8(rgb[..., ::-1] if rgb.ndim == 3
                                          and rgb.shape[2] == 3 else rgb)}
                if g is not None and k in g:
                    c = self._chw(g[k]['array'])
                    if c.ndim == 3 and c.shape[2] >= 3:
                        fr['depth'] = to_bgr_uint8(c[..., self.DEPTH])
                        fr['ir'] = to_bgr_uint8(c[..., self.IR])
                out[p] = fr
        finally:
            for h in (f, g):
                if h is not None and hasattr(h, 'close'):
                    h.close()
        return out

    def frame_number(self, pos):
        return int(self._all_keys()[pos].split('_')[1])


def collect_jobs(src: str, split_lists: Optional[Dict[str, str]] = None,
                 type_map: Optional[Dict[int, str]] = None
                 ) -> Tuple[List[VideoJob], dict]:
    type_map = {int(k): v for k, v in (type_map or {}).items()}
    # labels from the documentation CSVs
    bona = find_file(src, ['bonafide_illustration_files.csv'], 5)
    attack = find_file(src, ['attack_illustration_files.csv'], 5)
    csv_label = {}
    if bona:
        csv_label.update({s: 'live' for s in _stems_in(bona)})
    if attack:
        csv_label.update({s: 'spoof' for s in _stems_in(attack)})
    # official splits
    listed = {}
    for split, path in (split_lists or {}).items():
        if path:
            for s in _stems_in(path):
                if listed.get(s, split) != split:
                    raise ValueError(f'WMCA: {s} is in two split lists')
                listed[s] = split
    # sources: HDF5 pairs or extracted frame folders
    captures = {}
    rgb_root = find_dir(src, ['preprocessed-face-station_RGB'], 4)
    cdit_root = find_dir(src, ['preprocessed-face-station_CDIT'], 4)
    if rgb_root:
        for d, dirs, files in os.walk(rgb_root):
            dirs.sort()
            for fname in sorted(files):
                stem, ext = osp.splitext(fname)
                if ext.lower() not in ('.hdf5', '.h5') or \
                        not STEM_RE.fullmatch(stem):
                    continue
                rel = osp.relpath(osp.join(d, fname), rgb_root)
                cdit = osp.join(cdit_root, rel) if cdit_root else None
                captures[stem] = dict(
                    type='class', cls='mmfas.datasets.converters.wmca.'
                    'WMCAHdf5Source',
                    kwargs=dict(rgb=osp.join(d, fname),
                                cdit=cdit if cdit and osp.isfile(cdit)
                                else None)), osp.join(d, fname)
    else:
        for d, dirs, _ in os.walk(src):
            dirs.sort()
            if STEM_RE.fullmatch(osp.basename(d)) and 'rgb' in \
                    modality_dirs(d):
                dirs[:] = []
                frames = paired_frames(d)
                if frames:
                    captures[osp.basename(d)] = dict(type='images',
                                                     frames=frames), d
    jobs, derived = [], 0
    for stem in sorted(captures):
        source, path = captures[stem]
        info = parse_stem(stem)
        label = csv_label.get(stem) or ('live' if info['type_id'] == 0
                                        else 'spoof')
        if label == 'live':
            attack = 'none'
        else:
            attack = type_map.get(info['type_id'], 'other')
        if stem in listed:
            split, split_source = listed[stem], 'lists'
        else:
            split, split_source = derived_split(info['client']), 'derived'
            derived += 1
        meta = dict(label=label, attack_type=attack,
                    video_id=f'{DOMAIN}/{stem}',
                    subject_id=f"{DOMAIN}/{info['client']:03d}",
                    domain=DOMAIN, split=split, split_source=split_source,
                    session=info['session'], presenter=info['presenter'],
                    type_id=info['type_id'], pai_id=info['pai_id'])
        jobs.append(VideoJob(name=stem, meta=meta, source=source,
                             src_path=path))
    if derived and listed:
        logger.warning('WMCA: %d videos are in none of the split lists; '
                       'their split is derived', derived)
    elif derived:
        logger.warning('WMCA: no split lists given; using a derived '
                       'client-disjoint split (not the official protocol)')
    return jobs, dict(layout='hdf5' if rgb_root else 'frames',
                      label_csvs=[p for p in (bona, attack) if p],
                      derived_splits=derived, counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert WMCA (preprocessed HDF5 or extracted frames) to '
        'resized images + annotations/all.jsonl')
    add_common_args(p, crop='full', detector='none')
    p.add_argument('--train-list', default=None,
                   help='official protocol list of the train split (e.g. '
                   'grandtest); without lists a client-disjoint split is '
                   'derived')
    p.add_argument('--dev-list', default=None,
                   help='official protocol list of the dev split')
    p.add_argument('--test-list', default=None,
                   help='official protocol list of the test split')
    p.add_argument('--type-map', default=None,
                   help='JSON {type_id: attack_type}, e.g. \'{"1": "mask"}\'')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    lists = dict(train=args.train_list, dev=args.dev_list,
                 test=args.test_list)
    type_map = json.loads(args.type_map) if args.type_map else None
    jobs, info = collect_jobs(args.src, lists, type_map)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
