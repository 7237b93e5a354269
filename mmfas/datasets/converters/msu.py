"""MSU-MFSD converter.

Raw layout (as distributed)::

    <src>/scene01/real/real_client<ID>_<android|laptop>_SD_scene01.<mp4|mov>
    <src>/scene01/attack/attack_client<ID>_<android|laptop>_SD_<attack>_
        scene01.<mp4|mov>   (<attack>: ipad_video, iphone_video, printed_photo)
    <src>/train_sub_list.txt    client ids of the train split (15)
    <src>/test_sub_list.txt     client ids of the test split (20)

35 clients, 2 live + 6 attack videos each (android ``.mp4``, laptop
``.mov``). ``printed_photo`` -> ``print``; ``ipad_video`` / ``iphone_video``
-> ``replay``. Without the list files the published split is used
(:data:`TRAIN_CLIENTS` / :data:`TEST_CLIENTS`).

Six android live videos are stored upside down (clients 3, 5, 6, 7, 8, 9:
:data:`UPSIDE_DOWN`, the list Idiap's ``bob.db.msu_mfsd_mod`` package ships
as ``rotated_videos.txt``). Every video's orientation is put to a vote of the
face detector over ``--orient-frames`` frames spread over the video (see
:func:`~.common.decide_orientation`); for the listed videos the list is the
prior: it decides when the vote cannot (the Haar cascade often finds no face
either way) and wins a contradicting vote (reported as a conflict). A video
whose orientation stays undecided is left as stored and named in the log and
in ``orientation_undecided`` of the summary. Rotated videos get ``rotation:
180`` in their records and are listed under ``rotated_videos``.
``--rotate-list`` forces the rotation of named videos; ``--no-auto-orient``
turns the vote off (the lists still apply); ``--no-builtin-rotate-list``
drops the built-in list (for a copy whose videos were already turned
upright). (OpenCV already applies a rotation stored in the file's metadata.)
"""
import argparse
import logging
import os
import os.path as osp
import re
from typing import List, Optional, Set, Tuple

from .common import VideoJob, add_common_args, find_dir, find_file, \
    read_id_list, run_cli, split_counts

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'MSU'
TRAIN_CLIENTS = (2, 3, 5, 6, 7, 8, 9, 11, 12, 21, 22, 34, 53, 54, 55)
TEST_CLIENTS = (1, 13, 14, 23, 24, 26, 28, 29, 30, 32, 33, 35, 36, 37, 39,
                42, 48, 49, 50, 51)
NAME_RE = re.compile(r'^(real|attack)_client(\d+)_([a-z0-9]+)_([a-z]{2})_?'
                     r'(.*?)_?scene(\d+)$', re.I)
ATTACKS = {'printed_photo': 'print', 'ipad_video': 'replay',
           'iphone_video': 'replay'}
#: videos of the release stored upside down (the known orientation prior)
UPSIDE_DOWN = frozenset(f'real_client{c:03d}_android_SD_scene01'
                        for c in (3, 5, 6, 7, 8, 9))


def parse_name(stem: str) -> dict:
    m = NAME_RE.match(stem)
    if not m:
        raise ValueError(f'not an MSU-MFSD video name: {stem!r}')
    kind, client, device, quality, attack, scene = m.groups()
    out = dict(client=int(client), device=device.lower(),
               quality=quality.upper(), scene=int(scene))
    if kind.lower() == 'real':
        if attack:
            raise ValueError(f'not an MSU-MFSD video name: {stem!r}')
        out.update(label='live', attack_type='none')
    else:
        a = attack.lower()
        if a not in ATTACKS:
            raise ValueError(f'unknown MSU-MFSD attack {attack!r} in {stem}')
        out.update(label='spoof', attack_type=ATTACKS[a], attack_subtype=a)
    return out


def collect_jobs(src: str, train_list: Optional[str] = None,
                 test_list: Optional[str] = None, auto_orient: bool = True,
                 rotate: Optional[Set[str]] = None,
                 builtin_rotate: bool = True
                 ) -> Tuple[List[VideoJob], dict]:
    """Jobs and scan info. ``rotate``: names forced to 180 degrees;
    ``builtin_rotate``: :data:`UPSIDE_DOWN` as the orientation prior (with
    ``auto_orient``) or as forced rotations (without)."""
    train_list = train_list or find_file(src, ['train_sub_list.txt'], 2)
    test_list = test_list or find_file(src, ['test_sub_list.txt'], 2)
    if train_list and test_list:
        train_ids, test_ids = set(read_id_list(train_list)), set(
            read_id_list(test_list))
        split_source = 'lists'
    else:
        logger.warning('MSU-MFSD: train_sub_list.txt / test_sub_list.txt '
                       'not found; using the published client split')
        train_ids, test_ids = set(TRAIN_CLIENTS), set(TEST_CLIENTS)
        split_source = 'builtin'
    if train_ids & test_ids:
        raise ValueError(f'MSU-MFSD: clients in both lists: '
                         f'{sorted(train_ids & test_ids)}')
    rotate = set(rotate or ())
    jobs, ignored, unlisted = [], [], []
    for kind in ('real', 'attack'):
        d = find_dir(src, [kind], max_depth=3)
        if d is None:
            logger.warning('MSU-MFSD: no %s folder under %s', kind, src)
            continue
        for fname in sorted(os.listdir(d)):
            stem, ext = osp.splitext(fname)
            if ext.lower() not in ('.mp4', '.mov', '.avi'):
                continue
            path = osp.join(d, fname)
            try:
                info = parse_name(stem)
            except ValueError:
                ignored.append(path)
                continue
            if (info['label'] == 'live') != (kind == 'real'):
                ignored.append(path)
                continue
            client = info.pop('client')
            if client in train_ids:
                split = 'train'
            elif client in test_ids:
                split = 'test'
            else:
                unlisted.append(path)
                continue
            meta = dict(label=info.pop('label'),
                        attack_type=info.pop('attack_type'),
                        video_id=f'{DOMAIN}/{stem}',
                        subject_id=f'{DOMAIN}/client{client:03d}',
                        domain=DOMAIN, split=split, **info)
            known = 180 if builtin_rotate and stem in UPSIDE_DOWN else None
            if stem in rotate:
                rot = 180
            elif auto_orient:
                rot = 'auto'
            else:
                rot = known or 0
            jobs.append(VideoJob(name=stem, meta=meta,
                                 source=dict(type='video', path=path),
                                 src_path=path, rotate=rot,
                                 rotate_prior=known if rot == 'auto'
                                 else None))
    if unlisted:
        logger.warning('MSU-MFSD: %d videos of clients in neither list '
                       'were left out', len(unlisted))
    return jobs, dict(split_source=split_source, ignored_files=ignored,
                      unlisted_clients=unlisted, counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert MSU-MFSD (scene01/{real,attack}) to face crops '
        '+ annotations/all.jsonl')
    add_common_args(p)
    p.add_argument('--train-list', default=None,
                   help='default: <src>/train_sub_list.txt')
    p.add_argument('--test-list', default=None,
                   help='default: <src>/test_sub_list.txt')
    p.add_argument('--no-auto-orient', action='store_true',
                   help='do not vote on each video\'s orientation with the '
                   'detector; only the built-in list and --rotate-list '
                   'rotate')
    p.add_argument('--rotate-list', default=None,
                   help='file of video names (one per line) to rotate by '
                   '180 degrees')
    p.add_argument('--no-builtin-rotate-list', action='store_true',
                   help='ignore the built-in list of the 6 upside-down '
                   'android videos (for a copy already turned upright)')
    p.add_argument('--orient-frames', type=int, default=10,
                   help='frames per video that vote on its orientation '
                   '(default 10)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    rotate = set()
    if args.rotate_list:
        with open(args.rotate_list, encoding='utf-8') as f:
            rotate = {osp.splitext(osp.basename(ln.strip()))[0]
                      for ln in f if ln.strip()}
    jobs, info = collect_jobs(args.src, args.train_list, args.test_list,
                              not args.no_auto_orient, rotate,
                              not args.no_builtin_rotate_list)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
