"""CASIA-SURF converter (paired RGB / Depth / IR frames).

Raw layout (as distributed; the frames are already face crops)::

    <src>/Training/{real_part,fake_part}/CLKJ_<XX><NNNN>/<capture>.rssdk/
        {color,depth,ir}/<n>.jpg
    <src>/Val/...    <src>/Testing/...          (full release: same layout)

and one of these official list sets (searched under ``<src>``):

* video lists of the full release, e.g. ``CASIA_SURF@p1_video_train.txt``
  / ``_dev`` / ``_test``: lines ``<capture>/color <label>`` with **0 = live,
  1 = fake**;
* the CVPR 2019 challenge lists ``train_list.txt``, ``val_private_list.txt``,
  ``test_private_list.txt``: lines ``<rgb> <depth> <ir> <label>`` with
  **1 = live**; anonymised val/test frames (``Val/0000/000000-color.jpg``) are
  grouped into captures by folder.

Without lists the ``Training`` / ``Val`` / ``Testing`` folders are scanned.
The label comes from ``real_part`` / ``fake_part`` when the path has it (a list
label that disagrees is an error), else from the list. All CASIA-SURF attacks
are printed photos with cut-out regions: ``attack_type`` ``print``, the
capture name (e.g. ``04_en_b``) kept in ``capture``.

Default crop ``full`` (no detection): the images are face crops already.
"""
import argparse
import logging
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, List, Optional, Tuple

from .common import (VideoJob, add_common_args, modality_dirs, paired_frames,
                     resolve_listed, run_cli, safe_name, split_counts)

logger = logging.getLogger('mmfas.converters')

DOMAIN = 'SURF'
SPLIT_DIRS = {'Training': 'train', 'Val': 'dev', 'Testing': 'test'}
CHALLENGE_LISTS = {'train': ('train_list.txt', ),
                   'dev': ('val_private_list.txt', ),
                   'test': ('test_private_list.txt', )}
SUBJECT_RE = re.compile(r'^CLKJ_[A-Za-z]+\d+$')


def _split_from_name(name: str) -> Optional[str]:
    n = name.lower()
    if re.search(r'(^|[_@.-])train', n):
        return 'train'
    if re.search(r'(^|[_@.-])(dev|val)', n):
        return 'dev'
    if re.search(r'(^|[_@.-])test', n):
        return 'test'
    return None


def path_info(rel: str) -> dict:
    """Label / subject / capture from a SURF path (``real_part`` etc.)."""
    parts = [p for p in rel.replace('\\', '/').split('/') if p]
    out = {}
    low = [p.lower() for p in parts]
    if 'real_part' in low:
        out['label'] = 'live'
        i = low.index('real_part')
    elif 'fake_part' in low:
        out['label'] = 'spoof'
        i = low.index('fake_part')
    else:
        i = None
    if i is not None and i + 1 < len(parts):
        out['subject'] = parts[i + 1]
        if i + 2 < len(parts):
            out['capture'] = re.sub(r'\.rssdk$', '', parts[i + 2])
    for p in parts:
        if p in SPLIT_DIRS:
            out['split'] = SPLIT_DIRS[p]
    return out


def _video_dir_of(rgb_rel: str) -> str:
    d = osp.dirname(rgb_rel.replace('\\', '/'))
    if osp.basename(d).lower() in ('color', 'profile', 'rgb'):
        d = osp.dirname(d)
    return d


def _make_job(src, vrel, frames, split, list_label, label_source):
    info = path_info(vrel)
    label = info.get('label')
    if label and list_label and label != list_label:
        raise ValueError(
            f'CASIA-SURF: the list labels {vrel} {list_label} but its path '
            f'says {label} ({label_source}); check the label convention')
    label = label or list_label
    if label is None:
        raise ValueError(f'CASIA-SURF: no label for {vrel}')
    name = safe_name(re.sub(r'\.rssdk', '', vrel))
    subject = info.get('subject') or name
    meta = dict(label=label, attack_type='none' if label == 'live' else
                'print', video_id=f'{DOMAIN}/{name}',
                subject_id=f'{DOMAIN}/{subject}', domain=DOMAIN,
                split=split)
    if 'capture' in info:
        meta['capture'] = info['capture']
    if 'subject' not in info:
        meta['anonymised'] = True
    return VideoJob(name=name, meta=meta,
                    source=dict(type='images', frames=frames),
                    src_path=osp.join(src, vrel))


def _find_lists(src):
    video_lists, challenge = {}, {}
    for d, dirs, files in os.walk(src):
        dirs.sort()
        if d.count(os.sep) - src.count(os.sep) > 2:
            continue
        for f in sorted(files):
            fl = f.lower()
            if fl.endswith('.txt') and 'video' in fl:
                s = _split_from_name(fl.split('video', 1)[1])
                if s and s not in video_lists:
                    video_lists[s] = osp.join(d, f)
            for s, names in CHALLENGE_LISTS.items():
                if fl in names and s not in challenge:
                    challenge[s] = osp.join(d, f)
    return video_lists, challenge


def collect_jobs(src: str, list_style: str = 'auto'
                 ) -> Tuple[List[VideoJob], dict]:
    video_lists, challenge = _find_lists(src)
    if list_style == 'auto':
        list_style = 'video' if video_lists else \
            'challenge' if challenge else 'scan'
    jobs = []
    if list_style == 'video':
        if not video_lists:
            raise FileNotFoundError(f'no *video_{{train,dev,test}}.txt lists '
                                    f'under {src}')
        for split, lst in sorted(video_lists.items()):
            with open(lst, encoding='utf-8') as f:
                for line in f:
                    toks = line.split()
                    if not toks:
                        continue
                    vdir = resolve_listed(src, toks[0])
                    if vdir is None:
                        raise FileNotFoundError(
                            f'{lst}: {toks[0]} not found under {src}')
                    if osp.basename(vdir).lower() in ('color', 'profile',
                                                      'rgb'):
                        vdir = osp.dirname(vdir)
                    lab = None
                    if len(toks) > 1:
                        lab = 'live' if int(toks[1]) == 0 else 'spoof'
                    frames = paired_frames(vdir)
                    if not frames:
                        raise FileNotFoundError(f'no frames in {vdir}')
                    jobs.append(_make_job(src, osp.relpath(vdir, src),
                                          frames, split, lab, 'video list: '
                                          '0 = live'))
    elif list_style == 'challenge':
        for split, lst in sorted(challenge.items()):
            groups: 'OrderedDict[str, list]' = OrderedDict()
            labels: Dict[str, Optional[str]] = {}
            with open(lst, encoding='utf-8') as f:
                for line in f:
                    toks = line.split()
                    if len(toks) < 3:
                        continue
                    fr = {}
                    for m, rel in zip(('rgb', 'depth', 'ir'), toks[:3]):
                        p = resolve_listed(src, rel)
                        if p is None:
                            raise FileNotFoundError(
                                f'{lst}: {rel} not found under {src}')
                        fr[m] = p
                    vrel = _video_dir_of(osp.relpath(fr['rgb'], src))
                    groups.setdefault(vrel, []).append(fr)
                    if len(toks) > 3:
                        lab = 'live' if int(toks[3]) == 1 else 'spoof'
                        if labels.get(vrel, lab) != lab:
                            raise ValueError(f'{lst}: mixed labels in {vrel}')
                        labels[vrel] = lab
            for vrel, frames in groups.items():
                frames.sort(key=lambda fr: fr['rgb'])
                jobs.append(_make_job(src, vrel, frames, split,
                                      labels.get(vrel),
                                      'challenge list: 1 = live'))
    elif list_style == 'scan':
        for top, split in SPLIT_DIRS.items():
            tdir = osp.join(src, top)
            if not osp.isdir(tdir):
                cand = [osp.join(src, e, top) for e in sorted(os.listdir(src))
                        if osp.isdir(osp.join(src, e, top))]
                if not cand:
                    continue
                tdir = cand[0]
            for d, dirs, _ in os.walk(tdir):
                dirs.sort()
                if 'rgb' in modality_dirs(d) and d != tdir:
                    frames = paired_frames(d)
                    if frames:
                        jobs.append(_make_job(src, osp.relpath(d, src),
                                              frames, split, None, 'scan'))
                    dirs[:] = []
    else:
        raise ValueError(f'unknown list style {list_style!r}')
    used = video_lists if list_style == 'video' else \
        challenge if list_style == 'challenge' else {}
    return jobs, dict(list_style=list_style, lists=dict(used),
                      counts=split_counts(jobs))


def build_parser():
    p = argparse.ArgumentParser(
        description='Convert CASIA-SURF (paired color/depth/ir frames) to '
        'resized images + annotations/all.jsonl')
    add_common_args(p, crop='full', detector='none')
    p.add_argument('--list-style', choices=('auto', 'video', 'challenge',
                                            'scan'), default='auto',
                   help='video: the full release\'s video lists; challenge: '
                   'the CVPR 2019 challenge lists; scan: the Training / Val '
                   '/ Testing folders; auto: the first found (default)')
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    jobs, info = collect_jobs(args.src, args.list_style)
    return run_cli(args, DOMAIN, jobs, extra_summary=dict(scan=info),
                   layout=__doc__)
