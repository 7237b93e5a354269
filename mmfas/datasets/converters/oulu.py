"""OULU-NPU converter.

Raw layout (as distributed)::

    <src>/Train_files/<phone>_<session>_<user>_<file>.avi  (+ eye pos. .txt)
    <src>/Dev_files/...      users 21-35
    <src>/Test_files/...     users 36-55          (train: users 01-20)
    <src>/Protocols/Protocol_1/{Train,Dev,Test}.txt        (optional)
    <src>/Protocols/Protocol_2/{Train,Dev,Test}.txt
    <src>/Protocols/Protocol_3/{Train,Dev,Test}_<1-6>.txt
    <src>/Protocols/Protocol_4/{Train,Dev,Test}_<1-6>.txt

File (access type) 1 = live, 2 / 3 = print 1 / 2, 4 / 5 = replay (display)
1 / 2. Phones 1-6, sessions 1-3. A protocol list line is ``<label>,<video>``
(``+1`` live, negative = attack). When the ``Protocols`` folder is absent the
membership is derived from the published protocol definitions:

* P1 (illumination): train/dev sessions 1, 2; test session 3.
* P2 (PAI): train/dev files 1, 2, 4; test files 1, 3, 5.
* P3_k (camera): train/dev phones != k; test phone k.
* P4_k: P1 x P2 x P3 combined.

Eye positions (``<video>.txt``, lines ``frame, x_left, y_left, x_right,
y_right``) give the ``provided`` fallback box (see ``eyes_to_box``).
"""
import argparse
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .common import (VideoJob, add_common_args, eyes_to_box, find_dir,
                     run_cli, split_counts)

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'OULU'
SPLIT_DIRS = {'train': 'Train_files', 'dev': 'Dev_files',
              'test': 'Test_files'}
USER_SPLIT = {'train': range(1, 21), 'dev': range(21, 36),
              'test': range(36, 56)}
NAME_RE = re.compile(r'^(\d)_(\d)_(\d{2})_(\d)$')
ACCESS = {1: ('live', 'none', None), 2: ('spoof', 'print', 'print1'),
          3: ('spoof', 'print', 'print2'), 4: ('spoof', 'replay', 'replay1'),
          5: ('spoof', 'replay', 'replay2')}
PHONES = {1: 'Samsung Galaxy S6 edge', 2: 'HTC Desire EYE', 3: 'MEIZU X5',
          4: 'ASUS Zenfone Selfie', 5: 'Sony XPERIA C5 Ultra Dual',
          6: 'OPPO N3'}
PROTOCOL_KEYS = ['1', '2'] + [f'3_{k}' for k in range(1, 7)] + \
    [f'4_{k}' for k in range(1, 7)]
_LIST_SPLITS = {'train': 'train', 'dev': 'dev', 'test': 'test'}


def parse_name(stem: str) -> dict:
    """``'1_2_03_4'`` -> phone 1, session 2, user 3, access type 4."""
    m = NAME_RE.match(stem)
    if not m:
        raise ValueError(f'not an OULU-NPU video name: {stem!r}')
    phone, session, user, access = (int(g) for g in m.groups())
    if access not in ACCESS or not 1 <= phone <= 6 or not 1 <= session <= 3:
        raise ValueError(f'not an OULU-NPU video name: {stem!r}')
    return dict(phone=phone, session=session, user=user, access_type=access)


def derived_protocols(info: dict, split: str) -> Dict[str, str]:
    """Protocol membership ``{key: split}`` from the published definitions
    (the video's own split decides train / dev / test)."""
    phone, session, access = info['phone'], info['session'], \
        info['access_type']
    out = {}
    train_like = split in ('train', 'dev')
    # P1
    if (train_like and session in (1, 2)) or (split == 'test'
                                              and session == 3):
        out['1'] = split
    # P2
    if (train_like and access in (1, 2, 4)) or (split == 'test'
                                                and access in (1, 3, 5)):
        out['2'] = split
    for k in range(1, 7):
        if (train_like and phone != k) or (split == 'test' and phone == k):
            out[f'3_{k}'] = split
        if train_like and phone != k and session in (1, 2) and \
                access in (1, 2, 4):
            out[f'4_{k}'] = split
        if split == 'test' and phone == k and session == 3 and \
                access in (1, 3, 5):
            out[f'4_{k}'] = split
    return out


def read_protocol_lists(proto_dir: str) -> Tuple[Dict[str, Dict[str, str]],
                                                 Dict[str, int], List[str]]:
    """Parse ``Protocols/Protocol_N/*.txt``.

    Returns ``(membership {video: {key: split}}, labels {video: +1/-1/-2},
    keys found)``.
    """
    member: Dict[str, Dict[str, str]] = {}
    labels: Dict[str, int] = {}
    found = set()
    for pdir in sorted(os.listdir(proto_dir)):
        m = re.match(r'^protocol_?(\d)$', pdir, re.I)
        if not m or not osp.isdir(osp.join(proto_dir, pdir)):
            continue
        p = m.group(1)
        for fname in sorted(os.listdir(osp.join(proto_dir, pdir))):
            fm = re.match(r'^(train|dev|test)(?:_(\d))?\.txt$', fname, re.I)
            if not fm:
                continue
            split = _LIST_SPLITS[fm.group(1).lower()]
            key = p if fm.group(2) is None else f'{p}_{fm.group(2)}'
            found.add(key)
            with open(osp.join(proto_dir, pdir, fname),
                      encoding='utf-8') as f:
                for line in f:
                    line = line.strip()
                    if not line:
                        continue
                    parts = [t.strip() for t in re.split(r'[,\s]+', line)
                             if t.strip()]
                    video = osp.splitext(parts[-1])[0]
                    if len(parts) >= 2:
                        labels[video] = int(parts[0])
                    member.setdefault(video, {})[key] = split
    return member, labels, sorted(found)


def read_eye_positions(path: str) -> Dict[int, List[float]]:
    """Face boxes from an OULU-NPU eye-position file (frame -> box).

    Lines hold ``frame, x_left, y_left, x_right, y_right`` (a line of four
    numbers is taken as the frame at that line's position); all-zero lines
    (no eyes found) are skipped. 1-based frame numbers (no 0, first 1) are
    shifted to 0-based positions.
    """
    rows = []
    with open(path, encoding='utf-8', errors='replace') as f:
        for i, line in enumerate(f):
            nums = re.findall(r'-?\d+(?:\.\d+)?', line)
            if len(nums) >= 5:
                fr, vals = int(float(nums[0])), [float(v) for v in nums[1:5]]
            elif len(nums) == 4:
                fr, vals = i, [float(v) for v in nums]
            else:
                continue
            rows.append((fr, vals))
    if rows and min(r[0] for r in rows) == 1 and 0 not in {r[0]
                                                          for r in rows}:
        rows = [(fr - 1, v) for fr, v in rows]
    boxes = {}
    for fr, (lx, ly, rx, ry) in rows:
        if lx == ly == rx == ry == 0:
            continue
        boxes[fr] = [round(v, 2) for v in eyes_to_box((lx, ly), (rx, ry))]
    return boxes


def collect_jobs(src: str, protocol_dir: Optional[str] = None,
                 use_eye_positions: bool = True) -> Tuple[List[VideoJob],
                                                          dict]:
    """Scan an OULU-NPU tree; returns ``(jobs, info)``."""
    if protocol_dir is None:
        protocol_dir = find_dir(src, ['Protocols'], max_depth=2)
    member, list_labels, keys = ({}, {}, [])
    if protocol_dir:
        member, list_labels, keys = read_protocol_lists(protocol_dir)
    jobs, ignored = [], []
    for split, dname in SPLIT_DIRS.items():
        d = find_dir(src, [dname], max_depth=2)
        if d is None:
            logger.warning('OULU-NPU: no %s folder under %s', dname, src)
            continue
        for fname in sorted(os.listdir(d)):
            stem, ext = osp.splitext(fname)
            if ext.lower() not in ('.avi', '.mp4', '.mov'):
                continue
            try:
                info = parse_name(stem)
            except ValueError:
                ignored.append(osp.join(d, fname))
                continue
            if info['user'] not in USER_SPLIT[split]:
                logger.warning('OULU-NPU: user %02d found in %s', info['user'],
                               dname)
            label, attack, subtype = ACCESS[info['access_type']]
            if stem in list_labels and (list_labels[stem] > 0) != (
                    label == 'live'):
                raise ValueError(
                    f'OULU-NPU: protocol lists label {stem} '
                    f'{list_labels[stem]:+d} but its file type says {label}')
            proto = derived_protocols(info, split)
            official = member.get(stem, {})
            for k in keys:  # official lists override the derived rules
                proto.pop(k, None)
                if k in official:
                    proto[k] = official[k]
            meta = dict(label=label, attack_type=attack,
                        video_id=f'{DOMAIN}/{stem}',
                        subject_id=f"{DOMAIN}/{info['user']:02d}",
                        domain=DOMAIN, split=split, phone=info['phone'],
                        session=info['session'],
                        access_type=info['access_type'],
                        oulu_protocol={k: proto[k] for k in PROTOCOL_KEYS
                                       if k in proto})
            if subtype:
                meta['attack_subtype'] = subtype
            boxes = None
            eye = osp.join(d, stem + '.txt')
            if use_eye_positions and osp.isfile(eye):
                boxes = read_eye_positions(eye) or None
            jobs.append(VideoJob(name=stem, meta=meta,
                                 source=dict(type='video',
                                             path=osp.join(d, fname)),
                                 src_path=osp.join(d, fname),
                                 provided_boxes=boxes))
    info = dict(protocol_lists=keys, protocol_dir=protocol_dir,
                ignored_files=ignored, counts=split_counts(jobs))
    return jobs, info


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert OULU-NPU (Train/Dev/Test_files/*.avi) to face '
        'crops + annotations/all.jsonl')
    add_common_args(p)
    p.add_argument('--protocol-dir', default=None,
                   help='folder with Protocol_1..4 (default: <src>/Protocols '
                   'when present, else derived from the file names)')
    p.add_argument('--no-eye-positions', action='store_true',
                   help='do not use the eye-position files as fallback boxes')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src, args.protocol_dir,
                              not args.no_eye_positions)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
