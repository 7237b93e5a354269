"""The FAS dataset every method reads (annotation format: ``annotation.py``)."""
import os.path as osp
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.logging import MMLogger
from mmpretrain.datasets.base_dataset import BaseDataset

from mmfas.registry import DATASETS
from .annotation import CLASSES, LABELS, MODALITIES, load_annotations

StrOrSeq = Optional[Union[str, Sequence[str]]]


def _as_set(value: StrOrSeq, key: str, allowed=None) -> Optional[set]:
    if value is None:
        return None
    values = {value} if isinstance(value, str) else set(value)
    if allowed is not None:
        bad = values - set(allowed)
        if bad:
            raise ValueError(f'FASDataset: unknown {key} {sorted(bad)}; '
                             f'expected a subset of {list(allowed)}')
    return values


def select_kshot_videos(records: List[dict], k: int, seed: int) -> set:
    """Seeded choice of ``k`` live and ``k`` spoof video ids.

    The choice depends only on the set of (video id, label) pairs and the
    seed, not on record order, so the training set (which keeps the chosen
    videos) and the test set (which drops them) agree.

    Raises:
        ValueError: a class has fewer than ``k`` videos.
    """
    by_label: Dict[str, set] = {}
    for rec in records:
        by_label.setdefault(rec['label'], set()).add(rec['video_id'])
    rng = np.random.default_rng(seed)
    chosen = set()
    for label in sorted(LABELS):
        videos = sorted(by_label.get(label, ()))
        if len(videos) < k:
            raise ValueError(f'k-shot selection needs {k} {label} videos, '
                             f'only {len(videos)} available')
        chosen.update(rng.choice(videos, size=k, replace=False).tolist())
    return chosen


@DATASETS.register_module()
class FASDataset(BaseDataset):
    """Face anti-spoofing dataset over one or several annotation files.

    Each item is one frame (or one set of paired modality frames). Labels
    follow mmfas' convention ``spoof = 0, live = 1`` (``CLASSES``).

    Args:
        ann_file (str | list[str]): JSONL annotation file(s), relative to
            ``data_root`` unless absolute. Several files = multi-source.
        data_root (str): Root of the image paths. Defaults to ''.
        pipeline (list): Transform configs. Defaults to ().
        split (str | list[str], optional): Keep these splits (``train``,
            ``dev``, ``test``). Defaults to None (all).
        label (str, optional): ``'live'`` or ``'spoof'`` only. ``'live'``
            gives the one-class (live-only) training set. Defaults to None.
        modalities (str | list[str]): Modalities to load; records missing any
            of them raise an error (nothing is dropped silently) unless
            ``missing_modality='skip'`` (then the dropped count is logged).
            Defaults to ``('rgb',)``.
        modality_mode (str): ``'paired'``: one item per record with all
            ``modalities`` (same spatial augmentation); ``'expand'``: one item
            per (record, modality), ``modality`` set per item (cross-modal
            training). Defaults to ``'paired'``.
        attack_types (list[str], optional): Keep live samples and these attack
            types. Defaults to None (all).
        domains (list[str], optional): Keep these domains. Defaults to None.
        domain_names (list[str], optional): Order of the domain index
            (``domain_label``). Defaults to the sorted domains kept.
        frames_per_video (int, optional): Keep this many evenly spaced frames
            per video (by ``frame``, then file order). Defaults to None (all).
        kshot (dict, optional): ``dict(k=5, seed=0, keep='selected' |
            'rest', domains=None, split=None)``: a seeded choice of ``k`` live
            and ``k`` spoof videos among the records of ``domains`` (and
            ``split``: the pool). ``'selected'`` (the few-shot target part of
            a training set): records of ``domains`` are reduced to the chosen
            videos, which are exempt from the ``split`` filter (the pool has
            its own); ``'rest'`` (the test set): the chosen videos are
            removed. Records of other domains are untouched either way.
            With ``modality='depth'`` (or ``'ir'``, cross-modal K-shot) the
            pool holds only records that have that modality, and
            ``'selected'`` *adds* every frame of the chosen videos as items
            of that modality (``modality='depth'``), exempt from the
            ``split``, ``domains`` and ``modalities`` filters, to the items
            the other filters select (the sources' RGB); ``'rest'`` removes
            the chosen videos as before. Give the test set the same dict
            with ``keep='rest'``: both draw the same videos.
        eval_role (str, optional): ``'val'`` (source validation, used by
            FASMetric's ``val`` threshold policy) or ``'test'`` for every
            sample. Defaults to None: each record's own ``eval_role`` field
            if it has one (the protocol lists' ``eval.jsonl`` holds both),
            else unset (the metric treats it as ``'test'``).
        check_files (bool): Check every image exists at load time.
            Defaults to True.
        **kwargs: Passed to :class:`mmpretrain.datasets.BaseDataset`.
    """

    METAINFO = {'classes': CLASSES}

    def __init__(self,
                 ann_file: Union[str, Sequence[str]],
                 data_root: str = '',
                 pipeline: Sequence = (),
                 split: StrOrSeq = None,
                 label: Optional[str] = None,
                 modalities: StrOrSeq = ('rgb', ),
                 modality_mode: str = 'paired',
                 missing_modality: str = 'error',
                 attack_types: StrOrSeq = None,
                 domains: StrOrSeq = None,
                 domain_names: Optional[Sequence[str]] = None,
                 frames_per_video: Optional[int] = None,
                 kshot: Optional[dict] = None,
                 eval_role: Optional[str] = None,
                 check_files: bool = True,
                 **kwargs):
        self.ann_files = [ann_file] if isinstance(ann_file, str) else list(
            ann_file)
        if not self.ann_files:
            raise ValueError('FASDataset: ann_file is empty')
        self.split = _as_set(split, 'split', ('train', 'dev', 'test'))
        if label is not None and label not in LABELS:
            raise ValueError(f'FASDataset: label must be one of '
                             f'{sorted(LABELS)} or None, got {label!r}')
        self.label = label
        self.modalities = [modalities] if isinstance(
            modalities, str) else list(modalities)
        bad = set(self.modalities) - set(MODALITIES)
        if bad or not self.modalities:
            raise ValueError(f'FASDataset: modalities must be a non-empty '
                             f'subset of {list(MODALITIES)}, got '
                             f'{self.modalities}')
        if modality_mode not in ('paired', 'expand'):
            raise ValueError('FASDataset: modality_mode must be "paired" or '
                             f'"expand", got {modality_mode!r}')
        if missing_modality not in ('error', 'skip'):
            raise ValueError('FASDataset: missing_modality must be "error" '
                             f'or "skip", got {missing_modality!r}')
        self.modality_mode = modality_mode
        self.missing_modality = missing_modality
        self.attack_types = _as_set(attack_types, 'attack_types')
        self.domains = _as_set(domains, 'domains')
        self.domain_names = list(domain_names) if domain_names else None
        if frames_per_video is not None and frames_per_video < 1:
            raise ValueError('FASDataset: frames_per_video must be >= 1, got '
                             f'{frames_per_video}')
        self.frames_per_video = frames_per_video
        self.kshot = dict(kshot) if kshot else None
        if self.kshot is not None:
            unknown = set(self.kshot) - {'k', 'seed', 'keep', 'domains',
                                         'split', 'modality'}
            if unknown or 'k' not in self.kshot:
                raise ValueError('FASDataset: kshot takes k (required), seed, '
                                 'keep, domains, split, modality; got '
                                 f'{self.kshot}')
            if self.kshot.get('keep', 'selected') not in ('selected',
                                                          'rest'):
                raise ValueError('FASDataset: kshot.keep must be "selected" '
                                 'or "rest"')
            shot_mod = self.kshot.get('modality')
            if shot_mod is not None and shot_mod not in MODALITIES:
                raise ValueError(f'FASDataset: kshot.modality must be one of '
                                 f'{list(MODALITIES)} or None, got '
                                 f'{shot_mod!r}')
        if eval_role not in (None, 'val', 'test'):
            raise ValueError('FASDataset: eval_role must be "val", "test" or '
                             f'None, got {eval_role!r}')
        self.eval_role = eval_role
        self.check_files = check_files
        super().__init__(
            ann_file=self.ann_files[0],
            data_root=data_root,
            pipeline=pipeline,
            **kwargs)

    # ------------------------------------------------------------------ load
    def _read_all(self) -> List[dict]:
        records = []
        for ann in self.ann_files:
            path = ann if osp.isabs(ann) or not self.data_root else \
                osp.join(self.data_root, ann)
            for rec in load_annotations(path, self.data_root or None,
                                        check_files=self.check_files):
                rec['_ann_file'] = path
                records.append(rec)
        return records

    def _apply_kshot(self, records: List[dict]
                     ) -> Tuple[List[dict], List[dict]]:
        """Returns the records left for the usual filters and the k-shot
        items of ``kshot.modality`` (empty without it)."""
        cfg = self.kshot
        domains = _as_set(cfg.get('domains'), 'kshot.domains')
        splits = _as_set(cfg.get('split'), 'kshot.split')
        modality = cfg.get('modality')

        def in_pool(r):
            return ((domains is None or r['domain'] in domains)
                    and (splits is None or r['split'] in splits)
                    and (modality is None or bool(r.get(modality))))

        pool = [r for r in records if in_pool(r)]
        if not pool:
            has = f' with a {modality} image' if modality else ''
            raise ValueError(f'FASDataset: kshot pool is empty: no record '
                             f'of domains={domains}, split={splits}{has} '
                             f'in {self.ann_files}')
        chosen = select_kshot_videos(pool, cfg['k'], cfg.get('seed', 0))
        self.kshot_videos = sorted(chosen)
        keep = cfg.get('keep', 'selected')
        if keep == 'selected' and modality is not None:
            # cross-modal shots: extra single-modality items, on top of
            # what the other filters keep
            shots = [dict(r, _kshot=True, _mods=[modality]) for r in pool
                     if r['video_id'] in chosen]
            return records, shots
        out = []
        if keep == 'selected':
            for r in records:
                if domains is not None and r['domain'] not in domains:
                    out.append(r)
                elif r['video_id'] in chosen:
                    r['_kshot'] = True  # exempt from the split filter
                    out.append(r)
        else:
            out = [r for r in records if r['video_id'] not in chosen]
        return out, []

    def _subsample_frames(self, records: List[dict]) -> List[dict]:
        by_video: Dict[tuple, List[int]] = OrderedDict()
        for i, r in enumerate(records):
            # a video's RGB items and its k-shot depth items are subsampled
            # separately
            key = (r['video_id'], tuple(r['_mods']))
            by_video.setdefault(key, []).append(i)
        keep = set()
        n = self.frames_per_video
        for idxs in by_video.values():
            idxs = sorted(idxs, key=lambda i: (records[i].get('frame', 0), i))
            if len(idxs) <= n:
                keep.update(idxs)
            else:
                pos = np.linspace(0, len(idxs) - 1, n).round().astype(int)
                keep.update(idxs[p] for p in pos)
        return [r for i, r in enumerate(records) if i in keep]

    def load_data_list(self) -> List[dict]:
        records = self._read_all()
        shots: List[dict] = []
        if self.kshot is not None:
            records, shots = self._apply_kshot(records)
        out, missing = [], []
        for r in records:
            if (self.split is not None and r['split'] not in self.split
                    and not r.get('_kshot')):
                continue
            if self.label is not None and r['label'] != self.label:
                continue
            if self.domains is not None and r['domain'] not in self.domains:
                continue
            if (self.attack_types is not None and r['label'] == 'spoof'
                    and r['attack_type'] not in self.attack_types):
                continue
            lacking = [m for m in self.modalities if not r.get(m)]
            if self.modality_mode == 'paired' and lacking:
                missing.append((r, lacking))
                continue
            if self.modality_mode == 'expand' and len(lacking) == len(
                    self.modalities):
                missing.append((r, lacking))
                continue
            r['_mods'] = [m for m in self.modalities if r.get(m)]
            out.append(r)
        for r in shots:  # cross-modal k-shot items: own split / domain
            if self.label is not None and r['label'] != self.label:
                continue
            if (self.attack_types is not None and r['label'] == 'spoof'
                    and r['attack_type'] not in self.attack_types):
                continue
            out.append(r)
        if missing:
            where = '\n  '.join(f'{r["_ann_file"]}:{r["_line"]}: no '
                                f'{", ".join(m)}' for r, m in missing[:10])
            msg = (f'{len(missing)} record(s) lack modalities '
                   f'{self.modalities}:\n  {where}')
            if self.missing_modality == 'error':
                raise ValueError('FASDataset: ' + msg + '\nset '
                                 'missing_modality="skip" to drop them.')
            MMLogger.get_current_instance().warning(
                'FASDataset: dropped ' + msg)
        if self.frames_per_video is not None:
            out = self._subsample_frames(out)
        if not out:
            raise ValueError(
                f'FASDataset: no sample left in {self.ann_files} after '
                f'filters split={self.split}, label={self.label}, '
                f'domains={self.domains}, attack_types={self.attack_types}, '
                f'modalities={self.modalities}, kshot={self.kshot}')

        names = self.domain_names or sorted({r['domain'] for r in out})
        unknown = {r['domain'] for r in out} - set(names)
        if unknown:
            raise ValueError(f'FASDataset: domains {sorted(unknown)} are not '
                             f'in domain_names={names}')
        self.domain_names = names
        domain_index = {d: i for i, d in enumerate(names)}
        data_list = []
        for r in out:
            # paired: one item stacking every modality (3 * M channels);
            # expand and k-shot items: one item per (record, modality)
            if self.modality_mode == 'paired' and not r.get('_kshot'):
                items = [r['_mods']]
            else:
                items = [[m] for m in r['_mods']]
            for mods in items:
                data_list.append(self._to_info(r, domain_index, mods))
        #: sorted modality names of the items (``'paired'`` for stacked)
        self.item_modalities = sorted({d['modality'] for d in data_list})
        return data_list

    def _to_info(self, r: dict, domain_index: Dict[str, int],
                 mods: Sequence[str]) -> dict:
        """``modality`` is the item's modality name, or ``'paired'`` for
        several modalities stacked along channels."""
        root = self.data_root or ''
        paths = {
            m: (r[m] if osp.isabs(r[m]) else osp.join(root, r[m]))
            for m in mods
        }
        info = dict(
            img_paths=paths,
            img_path=paths[next(iter(paths))],
            gt_label=LABELS[r['label']],
            attack_type=r['attack_type'],
            video_id=r['video_id'],
            subject_id=r['subject_id'],
            domain=r['domain'],
            domain_label=domain_index[r['domain']],
            split=r['split'],
            modality=mods[0] if len(mods) == 1 else 'paired',
            modality_label=MODALITIES.index(mods[0]),
        )
        role = self.eval_role or r.get('eval_role')
        if role is not None:
            if role not in ('val', 'test'):
                raise ValueError(
                    f'{r["_ann_file"]}:{r["_line"]}: eval_role must be '
                    f'"val" or "test", got {role!r}')
            info['eval_role'] = role
        if r.get('bbox') is not None:
            info['face_bbox'] = np.asarray(r['bbox'], dtype=np.float32)
            # the annotation line, for FaceCrop's errors about this box
            info['ann_source'] = f'{r["_ann_file"]}:{r["_line"]}'
        if r.get('frame') is not None:
            info['frame'] = r['frame']
        return info

    def __getitem__(self, idx: int) -> dict:
        # mmengine swaps in a random other sample when the pipeline returns
        # None; a FAS sample is never replaced silently.
        if not self._fully_initialized:
            self.full_init()
        data = self.prepare_data(idx)
        if data is None:
            raise RuntimeError(f'FASDataset: the pipeline returned None for '
                               f'{self.get_data_info(idx)["img_path"]}')
        return data

    # --------------------------------------------------------------- queries
    def get_group_ids(self) -> np.ndarray:
        """Group id per item for balanced sampling: one group per (domain,
        class), and per (domain, modality, class) when the items have
        several modalities (RGB sources + depth k-shot items), so a batch
        holds an equal count of each: ``(domain_label * M + modality index)
        * 2 + gt_label`` (= ``domain_label * 2 + gt_label`` for M = 1).
        :meth:`group_name` names an id."""
        if not self._fully_initialized:
            self.full_init()
        mods = self.item_modalities
        ids = []
        for i in range(len(self)):
            info = self.get_data_info(i)
            ids.append((info['domain_label'] * len(mods) +
                        mods.index(info['modality'])) * 2 +
                       info['gt_label'])
        return np.array(ids, dtype=np.int64)

    def group_name(self, group_id: int) -> str:
        """``'DemoD/live'``, or ``'DemoD/depth/live'`` with several
        modalities: the name of a :meth:`get_group_ids` id."""
        if not self._fully_initialized:
            self.full_init()
        mods = self.item_modalities
        rest, label = divmod(int(group_id), 2)
        domain, mod = divmod(rest, len(mods))
        name = f'{self.domain_names[domain]}/'
        if len(mods) > 1:
            name += f'{mods[mod]}/'
        return name + CLASSES[label]

    def extra_repr(self) -> List[str]:
        return [
            f'Annotation files: {self.ann_files}',
            f'Domains: {self.domain_names}',
            f'Filters: split={self.split}, label={self.label}, '
            f'modalities={self.modalities} ({self.modality_mode}), '
            f'frames_per_video={self.frames_per_video}, kshot={self.kshot}',
            f'Eval role: {self.eval_role}',
        ]
