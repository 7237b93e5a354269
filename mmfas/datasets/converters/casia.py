"""CASIA-FASD converter.

Raw layout (as distributed)::

    <src>/train_release/<subject 1-20>/{1..8,HR_1..HR_4}.avi
    <src>/test_release/<subject 1-30>/{1..8,HR_1..HR_4}.avi

``1, 2, HR_1`` live; ``3, 4, HR_2`` warped photo; ``5, 6, HR_3`` cut photo;
``7, 8, HR_4`` video replay. Within each group the release's codes are
normal, low and high quality, in that order (``1`` normal, ``2`` low,
``HR_1`` high; ``3`` normal, ``4`` low, ``HR_2`` high; ...): odd numbers are
normal quality, even numbers low quality, ``HR_*`` high quality. Test
subjects are other people than train subjects with the same numbers, so
subject ids carry the release: ``CASIA/train_3``, ``CASIA/test_3``. There is
no official dev split.
"""
import argparse
import logging
import os
import os.path as osp
import re
from typing import List, Tuple

from .common import VideoJob, add_common_args, find_dir, run_cli, \
    split_counts

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'CASIA'
RELEASES = {'train': 'train_release', 'test': 'test_release'}
# name -> (label, attack_type, attack_subtype)
TYPES = {'1': ('live', 'none', None), '2': ('live', 'none', None),
         'HR_1': ('live', 'none', None),
         '3': ('spoof', 'print', 'warped_photo'),
         '4': ('spoof', 'print', 'warped_photo'),
         'HR_2': ('spoof', 'print', 'warped_photo'),
         '5': ('spoof', 'print', 'cut_photo'),
         '6': ('spoof', 'print', 'cut_photo'),
         'HR_3': ('spoof', 'print', 'cut_photo'),
         '7': ('spoof', 'replay', 'video'),
         '8': ('spoof', 'replay', 'video'),
         'HR_4': ('spoof', 'replay', 'video')}


def parse_name(stem: str) -> dict:
    """``'HR_2'`` / ``'3'`` -> label, attack type, subtype, quality."""
    key = stem.upper() if stem.upper().startswith('HR_') else stem
    if key not in TYPES:
        raise ValueError(f'not a CASIA-FASD video name: {stem!r}')
    label, attack, subtype = TYPES[key]
    if key.startswith('HR_'):
        quality = 'high'
    else:
        quality = 'normal' if int(key) % 2 == 1 else 'low'
    out = dict(label=label, attack_type=attack, quality=quality,
               hr=key.startswith('HR_'))
    if subtype:
        out['attack_subtype'] = subtype
    return out


def collect_jobs(src: str) -> Tuple[List[VideoJob], dict]:
    jobs, ignored = [], []
    for split, dname in RELEASES.items():
        d = find_dir(src, [dname], max_depth=3)
        if d is None:
            logger.warning('CASIA-FASD: no %s folder under %s', dname, src)
            continue
        for subj in sorted(os.listdir(d), key=lambda s: (len(s), s)):
            sdir = osp.join(d, subj)
            if not osp.isdir(sdir):
                continue
            if not re.fullmatch(r'\d+', subj):
                ignored.append(sdir)
                continue
            for fname in sorted(os.listdir(sdir)):
                stem, ext = osp.splitext(fname)
                if ext.lower() not in ('.avi', '.mp4', '.mov'):
                    continue
                try:
                    info = parse_name(stem)
                except ValueError:
                    ignored.append(osp.join(sdir, fname))
                    continue
                name = f'{split}_{int(subj)}_{stem}'
                meta = dict(label=info.pop('label'),
                            attack_type=info.pop('attack_type'),
                            video_id=f'{DOMAIN}/{name}',
                            subject_id=f'{DOMAIN}/{split}_{int(subj)}',
                            domain=DOMAIN, split=split, **info)
                path = osp.join(sdir, fname)
                jobs.append(VideoJob(name=name, meta=meta,
                                     source=dict(type='video', path=path),
                                     src_path=path))
    return jobs, dict(ignored_files=ignored, counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert CASIA-FASD (train_release / test_release) to '
        'face crops + annotations/all.jsonl')
    add_common_args(p)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
