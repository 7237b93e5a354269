"""CASIA-SURF CeFA converter (paired RGB / Depth / IR frames).

Raw layout (as distributed; the frames are already face crops)::

    <src>/[CASIA_CeFA/Ethnicity/]<AF|CA|EA>/<Race>-<ID>[-<IdCard>]/
        <R>_<ID>_<Dev>_<Sess>_<PAI>/{color|profile,depth,ir}/<nnnn>.jpg
    <src>/.../CASIA_CeFA@p<k>_video_{train,dev,test}.txt   (official lists)

Folder name ``Race_ID_AcqDevice_Session_PAI``: race 1 AF, 2 CA, 3 EA; subject
id 000-499; PAI 1 real, 2 cloth (print on cloth), 3 photo print, 4 screen
(replay). Subjects 0-199 are train, 200-299 dev, 300-499 test in every
official protocol; a record's ``split`` follows that rule and
``cefa_protocol`` gives its membership in each official list found
(e.g. ``{"4.1": "train"}``; list lines ``<video>/color <label>`` with
0 = live, checked against the PAI code). The 3D-mask and silicone-mask
subsets (``<type>_<ID>_<dress>_<glasses>_<dev>_<sess>_<light>``) are added
with ``--include-masks`` (``attack_type`` mask, split test).

Default crop ``full`` (no detection).
"""
import argparse
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Tuple

from .common import (VideoJob, add_common_args, modality_dirs, paired_frames,
                     run_cli, split_counts)

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'CEFA'
RACES = {1: 'AF', 2: 'CA', 3: 'EA'}
PAI = {1: ('live', 'none', None), 2: ('spoof', 'print', 'cloth'),
       3: ('spoof', 'print', 'photo'), 4: ('spoof', 'replay', 'screen')}
ETHNIC_RE = re.compile(r'^([123])_(\d{3})_(\d)_(\d)_(\d)$')
MASK_RE = re.compile(r'^([12])_(\d{3})_(\d)_(\d)_(\d)_(\d)_(\d)$')
MASK_TYPES = {1: '3d_mask', 2: 'silicone_mask'}
LIST_RE = re.compile(r'@?p(\d+(?:\.\d+)?)_video_(train|dev|test)\.txt$', re.I)


def split_of_subject(sid: int) -> str:
    return 'train' if sid < 200 else 'dev' if sid < 300 else 'test'


def parse_name(name: str) -> dict:
    """Metadata from a capture folder name."""
    m = ETHNIC_RE.match(name)
    if m:
        race, sid, dev, sess, pai = (int(g) for g in m.groups())
        if pai not in PAI:
            raise ValueError(f'unknown CeFA PAI code in {name!r}')
        label, attack, sub = PAI[pai]
        out = dict(label=label, attack_type=attack, race=RACES[race],
                   subject=f'{RACES[race]}-{sid:03d}', device=dev,
                   session=sess, pai=pai, split=split_of_subject(sid))
        if sub:
            out['attack_subtype'] = sub
        return out
    m = MASK_RE.match(name)
    if m:
        mtype, sid, dress, glasses, dev, sess, light = (int(g)
                                                        for g in m.groups())
        return dict(label='spoof', attack_type='mask',
                    attack_subtype=MASK_TYPES[mtype],
                    subject=f'MASK{mtype}-{sid:03d}', device=dev,
                    session=sess, dresses=dress, glasses=glasses,
                    lighting=light, split='test')
    raise ValueError(f'not a CeFA capture name: {name!r}')


def read_lists(src: str) -> Tuple[Dict[str, Dict[str, str]],
                                  Dict[str, str], List[str]]:
    """Official ``@p<k>_video_<split>.txt`` lists under ``src``:
    ``({capture name: {protocol: split}}, {capture name: label}, files)``."""
    member: Dict[str, Dict[str, str]] = {}
    labels: Dict[str, str] = {}
    files = []
    for d, dirs, fs in os.walk(src):
        dirs.sort()
        for f in sorted(fs):
            m = LIST_RE.search(f)
            if not m:
                continue
            key, split = m.group(1), m.group(2).lower()
            files.append(osp.join(d, f))
            with open(osp.join(d, f), encoding='utf-8') as fh:
                for line in fh:
                    toks = line.split()
                    if not toks:
                        continue
                    parts = [p for p in toks[0].replace('\\', '/').split('/')
                             if p]
                    if parts and parts[-1].lower() in ('color', 'profile',
                                                       'rgb', 'depth', 'ir'):
                        parts = parts[:-1]
                    cap = parts[-1]
                    member.setdefault(cap, {})[key] = split
                    if len(toks) > 1:
                        labels[cap] = 'live' if int(toks[1]) == 0 else 'spoof'
    return member, labels, files


def collect_jobs(src: str, include_masks: bool = False
                 ) -> Tuple[List[VideoJob], dict]:
    member, list_labels, list_files = read_lists(src)
    jobs, ignored, seen = [], [], set()
    for d, dirs, _ in os.walk(src):
        dirs.sort()
        name = osp.basename(d)
        if not (ETHNIC_RE.match(name) or MASK_RE.match(name)):
            continue
        dirs[:] = []
        if 'rgb' not in modality_dirs(d):
            ignored.append(d)
            continue
        info = parse_name(name)
        if info['attack_type'] == 'mask' and not include_masks:
            continue
        if name in seen:
            raise ValueError(f'CeFA: capture {name} found twice under {src}')
        seen.add(name)
        if name in list_labels and list_labels[name] != info['label']:
            raise ValueError(f'CeFA: the lists label {name} '
                             f"{list_labels[name]} but its PAI code says "
                             f"{info['label']}")
        frames = paired_frames(d)
        if not frames:
            ignored.append(d)
            continue
        subject = info.pop('subject')
        meta = dict(label=info.pop('label'),
                    attack_type=info.pop('attack_type'),
                    video_id=f'{DOMAIN}/{name}',
                    subject_id=f'{DOMAIN}/{subject}', domain=DOMAIN,
                    split=info.pop('split'), **info)
        if name in member:
            meta['cefa_protocol'] = dict(sorted(member[name].items()))
        jobs.append(VideoJob(name=name, meta=meta,
                             source=dict(type='images', frames=frames),
                             src_path=d))
    missing = sorted(set(member) - seen -
                     ({n for n in member if MASK_RE.match(n)}
                      if not include_masks else set()))
    if missing:
        logger.warning('CeFA: %d captures named in the lists were not found '
                       '(e.g. %s)', len(missing), missing[:3])
    return jobs, dict(list_files=list_files, ignored=ignored,
                      listed_but_missing=missing[:100],
                      counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert CASIA-SURF CeFA (paired color/depth/ir frames) '
        'to resized images + annotations/all.jsonl')
    add_common_args(p, crop='full', detector='none')
    p.add_argument('--include-masks', action='store_true',
                   help='also convert the 3D-mask / silicone-mask subsets')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src, args.include_masks)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
