"""Face anti-spoofing metric: HTER / AUC / EER / ACER / TPR@FPR with an
explicit threshold policy (see ``docs/evaluation.md``)."""
import csv
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.evaluator.metric import _to_cpu
from mmengine.fileio import dump
from mmengine.logging import MMLogger

from mmfas.registry import METRICS
from mmfas.structures import score_rule
from .. import functional as F
from .. import iso as iso_lib

_CFG_HINT = ('Please check the `val_evaluator` / `test_evaluator` '
             '(type="FASMetric") in your config.')
POLICIES = ('val', 'test_eer', 'fixed')
LEVELS = ('video', 'frame')
ROLES = ('val', 'test')
TARGETS = ('eer', 'apcer', 'bpcer')


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f'Invalid {name}={value!r} for FASMetric, choose '
                         f'from {choices}. {_CFG_HINT}')


def _check_val_target(val_target: Union[None, str, dict]) -> dict:
    if val_target is None:
        return dict(type='eer')
    if isinstance(val_target, str):
        val_target = dict(type=val_target)
    if not isinstance(val_target, dict) or 'type' not in val_target:
        raise ValueError('FASMetric `val_target` must be a dict like '
                         "dict(type='eer'), dict(type='apcer', value=0.05) or "
                         f"dict(type='bpcer', value=0.01), got {val_target!r}."
                         f' {_CFG_HINT}')
    val_target = dict(val_target)
    _check_choice('val_target.type', val_target['type'], TARGETS)
    if val_target['type'] == 'eer':
        if set(val_target) - {'type'}:
            raise ValueError("val_target=dict(type='eer') takes no other "
                             f'key, got {val_target!r}. {_CFG_HINT}')
    else:
        value = val_target.get('value')
        if (not isinstance(value, (int, float)) or isinstance(value, bool)
                or not 0. <= value <= 1.):
            raise ValueError(
                f"val_target=dict(type='{val_target['type']}') needs a rate "
                f'`value` in [0, 1] (e.g. 0.05), got {value!r}. {_CFG_HINT}')
        if set(val_target) - {'type', 'value'}:
            raise ValueError(f'Unknown keys in val_target={val_target!r}. '
                             f'{_CFG_HINT}')
    return val_target


def _describe_target(target: dict) -> str:
    if target['type'] == 'eer':
        return 'EER'
    return f"{target['type'].upper()}={target['value']:g}"


def _counts(subset: dict, pos_label: int, unit: str) -> str:
    n_live = int((subset['label'] == pos_label).sum())
    domains = ','.join(subset['domains'].tolist())
    return (f'{n_live} live / {subset["label"].size - n_live} spoof {unit}, '
            f'domains={domains}')


@METRICS.register_module()
class FASMetric(BaseMetric):
    """Face anti-spoofing metric with an explicit threshold policy.

    Each score is the **liveness** score the model's ``predict`` wrote with
    the score rule (``live_score`` of the data sample,
    :mod:`mmfas.structures.score_rule`; the metric never picks a column); a
    sample is accepted as live iff ``score >= threshold`` (an attack exactly
    at the threshold is an error). Labels: ``pos_label`` is live (mmfas: live
    = 1, spoof = 0).

    Every sample carries an ``eval_role``: ``'val'`` for the held-out
    source-domain validation split, ``'test'`` (the default when missing) for
    the target test set. With ``level='video'`` the frame scores are first
    averaged per video id (separately for each role). Then a threshold is
    chosen by ``threshold_policy``:

    - ``'val'`` (default, honest): at ``val_target`` on the ``'val'``
      samples, applied to the ``'test'`` samples. Without any ``'test'``
      samples (the validation loop during training), the ``'val'`` samples
      are evaluated at their own threshold (``threshold_source='val (self)'``).
      ``'test'`` samples without ``'val'`` samples raise a ``ValueError``.
    - ``'test_eer'`` (LEGACY, as in published tables): at the EER of the
      evaluated (``'test'``) scores themselves; ``'val'`` samples are ignored.
    - ``'fixed'``: ``threshold`` from the config.

    AUC, EER, TPR@FPR and BPCER@APCER are computed on the evaluated samples
    (``'test'``, or ``'val'`` when there is no ``'test'`` sample) and do not
    depend on the threshold; HTER, ACER, APCER, BPCER are at the threshold.

    Output keys (rates in percent, ``threshold`` raw, counts of evaluated
    videos or frames): ``HTER``, ``AUC``, ``EER``, ``ACER``, ``APCER`` (max
    over attack types), ``BPCER``, ``APCER_<type>`` per attack type,
    ``TPR@FPR=1e-2`` ..., ``BPCER@APCER=5e-2`` ..., ``threshold``,
    ``num_live``, ``num_spoof``. Undefined values (e.g. one class only) are
    ``nan`` with a
    :class:`~mmfas.evaluation.functional.DegenerateInputWarning`.

    **Modalities.** Each sample may carry a ``modality`` (``'rgb'``,
    ``'depth'``, ``'ir'``; ``'rgb'`` when absent). When the results hold more
    than one modality (or ``per_modality=True``), the keys above are also
    reported per modality as ``<modality>/<key>`` (e.g. ``fas/depth/HTER``),
    the threshold policy applied within each modality: ``'val'`` takes the
    threshold from that modality's ``'val'`` samples, or, when it has none
    (cross-modal: source RGB validation, depth target test), from the
    ``'val'`` samples of all modalities (said in the log); ``'test_eer'`` at
    the EER of that modality's own scores; ``'fixed'`` the same threshold.
    The un-prefixed keys pool every modality, each (modality, video) being
    one video (ids become ``<modality>:<video_id>``).

    One log line states the policy, the threshold and where it came from
    (one per modality when reported per modality). When an output directory
    is known, ``fas_scores_<prefix>[_<tag>].csv`` (id, domain, attack_type,
    label, score, eval_role per video or frame, both roles) and
    ``fas_roc_<prefix>[_<tag>].csv`` (fpr, tpr, threshold of the evaluated
    samples) are written, and ``..._<prefix>_<modality>[_<tag>].csv`` per
    modality; ``<tag>`` is :attr:`file_tag` (``tools/test.py`` and
    ``tools/train.py --test`` set it to the tested checkpoint's name, see
    :func:`set_file_tag`, so two tests of one run keep their files).

    The same directory gets ``fas_frames_<prefix>[_<tag>].csv``: every
    frame (sample) score of the run, whatever ``level`` (frame_id,
    video_id, domain, attack_type, label, score, eval_role, modality), so
    ``tools/analysis_tools/eval_scores.py`` can re-evaluate a run at either
    level without the model.

    **ISO/IEC 30107-3 reporting** (``iso=True`` or a dict, see
    :mod:`mmfas.evaluation.iso`): also ``BPCER@APCER`` at 1 %, 5 %, 10 %,
    ``APCER@BPCER=x`` at 1 %, 5 %, 15 %, ``ECE`` (calibration of the
    liveness score) and bootstrap intervals ``<key>_CI_low`` /
    ``<key>_CI_high`` for HTER, AUC, APCER and BPCER (stratified over the
    evaluated videos, or frames at ``level='frame'``, seeded; the threshold
    held fixed), one more log line summarising them, and a warning (log and
    :class:`~mmfas.evaluation.iso.OperatingPointWarning`) for every rate
    reported at an operating point finer than its sample count resolves
    (TPR@FPR=1e-4 from 45 spoof videos). Off by default: no key changes.

    With ``out_file_path``, every data sample (as
    ``mmengine.evaluator.DumpResults`` dumps them) is written to a pickle
    with ``pred_label`` set by the decision rule at the threshold the metric
    used (per modality when reported per modality), applied to each
    sample's own ``live_score`` (frame level even when the metric is at
    video level), and that ``threshold`` and ``threshold_policy`` added.

    Args:
        threshold_policy (str): ``'val'``, ``'test_eer'`` or ``'fixed'``.
            Defaults to ``'val'``.
        val_target (dict | str, optional): Where the ``'val'`` policy puts
            the threshold: ``dict(type='eer')``, ``dict(type='apcer',
            value=0.05)`` (lowest threshold with APCER <= value, APCER the
            max over attack types) or ``dict(type='bpcer', value=0.01)``
            (highest threshold with BPCER <= value; works on a live-only
            validation split). Defaults to None (EER).
        threshold (float, optional): The threshold in [0, 1] for the
            ``'fixed'`` policy. Defaults to None.
        threshold_origin (str, optional): Where a ``'fixed'`` threshold
            came from, for the log (``tools/test.py`` names the deployment
            checkpoint). Defaults to None (the config).
        level (str): ``'video'`` or ``'frame'``. Defaults to ``'video'``.
        pos_label (int): The live label. Defaults to 1
            (:data:`mmfas.structures.LIVE_INDEX`).
        per_modality (bool, optional): Report per-modality keys: None
            (default) when the results hold more than one modality, True
            always, False never.
        out_file_path (str, optional): Dump the predictions (``.pkl``) with
            the metric's decisions, see above. Defaults to None.
        tpr_at_fpr (Sequence[float]): FPRs of the ``TPR@FPR`` keys.
            Defaults to ``(1e-2, 1e-3, 1e-4)``.
        bpcer_at_apcer (Sequence[float]): APCERs of the ``BPCER@APCER``
            keys. Defaults to ``(0.05, )``.
        out_dir (str, optional): Where to write the CSV files. Defaults to
            None: the directory of the current logger's log file, if any.
        iso (bool | dict): ISO/IEC 30107-3 reporting (see above): False
            (default), True (:data:`~mmfas.evaluation.iso.ISO_DEFAULTS`) or
            a dict overriding some of them: ``bootstrap`` (resamples, 0 for
            no intervals; 1000), ``seed`` (0), ``ci`` (0.95),
            ``ece_bins`` (15), ``bpcer_at_apcer`` ((0.01, 0.05, 0.1)),
            ``apcer_at_bpcer`` ((0.01, 0.05, 0.15)).
        collect_device (str): Device used to collect results across ranks.
            Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the output keys. Defaults to None
            (``'fas'``).
        collect_dir (str, optional): Synchronisation directory for
            ``collect_device='cpu'``. Defaults to None.

    Examples:
        >>> import numpy as np
        >>> from mmfas.evaluation import FASMetric
        >>> FASMetric.calculate(
        ...     scores=[0.9, 0.8, 0.3, 0.6], labels=[1, 1, 0, 0],
        ...     threshold_policy='fixed', threshold=0.5, level='frame')['HTER']
        25.0
    """
    default_prefix: Optional[str] = 'fas'

    def __init__(self,
                 threshold_policy: str = 'val',
                 val_target: Union[None, str, dict] = None,
                 threshold: Optional[float] = None,
                 threshold_origin: Optional[str] = None,
                 level: str = 'video',
                 pos_label: int = score_rule.LIVE_INDEX,
                 per_modality: Optional[bool] = None,
                 out_file_path: Optional[str] = None,
                 tpr_at_fpr: Sequence[float] = (1e-2, 1e-3, 1e-4),
                 bpcer_at_apcer: Sequence[float] = (0.05, ),
                 out_dir: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 iso: Union[bool, dict, None] = False) -> None:
        super().__init__(
            collect_device=collect_device,
            prefix=prefix,
            collect_dir=collect_dir)
        self.eval_cfg = FASMetric._check_args(threshold_policy, val_target,
                                              threshold, level, tpr_at_fpr,
                                              bpcer_at_apcer, iso)
        self.eval_cfg['pos_label'] = pos_label
        if per_modality not in (None, True, False):
            raise ValueError('FASMetric per_modality must be None, True or '
                             f'False, got {per_modality!r}. {_CFG_HINT}')
        if out_file_path is not None and not str(out_file_path).endswith(
                ('.pkl', '.pickle')):
            raise ValueError('FASMetric out_file_path must end with .pkl, '
                             f'got {out_file_path!r}. {_CFG_HINT}')
        self.per_modality = per_modality
        self.out_file_path = out_file_path
        self.threshold_origin = threshold_origin
        self.out_dir = out_dir
        #: suffix of the CSV file names (the tested checkpoint's name)
        self.file_tag: Optional[str] = None

    @staticmethod
    def _check_args(threshold_policy, val_target, threshold, level, tpr_at_fpr,
                    bpcer_at_apcer, iso=None) -> dict:
        _check_choice('threshold_policy', threshold_policy, POLICIES)
        _check_choice('level', level, LEVELS)
        val_target = _check_val_target(val_target)
        if threshold_policy == 'fixed':
            if (not isinstance(threshold,
                               (int, float)) or isinstance(threshold, bool)
                    or not 0. <= threshold <= 1.):
                raise ValueError(
                    "threshold_policy='fixed' needs `threshold`, a float in "
                    f'[0, 1], got threshold={threshold!r}. {_CFG_HINT}')
            threshold = float(threshold)
        elif threshold is not None:
            raise ValueError(
                f'`threshold` is only used by threshold_policy=\'fixed\', '
                f'got threshold={threshold!r} with threshold_policy='
                f'{threshold_policy!r}. {_CFG_HINT}')
        rates = {}
        for name, values in (('tpr_at_fpr', tpr_at_fpr), ('bpcer_at_apcer',
                                                          bpcer_at_apcer)):
            values = tuple(np.atleast_1d(values).tolist())
            if not all(0. < v <= 1. for v in values):
                raise ValueError(f'FASMetric {name} must hold rates in (0, '
                                 f'1], got {values!r}. {_CFG_HINT}')
            rates[name] = values
        iso = iso_lib.check_iso_cfg(iso, _CFG_HINT)
        if iso is not None:
            # the ISO operating points join the configured ones
            rates['bpcer_at_apcer'] = tuple(
                sorted(set(rates['bpcer_at_apcer'])
                       | set(iso['bpcer_at_apcer'])))
        return dict(
            threshold_policy=threshold_policy,
            val_target=val_target,
            threshold=threshold,
            level=level,
            iso=iso,
            **rates)

    # -- Runner interface ---------------------------------------------------
    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keep the liveness score, label and metadata of each sample.

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): ``DataSample.to_dict()`` outputs
                with ``live_score`` (written by the score rule),
                ``gt_label`` and the metadata ``video_id``, ``attack_type``,
                ``domain``, ``eval_role``, ``modality``.
        """
        for sample in data_samples:
            gt = sample.get('gt_label')
            if gt is None:
                raise ValueError(
                    'FASMetric needs `gt_label` in every data sample, got '
                    f'keys {sorted(sample)}.')
            score = score_rule.read_live_score(sample)
            label = int(torch.as_tensor(gt).reshape(-1)[0])
            frame_id = None
            for key in ('img_path', 'rgb', 'sample_idx'):
                if sample.get(key) is not None:
                    frame_id = str(sample[key])
                    break
            video_id = sample.get('video_id')
            self.results.append(
                dict(
                    score=score,
                    label=label,
                    video_id=None if video_id is None else str(video_id),
                    frame_id=frame_id,
                    attack_type=str(sample.get('attack_type', 'unknown')),
                    domain=str(sample.get('domain', 'unknown')),
                    eval_role=str(sample.get('eval_role', 'test')),
                    modality=str(sample.get('modality') or 'rgb'),
                    sample=(_to_cpu(dict(sample))
                            if self.out_file_path is not None else None)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the metrics from the collected ``results`` (any order)."""
        if len(results) == 0:
            raise ValueError('FASMetric got no results: the evaluation '
                             'dataloader is empty. ' + _CFG_HINT)
        cfg = self.eval_cfg
        if cfg['level'] == 'video':
            missing = sum(r['video_id'] is None for r in results)
            if missing:
                raise ValueError(
                    f'{missing} of {len(results)} data samples have no '
                    '`video_id`, needed by level="video": add "video_id" '
                    'to `meta_keys` of PackInputs in the test pipeline, or '
                    "set level='frame'. " + _CFG_HINT)
        cols = {
            k: np.asarray([r[k] for r in results])
            for k in ('label', 'attack_type', 'domain', 'eval_role',
                      'modality')
        }
        cols['score'] = np.asarray([r['score'] for r in results],
                                   dtype=np.float64)
        if cfg['level'] == 'video':
            ids = [r['video_id'] for r in results]
        else:
            ids = [
                r['frame_id'] if r['frame_id'] is not None else str(i)
                for i, r in enumerate(results)
            ]
        modalities = sorted(set(cols['modality'].tolist()))
        bad = [m for m in modalities if not m or '/' in m]
        if bad:
            raise ValueError(f'FASMetric: invalid modality names {bad} in '
                             "the data samples (expected e.g. 'rgb', "
                             "'depth', 'ir').")
        if len(modalities) > 1:
            # the same video id in two modalities is two videos
            ids = [f'{m}:{i}' for m, i in zip(cols['modality'].tolist(), ids)]
        cols['id'] = np.asarray(ids)

        prefix = self.prefix or 'fas'
        name = prefix.replace('/', '_')
        logger = MMLogger.get_current_instance()
        metrics, details = self._calculate(cols, np.arange(len(results)))
        if cfg['threshold_policy'] == 'fixed' and self.threshold_origin:
            logger.info(f'FASMetric [{prefix}]: threshold_policy=\'fixed\','
                        f' threshold={cfg["threshold"]} from '
                        f'{self.threshold_origin}')
        logger.info(f'FASMetric [{prefix}]: {details["message"]}')
        self._log_iso(details, logger, prefix)
        self._save_csv(name, details, logger, prefix)
        self._save_frames_csv(name, results, cols, logger, prefix)
        thresholds = np.full(len(results), metrics['threshold'])

        per_modality = self.per_modality
        if per_modality is None:
            per_modality = len(modalities) > 1
        if per_modality:
            is_val = cols['eval_role'] == 'val'
            for m in modalities:
                in_m = cols['modality'] == m
                rows = in_m
                note = ''
                if (cfg['threshold_policy'] == 'val'
                        and not (in_m & is_val).any() and is_val.any()):
                    # e.g. cross-modal: RGB source val, depth target test
                    rows = in_m | is_val
                    note = (f' (no {m} validation samples: threshold from '
                            'the validation samples of all modalities)')
                sub, sub_details = self._calculate(cols, np.flatnonzero(rows))
                metrics.update({f'{m}/{k}': v for k, v in sub.items()})
                thresholds[in_m] = sub['threshold']
                logger.info(f'FASMetric [{prefix}/{m}]{note}: '
                            f'{sub_details["message"]}')
                self._log_iso(sub_details, logger, f'{prefix}/{m}')
                self._save_csv(f'{name}_{m}', sub_details, logger,
                               f'{prefix}/{m}')
        if self.out_file_path is not None:
            self._dump(results, thresholds, logger, prefix)
        return metrics

    def _calculate(self, cols: dict, rows: np.ndarray):
        with warnings.catch_warnings():
            # the operating-point notes are logged (_log_iso) instead
            warnings.simplefilter('ignore', iso_lib.OperatingPointWarning)
            return FASMetric.calculate(
                scores=cols['score'][rows],
                labels=cols['label'][rows],
                video_ids=cols['id'][rows],
                attack_types=cols['attack_type'][rows],
                domains=cols['domain'][rows],
                eval_roles=cols['eval_role'][rows],
                return_details=True,
                **self.eval_cfg)

    @staticmethod
    def _log_iso(details: dict, logger, prefix: str) -> None:
        if details.get('iso_message'):
            logger.info(f'FASMetric [{prefix}]: {details["iso_message"]}')
        for note in details.get('operating_point_notes', ()):
            logger.warning(f'FASMetric [{prefix}]: {note}')

    def _save_frames_csv(self, name: str, results: List[dict], cols: dict,
                         logger, prefix: str) -> None:
        """Every frame score (any level), for offline re-evaluation."""
        out_dir = self._out_dir()
        if out_dir is None:
            return
        if self.file_tag:
            name = f'{name}_{self.file_tag}'
        os.makedirs(out_dir, exist_ok=True)
        rows = dict(
            frame_id=np.asarray([
                r['frame_id'] if r['frame_id'] is not None else str(i)
                for i, r in enumerate(results)
            ]),
            video_id=np.asarray([
                r['video_id'] if r['video_id'] is not None else ''
                for r in results
            ]))
        for k in ('domain', 'attack_type', 'label', 'score', 'eval_role',
                  'modality'):
            rows[k] = cols[k]
        # deterministic row order whatever order the results arrived in
        order = np.lexsort((rows['score'], rows['frame_id'],
                            rows['video_id'], rows['modality'],
                            rows['eval_role']))
        rows = {k: v[order].tolist() for k, v in rows.items()}
        rows['score'] = map(repr, rows['score'])
        path = osp.join(out_dir, f'fas_frames_{name}.csv')
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(('frame_id', 'video_id', 'domain', 'attack_type',
                             'label', 'score', 'eval_role', 'modality'))
            writer.writerows(
                zip(rows['frame_id'], rows['video_id'], rows['domain'],
                    rows['attack_type'], rows['label'], rows['score'],
                    rows['eval_role'], rows['modality']))
        logger.info(f'FASMetric [{prefix}]: wrote fas_frames_{name}.csv '
                    f'({len(results)} frame scores) to {out_dir}')

    def _save_csv(self, name: str, details: dict, logger, prefix: str):
        out_dir = self._out_dir()
        if out_dir is None:
            return
        if self.file_tag:
            name = f'{name}_{self.file_tag}'
        self._write_csv(out_dir, name, details)
        logger.info(f'FASMetric [{prefix}]: wrote fas_scores_{name}.csv '
                    f'and fas_roc_{name}.csv to {out_dir}')

    def _dump(self, results: List[dict], thresholds: np.ndarray, logger,
              prefix: str) -> None:
        """Write the data samples with the metric's decisions."""
        policy = self.eval_cfg['threshold_policy']
        out, undecided = [], 0
        for r, thr in zip(results, thresholds.tolist()):
            sample = dict(r['sample'])
            sample['threshold'] = thr
            sample['threshold_policy'] = policy
            if np.isnan(thr):
                sample.pop('pred_label', None)
                undecided += 1
            else:
                sample['pred_label'] = score_rule.decide(r['score'],
                                                         thr).reshape(1)
            out.append(sample)
        if undecided:
            logger.warning(
                f'FASMetric [{prefix}]: the threshold is NaN for '
                f'{undecided} samples (see the warnings above); they are '
                f'dumped without pred_label')
        dump(out, self.out_file_path)
        logger.info(f'FASMetric [{prefix}]: wrote {len(out)} predictions '
                    f'with pred_label = live_score >= threshold '
                    f'(threshold_policy={policy!r}) to {self.out_file_path}')

    def _out_dir(self) -> Optional[str]:
        if self.out_dir is not None:
            return self.out_dir
        if not MMLogger._instance_dict:
            return None
        log_file = getattr(MMLogger.get_current_instance(), 'log_file', None)
        return osp.dirname(osp.abspath(log_file)) if log_file else None

    @staticmethod
    def _write_csv(out_dir: str, name: str, details: dict) -> None:
        os.makedirs(out_dir, exist_ok=True)
        rows = details['samples']
        # deterministic row order whatever order the results arrived in
        order = np.lexsort(
            (rows['score'], rows['id'].astype(str), rows['eval_role']))
        rows = {k: v[order] for k, v in rows.items()}
        with open(
                osp.join(out_dir, f'fas_scores_{name}.csv'), 'w',
                newline='') as f:
            writer = csv.writer(f)
            writer.writerow(
                ('id', 'domain', 'attack_type', 'label', 'score', 'eval_role'))
            writer.writerows(
                zip(rows['id'].tolist(), rows['domain'].tolist(),
                    rows['attack_type'].tolist(), rows['label'].tolist(),
                    map(repr,
                        rows['score'].tolist()), rows['eval_role'].tolist()))
        fpr, tpr, thr = details['roc']
        with open(
                osp.join(out_dir, f'fas_roc_{name}.csv'), 'w',
                newline='') as f:
            writer = csv.writer(f)
            writer.writerow(('fpr', 'tpr', 'threshold'))
            writer.writerows(
                zip(
                    map(repr, fpr.tolist()), map(repr, tpr.tolist()),
                    map(repr, thr.tolist())))

    # -- Runner-free computation --------------------------------------------
    @staticmethod
    def calculate(scores: Union[np.ndarray, Sequence[float]],
                  labels: Union[np.ndarray, Sequence[int]],
                  video_ids: Optional[Sequence[str]] = None,
                  attack_types: Optional[Sequence[str]] = None,
                  domains: Optional[Sequence[str]] = None,
                  eval_roles: Optional[Sequence[str]] = None,
                  threshold_policy: str = 'val',
                  val_target: Union[None, str, dict] = None,
                  threshold: Optional[float] = None,
                  level: str = 'video',
                  pos_label: int = 1,
                  tpr_at_fpr: Sequence[float] = (1e-2, 1e-3, 1e-4),
                  bpcer_at_apcer: Sequence[float] = (0.05, ),
                  return_details: bool = False,
                  iso: Union[bool, dict, None] = False):
        """Compute the FAS metrics without a Runner.

        Args:
            scores (array-like): ``(N, )`` frame (or sample) liveness scores.
            labels (array-like): ``(N, )`` labels, ``pos_label`` = live.
            video_ids (array-like, optional): ``(N, )`` video ids; required
                for ``level='video'``. With ``level='frame'`` they only name
                the rows of the score table.
            attack_types (array-like, optional): ``(N, )`` attack types; None
                gives a single pooled APCER and no ``APCER_<type>`` keys.
            domains (array-like, optional): ``(N, )`` domain names (for the
                report only).
            eval_roles (array-like, optional): ``(N, )`` ``'val'`` or
                ``'test'``; None means all ``'test'``.
            threshold_policy, val_target, threshold, level, pos_label,
            tpr_at_fpr, bpcer_at_apcer, iso: As in :class:`FASMetric`.
            return_details (bool): Also return a dict with the log
                ``message``, ``threshold_source``, the per-video (or frame)
                table ``samples`` and the ``roc`` of the evaluated samples
                (with ``iso``: also ``iso_message`` and
                ``operating_point_notes``). Defaults to False.

        Returns:
            dict | tuple: The metrics (rates in percent, see
            :class:`FASMetric`), and the details if ``return_details``.
        """
        cfg = FASMetric._check_args(threshold_policy, val_target, threshold,
                                    level, tpr_at_fpr, bpcer_at_apcer, iso)
        scores = F._check_scores(scores)
        n = scores.size

        labels = np.asarray(labels).reshape(-1)
        if labels.size != n:
            raise ValueError(f'Got {n} scores but {labels.size} labels.')

        def encode(values, name, default, mask=None):
            """Strings to integer codes (much faster to compare, group and
            sort): ``(names, codes)`` with ``names[codes]`` the values (of
            the samples at the indices ``mask`` if given)."""
            size = n if mask is None else mask.size
            if values is None:
                return np.array([default]), np.zeros(size, dtype=np.intp)
            arr = np.asarray(values).reshape(-1)
            if arr.size != n:
                raise ValueError(f'Got {n} scores but {arr.size} {name}.')
            names, codes = F.encode_values(arr if mask is None else arr[mask])
            return names.astype(str), codes

        if video_ids is None:
            if level == 'video':
                raise ValueError("level='video' needs `video_ids`; pass them "
                                 "or use level='frame'.")
            ids = np.arange(n)
        else:
            ids = np.asarray(video_ids).reshape(-1)
            if ids.size != n:
                raise ValueError(f'Got {n} scores but {ids.size} video ids.')
        has_types = attack_types is not None
        # live samples have no attack type: only the attacks' are encoded
        # (index arrays: numpy gathers with them much faster than masks)
        is_spoof = np.flatnonzero(labels != pos_label)
        type_names, spoof_codes = encode(attack_types, 'attack types',
                                         'spoof', is_spoof)
        type_names = np.append(type_names, 'none')
        type_codes = np.full(n, type_names.size - 1, dtype=np.intp)
        type_codes[is_spoof] = spoof_codes
        domain_names, domain_codes = encode(domains, 'domains', 'unknown')
        role_names, role_codes = encode(eval_roles, 'eval roles', 'test')
        bad_roles = set(role_names.tolist()) - set(ROLES)
        if bad_roles:
            raise ValueError(f'eval_role must be one of {ROLES}, got '
                             f'{sorted(bad_roles)}.')

        # -- per role, video-level aggregation first ------------------------
        # (every step below is independent of the order of the samples)
        subsets = {}
        for code, role in enumerate(role_names.tolist()):
            # one role: views, no copies
            m = (np.flatnonzero(role_codes == code)
                 if role_names.size > 1 else slice(None))
            if level == 'video':
                agg = F.aggregate_by_video(
                    ids[m],
                    scores[m],
                    labels[m],
                    attack_type=type_codes[m],
                    domain=domain_codes[m])
                sub = dict(
                    id=agg['video_id'],
                    score=agg['score'],
                    label=agg['label'],
                    attack_type=agg['attack_type'],
                    domain=agg['domain'])
            else:
                sub = dict(
                    id=ids[m],
                    score=scores[m],
                    label=labels[m],
                    attack_type=type_codes[m],
                    domain=domain_codes[m])
            F.check_scores_labels(sub['score'], sub['label'], pos_label)
            sub['domains'] = domain_names[np.flatnonzero(
                np.bincount(sub['domain'], minlength=domain_names.size))]
            subsets[role] = sub

        unit = 'videos' if level == 'video' else 'frames'
        target = cfg['val_target']
        val, test = subsets.get('val'), subsets.get('test')
        eval_role = 'test' if test is not None else 'val'
        evaluated = subsets[eval_role]
        roc = F.BinaryROC(evaluated['score'], evaluated['label'], pos_label,
                          evaluated['attack_type'] if has_types else None)

        def threshold_on(sub, sub_roc=None):
            sub_roc = sub_roc or F.BinaryROC(
                sub['score'], sub['label'], pos_label,
                sub['attack_type'] if has_types else None)
            if target['type'] == 'eer':
                return sub_roc.eer()[1]
            if target['type'] == 'apcer':
                return sub_roc.threshold_at_apcer(target['value'])
            return sub_roc.threshold_at_bpcer(target['value'])

        policy = cfg['threshold_policy']
        if policy == 'val':
            if test is not None and val is None:
                raise ValueError(
                    "threshold_policy='val' needs a source-domain "
                    "validation split, but every sample has eval_role='test'"
                    ". Add the source validation split to the test "
                    "dataloader (a ConcatDataset part with eval_role='val'),"
                    " or pick threshold_policy='test_eer' (legacy) or "
                    f"'fixed' with a threshold. {_CFG_HINT}")
            thr = threshold_on(val, roc if test is None else None)
            if np.isnan(thr):
                raise ValueError(
                    'Could not set the threshold at the '
                    f'{_describe_target(target)} of the validation split '
                    f'({_counts(val, pos_label, unit)}): it needs both '
                    "classes for 'eer', spoof samples for 'apcer' and live "
                    "samples for 'bpcer'. Choose `val_target` accordingly "
                    "(e.g. dict(type='bpcer', value=0.05) for a live-only "
                    f'split). {_CFG_HINT}')
            source = 'val' if test is not None else 'val (self)'
            origin = (f'{_describe_target(target)} of the source validation '
                      f'split ({_counts(val, pos_label, unit)})')
            if test is None:
                origin += ('; no test samples, so the validation split is '
                           'evaluated at its own threshold')
        elif policy == 'test_eer':
            thr = roc.eer()[1]
            source = f'{eval_role} (self, LEGACY)'
            origin = (f'EER of the {eval_role} scores themselves (LEGACY: '
                      'threshold picked on the test set, so HTER is about '
                      'the test EER, not an honest estimate)')
        else:
            thr = cfg['threshold']
            source = 'fixed (config)'
            origin = 'config (`threshold`)'

        # the same sort serves the rates at the threshold
        rates = roc.error_rates(thr)
        eer_value = roc.eer()[0]
        metrics = dict(
            HTER=rates['HTER'] * 100,
            AUC=roc.auc() * 100,
            EER=eer_value * 100,
            ACER=rates['ACER'] * 100,
            APCER=rates['APCER'] * 100,
            BPCER=rates['BPCER'] * 100)
        for t, r in sorted((type_names[code], r)
                           for code, r in rates['APCER_per_type'].items()):
            metrics[f'APCER_{t}'] = r * 100
        for x, v in zip(cfg['tpr_at_fpr'],
                        np.atleast_1d(roc.tpr_at_fpr(cfg['tpr_at_fpr']))):
            metrics[F.rate_key('TPR@FPR', x)] = float(v) * 100
        for x, v in zip(
                cfg['bpcer_at_apcer'],
                np.atleast_1d(roc.bpcer_at_apcer(cfg['bpcer_at_apcer']))):
            metrics[F.rate_key('BPCER@APCER', x)] = float(v) * 100
        iso_notes = []
        if cfg['iso'] is not None:
            iso_metrics, iso_notes = iso_lib.iso_report(
                roc, evaluated['score'], evaluated['label'],
                evaluated['attack_type'] if has_types else None, thr,
                cfg['iso'], cfg['tpr_at_fpr'], pos_label, unit, type_names)
            metrics.update({k: v * 100 for k, v in iso_metrics.items()})
        metrics['threshold'] = float(thr)
        metrics['num_live'] = roc.num_live
        metrics['num_spoof'] = roc.num_spoof
        metrics = {
            k: (float(v) if not isinstance(v, int) else v)
            for k, v in metrics.items()
        }
        if not return_details:
            return metrics

        legacy = 'LEGACY ' if policy == 'test_eer' else ''
        message = (f'{legacy}threshold_policy={policy!r}, {level} level: '
                   f'threshold={thr:.6g}, threshold_source={source!r}, from '
                   f'the {origin}; applied to {eval_role} '
                   f'({_counts(evaluated, pos_label, unit)}): '
                   f'HTER={metrics["HTER"]:.2f} AUC={metrics["AUC"]:.2f} '
                   f'EER={metrics["EER"]:.2f}')
        table = {
            k: np.concatenate([subsets[r][k] for r in ROLES if r in subsets])
            for k in ('id', 'domain', 'attack_type', 'label', 'score')
        }
        table['domain'] = domain_names[table['domain']]
        table['attack_type'] = type_names[table['attack_type']]
        table['eval_role'] = np.concatenate([
            np.full(subsets[r]['score'].size, r) for r in ROLES if r in subsets
        ])
        details = dict(
            message=message,
            threshold_source=source,
            threshold_policy=policy,
            evaluated_role=eval_role,
            samples=table,
            roc=roc.curve())
        if cfg['iso'] is not None:
            details['iso_message'] = _iso_message(
                metrics, cfg, type_names, rates, level, unit)
            details['operating_point_notes'] = iso_notes
        return metrics, details


def _iso_message(metrics: dict, cfg: dict, type_names: np.ndarray,
                 rates: dict, level: str, unit: str) -> str:
    """The ISO/IEC 30107-3 summary line of :meth:`FASMetric.calculate`."""
    iso = cfg['iso']

    def pct(key):
        return f'{metrics[key]:.2f}%'

    species = ', '.join(
        f'{t} {metrics[f"APCER_{t}"]:.2f}%'
        for t in sorted(type_names[code]
                        for code in rates['APCER_per_type'])) or 'pooled'
    parts = [
        f'ISO/IEC 30107-3 ({level} level) at threshold='
        f'{metrics["threshold"]:.6g}: APCER per PAI species: {species}; '
        f'APCER (max)={pct("APCER")} BPCER={pct("BPCER")} '
        f'ACER={pct("ACER")}',
        'BPCER@APCER ' + ', '.join(
            f'{x:g}: {pct(F.rate_key("BPCER@APCER", x))}'
            for x in iso['bpcer_at_apcer']),
        'APCER@BPCER ' + ', '.join(
            f'{x:g}: {pct(F.rate_key("APCER@BPCER", x))}'
            for x in iso['apcer_at_bpcer']),
        f'ECE={pct("ECE")} ({iso["ece_bins"]} bins)'
    ]
    if iso['bootstrap']:
        parts.append(
            f'{iso["ci"] * 100:g}% bootstrap CI ({iso["bootstrap"]} '
            f'resamples of the {unit}, stratified by class and attack type, '
            f'seed {iso["seed"]}, threshold fixed): ' + ', '.join(
                f'{k} [{metrics[k + "_CI_low"]:.2f}, '
                f'{metrics[k + "_CI_high"]:.2f}]'
                for k in iso_lib.CI_KEYS))
    return '; '.join(parts)


def checkpoint_tag(checkpoint: Optional[str]) -> Optional[str]:
    """The file tag of a checkpoint: its file name without extension
    (``work_dirs/x/best_fas_HTER_iter_500.pth`` -> ``best_fas_HTER_iter_500``);
    None for None."""
    if not checkpoint:
        return None
    base = osp.basename(str(checkpoint).rstrip('/\\'))
    for ext in ('.pth', '.pt', '.ckpt', '.bin'):
        if base.endswith(ext):
            base = base[:-len(ext)]
            break
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in base)


def set_file_tag(evaluator, tag: Optional[str]) -> int:
    """Set :attr:`FASMetric.file_tag` of every :class:`FASMetric` of an
    evaluator (an ``Evaluator``, a metric or a list of metrics), so its CSV
    files are named ``fas_scores_<prefix>_<tag>.csv``.

    Returns:
        int: How many metrics were tagged.
    """
    metrics = getattr(evaluator, 'metrics', evaluator)
    if not isinstance(metrics, (list, tuple)):
        metrics = [metrics]
    n = 0
    for metric in metrics:
        if isinstance(metric, FASMetric):
            metric.file_tag = tag
            n += 1
    return n
