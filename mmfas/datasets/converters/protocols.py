"""Protocol lists built from the converters' ``all.jsonl`` files.

Every protocol is a folder ``<out>/protocols/<name>/`` with

* ``train.jsonl``: source training records;
* ``val.jsonl``: source-domain validation records (``eval_role: "val"``), for
  the honest threshold and checkpoint selection (absent when the protocol has
  no source validation data, e.g. legacy single-source pairs without OULU or
  Replay);
* ``test.jsonl``: target test records (``eval_role: "test"``);
* ``eval.jsonl``: ``val`` + ``test`` in one file, for a single evaluation pass
  that takes the threshold on the ``val`` records and applies it to ``test``;
* ``meta.json``: what the protocol is, its sources / target, seed and counts.

Records are copies of the ``all.jsonl`` records (paths stay relative to the
output root); K-shot training records carry ``kshot: true``.

Names (O OULU-NPU, C CASIA-FASD, I Replay-Attack, M MSU-MFSD; in WCS: W WMCA,
C CeFA, S CASIA-SURF):

* ``ocim_{legacy,clean}_{OCI2M,OMI2C,OCM2I,ICM2O}`` (+ ``_celeba``: CelebA-
  Spoof train as a 4th source; + ``_5shot``: 5 live + 5 spoof target videos
  join training; + ``_oneclass``: sources live only).
  *legacy*: every video of each dataset except OULU Dev, Replay devel and
  enroll (O 3600, C 600, I 840, M 280), for sources and target alike; frames
  per video cut to 2 (FLIP's positions); val = OULU Dev + Replay devel of the
  sources. 5-shot videos are drawn from the target's test list and leave it.
  *clean*: official splits; sources' train for training, sources' dev (OULU
  Dev, Replay devel; for CASIA / MSU a seeded subject-disjoint 20 % of the
  train subjects, removed from training) for val, target's official test
  split for test. 5-shot videos come from the target's train split.
* ``limited_{legacy,clean}_{MI2C,MI2O}`` and the 12 single-source pairs
  ``single_{legacy,clean}_<S>2<T>``.
* ``wcs_{CS2W,SW2C,CW2S}``: RGB only (depth / ir paths dropped); train =
  sources' train, val = sources' dev, test = target's test.
* ``oulu_p1``, ``oulu_p2``, ``oulu_p3_<1-6>``, ``oulu_p4_<1-6>`` (official
  Train / Dev / Test membership) and their ``_oneclass`` variants.
* ``crossmodal_<SURF|CEFA|WMCA>_<depth|ir>_<K>shot``: train = every RGB
  training record (RGB path only) + one frame of each of K target-modality
  videos per class from the train split (target path only, seeded); val /
  test = the dev / test split with the target modality only. Records carry
  ``modality``.
* ``crossmodal_<S>2<T>_<depth|ir>_<K>shot`` (S, T two of SURF, CEFA, WMCA):
  across datasets: train = every RGB training record of S + the same K
  target-modality shots of T as ``crossmodal_<T>_...`` (the draw depends on
  T, the modality and K only); val / test = T's dev / test split in the
  target modality.

One-class variants keep only live records in train and (unless
``oneclass_val='both'``) in val: select the threshold there at a BPCER target.
"""
import argparse
import json
import logging
import math
import os
import os.path as osp
import random
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence

from mmfas.datasets.annotation import load_annotations, write_annotations
from .common import ConversionError

logger = logging.getLogger('mmfas.converters')

OCIM = OrderedDict(O='OULU', C='CASIA', I='REPLAY', M='MSU')
WCS = OrderedDict(W='WMCA', C='CEFA', S='SURF')
OCIM_TASKS = ('OCI2M', 'OMI2C', 'OCM2I', 'ICM2O')
LIMITED_TASKS = ('MI2C', 'MI2O')
WCS_TASKS = ('CS2W', 'SW2C', 'CW2S')
OULU_KEYS = ['1', '2'] + [f'3_{k}' for k in range(1, 7)] + \
    [f'4_{k}' for k in range(1, 7)]
CROSSMODAL_DOMAINS = ('SURF', 'CEFA', 'WMCA')
GROUPS = ('ocim', 'limited', 'wcs', 'oulu', 'crossmodal')
FORMS = ('legacy', 'clean')


class MissingDomain(LookupError):
    """A protocol needs data that has not been converted (a dataset, or
    the part of one the protocol selects); it is skipped and listed."""


# --------------------------------------------------------------------------
# loading and small helpers
# --------------------------------------------------------------------------
def load_domains(out_root: str,
                 domains: Optional[Iterable[str]] = None,
                 check_files: bool = False) -> Dict[str, List[dict]]:
    """``{domain: records}`` for every ``<out>/<D>/annotations/all.jsonl``
    present (or the named ones, which must exist)."""
    found = {}
    names = list(domains) if domains else sorted(
        d for d in os.listdir(out_root)
        if osp.isfile(osp.join(out_root, d, 'annotations', 'all.jsonl')))
    for d in names:
        f = osp.join(out_root, d, 'annotations', 'all.jsonl')
        recs = load_annotations(f, data_root=out_root,
                                check_files=check_files)
        found[d] = [{k: v for k, v in r.items() if not k.startswith('_')}
                    for r in recs]
    return found


def _clean(rec: dict, **tags) -> dict:
    r = {k: v for k, v in rec.items() if not k.startswith('_')}
    r.update(tags)
    return r


def group_videos(records: Sequence[dict]) -> 'OrderedDict[str, list]':
    out: 'OrderedDict[str, list]' = OrderedDict()
    for r in sorted(records, key=lambda r: (r['video_id'],
                                            r.get('frame') or 0)):
        out.setdefault(r['video_id'], []).append(r)
    return out


def select_frames(frames: Sequence[dict], n: Optional[int]) -> List[dict]:
    """At most ``n`` frames of one video. For ``n == 2`` the frames nearest
    FLIP's positions (6 and 6 + total / 2); otherwise evenly spaced."""
    frames = sorted(frames, key=lambda r: r.get('frame') or 0)
    if not n or len(frames) <= n:
        return list(frames)
    total = frames[0].get('frame_total')
    if n == 2 and total:
        chosen = []
        for t in (6, 6 + int(total) // 2):
            best = min((f for f in frames if f not in chosen),
                       key=lambda f: (abs((f.get('frame') or 0) - t),
                                      f.get('frame') or 0))
            chosen.append(best)
        return sorted(chosen, key=lambda r: r.get('frame') or 0)
    idx = sorted({round(i * (len(frames) - 1) / max(n - 1, 1))
                  for i in range(n)})
    return [frames[i] for i in idx]


def limit_frames(records: Sequence[dict], n: Optional[int]) -> List[dict]:
    if not n:
        return list(records)
    out = []
    for frames in group_videos(records).values():
        out += select_frames(frames, n)
    return out


def without_enroll(recs: Sequence[dict]) -> List[dict]:
    """Drop Replay-Attack's enroll videos (``replay_role: "enroll"``, only
    converted with ``--include-enroll``): they are face-verification
    enrolment captures, and no protocol uses them, in any role (train, val,
    test or K-shot pool)."""
    return [r for r in recs if r.get('replay_role') != 'enroll']


def legacy_pool(domain: str, recs: Sequence[dict]) -> List[dict]:
    """The videos a legacy OCIM protocol uses: OULU and Replay without their
    dev split; every video otherwise (enroll videos never)."""
    recs = without_enroll(recs)
    if domain in ('OULU', 'REPLAY'):
        return [r for r in recs if r['split'] in ('train', 'test')]
    return recs


def legacy_val(domain: str, recs: Sequence[dict]) -> List[dict]:
    if domain in ('OULU', 'REPLAY'):
        return [r for r in without_enroll(recs) if r['split'] == 'dev']
    return []


def holdout_subjects(recs: Sequence[dict], ratio: float,
                     seed: int, key: str) -> set:
    """A seeded subject-disjoint share of the subjects of ``recs``."""
    subjects = sorted({r['subject_id'] for r in recs})
    if len(subjects) < 2 or ratio <= 0:
        return set()
    n = min(len(subjects) - 1, max(1, int(math.ceil(ratio * len(subjects)))))
    rng = random.Random(f'{seed}:{key}')
    return set(rng.sample(subjects, n))


def clean_source(domain: str, recs: Sequence[dict], seed: int,
                 val_ratio: float):
    """``(train, val)`` of a source in the clean form."""
    recs = without_enroll(recs)
    train = [r for r in recs if r['split'] == 'train']
    dev = [r for r in recs if r['split'] == 'dev']
    if dev:
        return train, dev
    held = holdout_subjects(train, val_ratio, seed, f'val:{domain}')
    return ([r for r in train if r['subject_id'] not in held],
            [r for r in train if r['subject_id'] in held])


def pick_shots(recs: Sequence[dict], k: int, seed: int,
               key: str) -> List[str]:
    """``k`` live + ``k`` spoof video ids, seeded (sorted ids sampled)."""
    chosen = []
    for label in ('live', 'spoof'):
        vids = sorted({r['video_id'] for r in recs if r['label'] == label})
        if len(vids) < k:
            raise ValueError(f'{key}: only {len(vids)} {label} videos for '
                             f'{k}-shot')
        rng = random.Random(f'{seed}:{key}:{label}')
        chosen += sorted(rng.sample(vids, k))
    return chosen


def _counts(recs: Sequence[dict]) -> dict:
    return dict(frames=len(recs),
                videos=len({r['video_id'] for r in recs}),
                live=sum(r['label'] == 'live' for r in recs),
                spoof=sum(r['label'] == 'spoof' for r in recs),
                domains=sorted({r['domain'] for r in recs}))


def _sorted(recs: Iterable[dict], order: Sequence[str]) -> List[dict]:
    rank = {d: i for i, d in enumerate(order)}
    return sorted(recs, key=lambda r: (rank.get(r['domain'], 99),
                                       r['video_id'], r.get('frame') or 0,
                                       r.get('modality', '')))


def write_protocol(out_root: str, name: str, train: Sequence[dict],
                   val: Sequence[dict], test: Sequence[dict],
                   meta: dict) -> dict:
    """Write one protocol folder; returns its ``meta`` (with counts)."""
    if not train or not test:
        raise MissingDomain(f'protocol {name}: empty '
                            f"{'train' if not train else 'test'} list (only "
                            'part of a dataset converted?)')
    enroll = sorted({r['video_id'] for r in [*train, *val, *test]
                     if r.get('replay_role') == 'enroll'})
    if enroll:  # a bug guard: protocols never use enroll videos
        raise AssertionError(f'{name}: enroll videos in the lists: '
                             f'{enroll[:3]}')
    pdir = osp.join(out_root, 'protocols', name)
    os.makedirs(pdir, exist_ok=True)
    order = meta.get('domain_order', [])
    train = _sorted([_clean(r) for r in train], order)
    val = _sorted([_clean(r, eval_role='val') for r in val], order)
    test = _sorted([_clean(r, eval_role='test') for r in test], order)
    write_annotations(train, osp.join(pdir, 'train.jsonl'))
    if val:
        write_annotations(val, osp.join(pdir, 'val.jsonl'))
    elif osp.exists(osp.join(pdir, 'val.jsonl')):
        os.remove(osp.join(pdir, 'val.jsonl'))
    write_annotations(test, osp.join(pdir, 'test.jsonl'))
    write_annotations(val + test, osp.join(pdir, 'eval.jsonl'))
    tv = {r['video_id'] for r in train if r['domain'] == meta.get('target')}
    overlap = tv & {r['video_id'] for r in test}
    if overlap:  # a bug guard: K-shot videos must leave the test list
        raise AssertionError(f'{name}: {len(overlap)} target videos in both '
                             'train and test')
    meta = dict(meta, name=name,
                counts=dict(train=_counts(train), val=_counts(val),
                            test=_counts(test)),
                files=dict(train='train.jsonl',
                           val='val.jsonl' if val else None,
                           test='test.jsonl', eval='eval.jsonl'))
    meta.pop('domain_order', None)
    with open(osp.join(pdir, 'meta.json'), 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    return meta


# --------------------------------------------------------------------------
# protocol builders
# --------------------------------------------------------------------------
def build_cross_domain(data: Dict[str, List[dict]], letters: Dict[str, str],
                       task: str, form: str, *, shots: int = 0,
                       oneclass: bool = False, celeba: bool = False,
                       seed: int = 0, val_ratio: float = 0.2,
                       legacy_frames: Optional[int] = 2,
                       oneclass_val: str = 'live', rgb_only: bool = False):
    """train / val / test records of a leave-out task such as ``OCI2M``."""
    src_letters, tgt_letter = task.split('2')
    sources = [letters[c] for c in src_letters]
    target = letters[tgt_letter]
    missing = [d for d in sources + [target] + (['CELEBA'] if celeba else [])
               if d not in data]
    if missing:
        raise MissingDomain(f'{task}: no annotations for {missing}')
    # enroll videos in no role: not as sources, target test or K-shot pool
    data = {d: without_enroll(data[d]) for d in
            sources + [target] + (['CELEBA'] if celeba else [])}
    train, val = [], []
    for d in sources:
        if form == 'legacy':
            train += limit_frames(legacy_pool(d, data[d]), legacy_frames)
            val += limit_frames(legacy_val(d, data[d]), legacy_frames)
        else:
            t, v = clean_source(d, data[d], seed, val_ratio)
            train, val = train + t, val + v
    if celeba:
        train += [r for r in data['CELEBA'] if r['split'] == 'train']
    if form == 'legacy':
        test = limit_frames(legacy_pool(target, data[target]), legacy_frames)
        shot_pool = test
    else:
        test = [r for r in data[target] if r['split'] == 'test']
        shot_pool = [r for r in data[target] if r['split'] == 'train']
    shot_ids = []
    if shots:
        shot_ids = pick_shots(shot_pool, shots, seed,
                              f'{form}:{task}:{shots}shot')
        ids = set(shot_ids)
        train += [_clean(r, kshot=True) for r in shot_pool
                  if r['video_id'] in ids]
        test = [r for r in test if r['video_id'] not in ids]
    if oneclass:
        train = [r for r in train if r['label'] == 'live']
        if oneclass_val == 'live':
            val = [r for r in val if r['label'] == 'live']
    if rgb_only:
        def strip(rs):
            return [{k: v for k, v in r.items() if k not in ('depth', 'ir')}
                    for r in rs if r.get('rgb')]
        train, val, test = strip(train), strip(val), strip(test)
    meta = dict(sources=sources + (['CELEBA'] if celeba else []),
                target=target, form=form, shots=shots, seed=seed,
                shot_videos=shot_ids, oneclass=oneclass,
                domain_order=sources + ['CELEBA', target])
    return train, val, test, meta


def build_oulu(data, key: str, oneclass: bool = False,
               oneclass_val: str = 'live'):
    recs = data['OULU']
    sel = {s: [r for r in recs
               if (r.get('oulu_protocol') or {}).get(key) == s]
           for s in ('train', 'dev', 'test')}
    train, val, test = sel['train'], sel['dev'], sel['test']
    if oneclass:
        train = [r for r in train if r['label'] == 'live']
        if oneclass_val == 'live':
            val = [r for r in val if r['label'] == 'live']
    meta = dict(sources=['OULU'], target='OULU', oulu_protocol=key,
                oneclass=oneclass, domain_order=['OULU'])
    return train, val, test, meta


def build_crossmodal(data, domain: str, modality: str, k: int,
                     seed: int = 0, source: Optional[str] = None):
    """RGB training data of ``source`` (default: ``domain`` itself) + K
    ``modality`` shots per class of ``domain`` -> ``domain``'s
    ``modality``."""
    if modality not in ('depth', 'ir'):
        raise ValueError(f'target modality must be depth or ir, got '
                         f'{modality!r}')
    source = source or domain
    recs = data[domain]

    def only(r, m, **tags):
        out = {kk: v for kk, v in r.items() if kk not in ('rgb', 'depth',
                                                          'ir')}
        out[m] = r[m]
        out.update(modality=m, **tags)
        return out

    train = [only(r, 'rgb') for r in data[source]
             if r['split'] == 'train' and r.get('rgb')]
    pool = [r for r in recs if r['split'] == 'train' and r.get(modality)]
    ids = pick_shots(pool, k, seed, f'crossmodal:{domain}:{modality}:{k}')
    for vid, frames in group_videos([r for r in pool
                                     if r['video_id'] in set(ids)]).items():
        train.append(only(frames[0], modality, kshot=True))
    val = [only(r, modality) for r in recs
           if r['split'] == 'dev' and r.get(modality)]
    test = [only(r, modality) for r in recs
            if r['split'] == 'test' and r.get(modality)]
    test = [r for r in test if r['video_id'] not in set(ids)]
    order = [domain] if source == domain else [source, domain]
    meta = dict(sources=order, target=domain, modality=modality,
                train_modalities=['rgb', modality], shots=k, seed=seed,
                shot_videos=ids, domain_order=order)
    return train, val, test, meta


# --------------------------------------------------------------------------
# everything
# --------------------------------------------------------------------------
def make_protocols(out_root: str,
                   groups: Sequence[str] = GROUPS,
                   forms: Sequence[str] = FORMS,
                   shots: Sequence[int] = (5, ),
                   oneclass: bool = True,
                   celeba: bool = False,
                   crossmodal_shots: Sequence[int] = (1, 5, 10),
                   seed: int = 0,
                   val_ratio: float = 0.2,
                   legacy_frames: Optional[int] = 2,
                   oneclass_val: str = 'live',
                   data: Optional[Dict[str, List[dict]]] = None) -> dict:
    """Build every protocol the available datasets allow.

    Returns ``{name: meta}`` and writes ``<out>/protocols/index.json``;
    protocols whose datasets are missing are listed under ``skipped``.
    """
    data = data if data is not None else load_domains(out_root)
    bad = [g for g in groups if g not in GROUPS]
    if bad:
        raise ValueError(f'unknown protocol group(s) {bad}; choose from '
                         f'{list(GROUPS)}')
    made, skipped = OrderedDict(), OrderedDict()

    def emit(name, fn, *a, **kw):
        try:
            tr, va, te, meta = fn(*a, **kw)
            made[name] = write_protocol(out_root, name, tr, va, te, meta)
        except MissingDomain as e:
            skipped[name] = str(e)

    common = dict(seed=seed, val_ratio=val_ratio,
                  legacy_frames=legacy_frames, oneclass_val=oneclass_val)
    for form in forms:
        if 'ocim' in groups:
            for task in OCIM_TASKS:
                base = f'ocim_{form}_{task}'
                emit(base, build_cross_domain, data, OCIM, task, form,
                     **common)
                for k in shots:
                    emit(f'{base}_{k}shot', build_cross_domain, data, OCIM,
                         task, form, shots=k, **common)
                if celeba:
                    emit(f'{base}_celeba', build_cross_domain, data, OCIM,
                         task, form, celeba=True, **common)
                    for k in shots:
                        emit(f'{base}_celeba_{k}shot', build_cross_domain,
                             data, OCIM, task, form, shots=k, celeba=True,
                             **common)
                if oneclass:
                    emit(f'{base}_oneclass', build_cross_domain, data, OCIM,
                         task, form, oneclass=True, **common)
        if 'limited' in groups:
            for task in LIMITED_TASKS:
                emit(f'limited_{form}_{task}', build_cross_domain, data,
                     OCIM, task, form, **common)
            for s in OCIM:
                for t in OCIM:
                    if s != t:
                        emit(f'single_{form}_{s}2{t}', build_cross_domain,
                             data, OCIM, f'{s}2{t}', form, **common)
    if 'wcs' in groups:
        for task in WCS_TASKS:
            emit(f'wcs_{task}', build_cross_domain, data, WCS, task,
                 'clean', rgb_only=True, **common)
    if 'oulu' in groups:
        for key in OULU_KEYS:
            emit(f'oulu_p{key}', _need(build_oulu, 'OULU'), data, key)
            if oneclass:
                emit(f'oulu_p{key}_oneclass', _need(build_oulu, 'OULU'),
                     data, key, oneclass=True, oneclass_val=oneclass_val)
    if 'crossmodal' in groups:
        for d in CROSSMODAL_DOMAINS:
            for m in ('depth', 'ir'):
                for k in crossmodal_shots:
                    emit(f'crossmodal_{d}_{m}_{k}shot',
                         _need(build_crossmodal, d), data, d, m, k, seed)
                    for src in CROSSMODAL_DOMAINS:
                        if src == d:
                            continue
                        emit(f'crossmodal_{src}2{d}_{m}_{k}shot',
                             _need(_need(build_crossmodal, d), src), data,
                             d, m, k, seed, source=src)
    index = dict(protocols={n: _describe(m) for n, m in made.items()},
                 skipped=skipped, seed=seed)
    os.makedirs(osp.join(out_root, 'protocols'), exist_ok=True)
    with open(osp.join(out_root, 'protocols', 'index.json'), 'w',
              encoding='utf-8') as f:
        json.dump(index, f, indent=1)
    return dict(made=made, skipped=skipped)


def _need(fn, domain):
    def wrapped(data, *a, **kw):
        if domain not in data:
            raise MissingDomain(f'no annotations for {domain}')
        return fn(data, *a, **kw)
    return wrapped


def _describe(meta: dict) -> dict:
    c = meta['counts']
    return dict(sources=meta.get('sources'), target=meta.get('target'),
                form=meta.get('form'), shots=meta.get('shots'),
                oneclass=meta.get('oneclass'),
                modality=meta.get('modality'),
                train_videos=c['train']['videos'],
                val_videos=c['val']['videos'],
                test_videos=c['test']['videos'])


def build_parser():
    p = argparse.ArgumentParser(
        description='Write protocol lists (<out>/protocols/<name>/{train,'
        'val,test,eval}.jsonl) from the converters\' all.jsonl files')
    p.add_argument('out', help='the converters\' output root')
    p.add_argument('--groups', default=','.join(GROUPS),
                   help='comma-separated subset of ' + ','.join(GROUPS))
    p.add_argument('--forms', default=','.join(FORMS),
                   help='legacy, clean or both (OCIM / limited)')
    p.add_argument('--shots', default='5',
                   help='K-shot variants of the OCIM tasks (comma list; '
                   '0 or empty for none)')
    p.add_argument('--crossmodal-shots', default='1,5,10',
                   help='K of the cross-modal protocols: K target-modality '
                   'videos per class join training (comma list)')
    p.add_argument('--with-celeba', action='store_true',
                   help='also write the _celeba variants (CelebA-Spoof '
                   'train as an extra source)')
    p.add_argument('--no-oneclass', action='store_true',
                   help='do not write the _oneclass (live-only sources) '
                   'variants')
    p.add_argument('--oneclass-val', choices=('live', 'both'),
                   default='live',
                   help='validation split of the one-class variants: live '
                   'only (default) or both classes')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the K-shot and held-out subject draws')
    p.add_argument('--val-ratio', type=float, default=0.2,
                   help='share of train subjects held out as val where a '
                   'dataset has no dev split (clean form)')
    p.add_argument('--legacy-frames', type=int, default=2,
                   help='frames per video in the legacy form (0: all)')
    return p


def _ints(s):
    return [int(t) for t in str(s).split(',') if t.strip() and int(t)]


def main(argv=None):
    """The CLI. Raises :class:`~.common.ConversionError` (exit 1 through
    ``cli_entry``) when ``OUT`` holds no converted dataset or no protocol
    could be built."""
    logging.basicConfig(level=logging.INFO, format='%(message)s')
    a = build_parser().parse_args(argv)
    if not osp.isdir(a.out) or not any(
            osp.isfile(osp.join(a.out, d, 'annotations', 'all.jsonl'))
            for d in os.listdir(a.out)):
        raise ConversionError(
            f'no converted dataset under {a.out} (looked for '
            f'{a.out}/<DOMAIN>/annotations/all.jsonl): give the output root '
            'of the converters (tools/dataset_converters/*.py), after '
            'running them')
    res = make_protocols(
        a.out, groups=[g.strip() for g in a.groups.split(',') if g.strip()],
        forms=[f.strip() for f in a.forms.split(',') if f.strip()],
        shots=_ints(a.shots), oneclass=not a.no_oneclass,
        celeba=a.with_celeba, crossmodal_shots=_ints(a.crossmodal_shots),
        seed=a.seed, val_ratio=a.val_ratio,
        legacy_frames=a.legacy_frames or None, oneclass_val=a.oneclass_val)
    for name, meta in res['made'].items():
        c = meta['counts']
        print(f"{name}: train {c['train']['videos']} videos / "
              f"{c['train']['frames']} frames, val {c['val']['videos']}, "
              f"test {c['test']['videos']} videos / "
              f"{c['test']['frames']} frames")
    if res['skipped']:
        print(f"skipped {len(res['skipped'])} protocols (datasets missing): "
              + ', '.join(sorted(res['skipped'])[:10])
              + (' ...' if len(res['skipped']) > 10 else ''))
    if not res['made']:
        first = next(iter(res['skipped'].values()), 'none requested')
        raise ConversionError(f'no protocol could be built from {a.out} '
                              f'(e.g. {first})')
    return res
