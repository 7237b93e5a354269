"""Idiap Replay-Attack converter.

Raw layout (as distributed)::

    <src>/{train,devel,test}/real/
        client<ID>_session<NN>_webcam_authenticate_<light>_<n>.mov
    <src>/{train,devel,test}/attack/{fixed,hand}/
        attack_<device>_client<ID>_session<NN>_<sdevice>_<stype>_<light>.mov
    <src>/enroll/{train,devel,test}/*.mov   (left out unless --include-enroll)

``device`` print -> attack type ``print``; ``mobile`` / ``highdef`` (a photo
or a video shown on a screen) -> ``replay``. 50 clients (15 train, 15 devel,
20 test); ``devel`` becomes split ``dev``.

Face locations ship separately (``replayattack-face-locations``): a tree
mirroring the videos with ``<video>.face`` files, one line per frame
``<frame> <x> <y> <width> <height>`` (all zeros: no face). Give its root with
``--face-locations`` (or put it at ``<src>/face-locations``); the boxes feed
the ``provided`` no-face fallback.
"""
import argparse
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

from .common import VideoJob, add_common_args, find_dir, run_cli, \
    split_counts

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'REPLAY'
SETS = {'train': 'train', 'devel': 'dev', 'test': 'test'}
REAL_RE = re.compile(r'^client(\d+)_session(\d+)_(\w+?)_(authenticate|enroll)'
                     r'_(adverse|controlled)(?:_(\d+))?$')
ATTACK_RE = re.compile(r'^attack_(print|mobile|highdef)_client(\d+)_session'
                       r'(\d+)_(mobile|highdef)_(photo|video)_'
                       r'(adverse|controlled)$')


def parse_name(stem: str) -> dict:
    """Metadata from a Replay-Attack file name."""
    m = ATTACK_RE.match(stem)
    if m:
        device, client, session, sdev, stype, light = m.groups()
        return dict(label='spoof',
                    attack_type='print' if device == 'print' else 'replay',
                    attack_subtype=f'{device}_{stype}', attack_device=device,
                    sample_device=sdev, client=int(client),
                    session=int(session), light=light)
    m = REAL_RE.match(stem)
    if m:
        client, session, _, role, light, _ = m.groups()
        return dict(label='live', attack_type='none', client=int(client),
                    session=int(session), light=light, role=role)
    raise ValueError(f'not a Replay-Attack video name: {stem!r}')


def read_face_file(path: str) -> Dict[int, List[float]]:
    """``<frame> <x> <y> <w> <h>`` lines -> ``{frame: [x1, y1, x2, y2]}``
    (zero boxes skipped)."""
    boxes = {}
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            nums = re.findall(r'-?\d+(?:\.\d+)?', line)
            if len(nums) < 5:
                continue
            fr, x, y, w, h = (float(v) for v in nums[:5])
            if w <= 0 or h <= 0:
                continue
            boxes[int(fr)] = [x, y, x + w, y + h]
    return boxes


def _face_file(loc_root: Optional[str], rel_video: str) -> Optional[str]:
    if not loc_root:
        return None
    stem = osp.splitext(rel_video)[0]
    for cand in (stem + '.face', stem + '.txt'):
        p = osp.join(loc_root, cand)
        if osp.isfile(p):
            return p
    return None


def collect_jobs(src: str, face_locations: Optional[str] = None,
                 include_enroll: bool = False) -> Tuple[List[VideoJob], dict]:
    if face_locations is None:
        face_locations = find_dir(src, ['face-locations',
                                        'replayattack-face-locations'],
                                  max_depth=2)
    # the folder holding train/devel/test
    base = None
    for d in [src] + [osp.join(src, e) for e in sorted(os.listdir(src))]:
        if osp.isdir(osp.join(d, 'train')) and osp.isdir(osp.join(d,
                                                                  'test')):
            base = d
            break
    if base is None:
        t = find_dir(src, ['devel'], max_depth=3)
        base = osp.dirname(t) if t else src
    jobs, ignored, with_boxes = [], [], 0
    roots = [(s, osp.join(base, s), None) for s in SETS]
    if include_enroll:
        roots += [(s, osp.join(base, 'enroll', s), 'enroll') for s in SETS]
    for set_name, sdir, role in roots:
        if not osp.isdir(sdir):
            logger.warning('Replay-Attack: missing folder %s', sdir)
            continue
        for d, dirs, files in os.walk(sdir):
            dirs.sort()
            for fname in sorted(files):
                stem, ext = osp.splitext(fname)
                if ext.lower() not in ('.mov', '.avi', '.mp4'):
                    continue
                path = osp.join(d, fname)
                rel = osp.relpath(path, base)
                parts = rel.replace('\\', '/').split('/')
                if role is None and 'enroll' in parts:
                    continue
                try:
                    info = parse_name(stem)
                except ValueError:
                    ignored.append(path)
                    continue
                support = None
                if info['label'] == 'spoof':
                    support = next((p for p in parts
                                    if p in ('fixed', 'hand')), None)
                    info['attack_support'] = support
                elif role is None and 'real' not in parts:
                    ignored.append(path)
                    continue
                split = SETS[set_name]
                name = osp.splitext(rel)[0].replace('\\', '/').replace(
                    '/', '_')
                client = info.pop('client')
                meta = dict(label=info.pop('label'),
                            attack_type=info.pop('attack_type'),
                            video_id=f'{DOMAIN}/{name}',
                            subject_id=f'{DOMAIN}/client{client:03d}',
                            domain=DOMAIN, split=split, **info)
                if role:
                    meta['replay_role'] = role
                boxes = None
                ff = _face_file(face_locations, rel)
                if ff:
                    boxes = read_face_file(ff) or None
                    with_boxes += boxes is not None
                jobs.append(VideoJob(name=name, meta=meta,
                                     source=dict(type='video', path=path),
                                     src_path=path, provided_boxes=boxes))
    info = dict(face_locations=face_locations,
                videos_with_face_locations=with_boxes,
                ignored_files=ignored, counts=split_counts(jobs))
    return jobs, info


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert Idiap Replay-Attack ({train,devel,test}/'
        '{real,attack}) to face crops + annotations/all.jsonl')
    add_common_args(p)
    p.add_argument('--face-locations', default=None,
                   help='root of the face-location files (mirrors the video '
                   'tree, <video>.face); default <src>/face-locations if '
                   'present')
    p.add_argument('--include-enroll', action='store_true',
                   help='also convert enroll/ videos (live, replay_role '
                   '"enroll"); protocols never use them')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src, args.face_locations,
                              args.include_enroll)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
