"""Read the score files :class:`~mmfas.evaluation.FASMetric` writes, and
evaluate them again without the model.

Two kinds of file (written next to the log of every test run):

* ``fas_scores_<prefix>[_<tag>].csv`` (``id, domain, attack_type, label,
  score, eval_role``): the rows the metric evaluated: one per **video** for
  a video-level run (the mean frame score), one per frame for a frame-level
  run. The file does not say which; :func:`evaluate_score_file` evaluates
  its rows as they are, which reproduces the run.
* ``fas_frames_<prefix>[_<tag>].csv`` (``frame_id, video_id, domain,
  attack_type, label, score, eval_role, modality``): every frame score,
  whatever the run's level, so a run can be evaluated again at video level
  (the metric's per-video mean) or at frame level.
"""
import csv
import os.path as osp
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ['SCORE_COLUMNS', 'FRAME_COLUMNS', 'read_score_file',
           'frames_file_for', 'evaluate_score_file', 'parse_target']

#: header of ``fas_scores_*.csv``
SCORE_COLUMNS = ('id', 'domain', 'attack_type', 'label', 'score',
                 'eval_role')
#: header of ``fas_frames_*.csv``
FRAME_COLUMNS = ('frame_id', 'video_id', 'domain', 'attack_type', 'label',
                 'score', 'eval_role', 'modality')


def parse_target(text: str, what: str = '--target') -> dict:
    """A threshold target from the command line: ``'eer'``,
    ``'bpcer=0.05'`` or ``'apcer=0.01'`` -> FASMetric's ``val_target``
    (``dict(type='bpcer', value=0.05)``).

    Raises:
        ValueError: another form or a rate outside ``[0, 1]``.
    """
    text = str(text).strip().lower()
    if text == 'eer':
        return dict(type='eer')
    kind, sep, value = text.partition('=')
    try:
        rate = float(value)
    except ValueError:
        rate = None
    if not sep or kind not in ('apcer', 'bpcer') or rate is None \
            or not 0. <= rate <= 1.:
        raise ValueError(f"{what} must be 'eer', 'bpcer=RATE' or "
                         f"'apcer=RATE' with RATE in [0, 1] (e.g. "
                         f"bpcer=0.05), got {text!r}")
    return dict(type=kind, value=rate)


def read_score_file(path: str) -> Tuple[str, Dict[str, np.ndarray]]:
    """Read a ``fas_scores_*.csv`` or ``fas_frames_*.csv`` file.

    Returns:
        tuple: ``(kind, columns)``: ``kind`` is ``'scores'`` or
        ``'frames'``; ``columns`` maps each column of the file to an array
        (``label`` int, ``score`` float64, the others str).

    Raises:
        FileNotFoundError: no such file.
        ValueError: an unknown header, or a bad row (naming the file and
            line).
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'score file not found: {path}')
    with open(path, newline='') as f:
        reader = csv.reader(f)
        header = tuple(next(reader, ()))
        if header == SCORE_COLUMNS:
            kind = 'scores'
        elif header == FRAME_COLUMNS:
            kind = 'frames'
        else:
            raise ValueError(
                f'{path}:1: not a score file of FASMetric: header {header}, '
                f'expected {SCORE_COLUMNS} (fas_scores_*.csv) or '
                f'{FRAME_COLUMNS} (fas_frames_*.csv)')
        rows, linenos = [], []
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise ValueError(f'{path}:{lineno}: {len(row)} fields, '
                                 f'expected {len(header)} ({header})')
            rows.append(row)
            linenos.append(lineno)
    if not rows:
        raise ValueError(f'{path}: no score rows')
    cols = {name: np.asarray([r[i] for r in rows])
            for i, name in enumerate(header)}
    for name, conv in (('label', int), ('score', float)):
        try:
            cols[name] = np.asarray([conv(v) for v in cols[name]])
        except ValueError:
            bad = next(i for i, v in enumerate(cols[name])
                       if not _parses(conv, v))
            raise ValueError(f'{path}:{linenos[bad]}: {name} '
                             f'{str(cols[name][bad])!r} is not a number'
                             ) from None
    cols['score'] = cols['score'].astype(np.float64)
    return kind, cols


def _parses(conv, value) -> bool:
    try:
        conv(value)
        return True
    except ValueError:
        return False


def _run_level(path: str, cols: Dict[str, np.ndarray]) -> str:
    """The level of the run that wrote scores file ``path``: ``'frame'``
    when its frames file holds as many rows for more frames than videos,
    else ``'video'``."""
    if np.unique(cols['id']).size != cols['id'].size:
        raise ValueError(f'{path}: an id occurs in more than one row; a '
                         'scores file has one row per evaluated video or '
                         'frame')
    frames = frames_file_for(path)
    if frames is not None:
        _, fcols = read_score_file(frames)
        if fcols['score'].size == cols['score'].size and \
                np.unique(fcols['video_id']).size < fcols['score'].size:
            return 'frame'
    return 'video'


def frames_file_for(path: str) -> Optional[str]:
    """The ``fas_frames_*.csv`` written with ``fas_scores_*.csv`` ``path``
    by the same evaluation, if it exists (only for the pooled file: per
    modality the frames are in the pooled frames file, one modality
    column)."""
    base = osp.basename(path)
    if not base.startswith('fas_scores_'):
        return None
    cand = osp.join(osp.dirname(path), 'fas_frames_' +
                    base[len('fas_scores_'):])
    return cand if osp.isfile(cand) else None


def evaluate_score_file(path: str,
                        level: Optional[str] = None,
                        modality: Optional[str] = None,
                        return_details: bool = False,
                        dev_role: Optional[str] = None,
                        **metric_kwargs):
    """:meth:`FASMetric.calculate` on a score file.

    Args:
        path (str): A ``fas_scores_*.csv`` or ``fas_frames_*.csv`` file.
        level (str, optional): ``'video'`` or ``'frame'``. A scores file is
            evaluated row by row as the run did when ``level`` is None; a
            level asks for the frames file (``path`` itself, or the
            ``fas_frames_*.csv`` written next to a scores file), else it is
            an error. A frames file defaults to ``'video'``.
        modality (str, optional): Frames file only: keep this modality's
            frames (ids are prefixed ``<modality>:`` when the file holds
            several, as the metric does).
        dev_role (str, optional): Evaluate only the rows of this
            ``eval_role`` (``'val'``, ``'test'``, or ``'all'`` rows) as a
            development split at its own threshold: the ``'val'`` policy at
            ``val_target`` (how a deployment threshold is chosen,
            ``tools/misc/export_deploy_checkpoint.py --target``). Defaults
            to None (the file's roles as they are).
        return_details (bool): Also return the details of
            :meth:`FASMetric.calculate` plus ``source`` (the file read) and
            ``unit`` (``'rows'``, ``'videos'`` or ``'frames'``).
        **metric_kwargs: ``threshold_policy``, ``val_target``,
            ``threshold``, ``tpr_at_fpr``, ``bpcer_at_apcer``, ``iso``,
            ``pos_label``.

    Returns:
        dict | tuple: The metrics (and the details).
    """
    from .metrics.fas_metric import FASMetric
    kind, cols = read_score_file(path)
    source = path
    if kind == 'scores' and level is not None:
        frames = frames_file_for(path)
        if frames is None:
            raise ValueError(
                f'{path} holds the rows the run evaluated (one per video for '
                f'a video-level run), not frame scores, so level={level!r} '
                'cannot be computed from it: give the fas_frames_*.csv that '
                'FASMetric writes next to it, or leave the level out to '
                'evaluate the rows as the run did.')
        source = frames
        kind, cols = read_score_file(frames)
    if dev_role is not None:
        keep = (np.ones(cols['score'].size, dtype=bool) if dev_role == 'all'
                else cols['eval_role'] == dev_role)
        if not keep.any():
            raise ValueError(
                f'{source}: no rows with eval_role={dev_role!r} (the file '
                f'has {sorted(set(cols["eval_role"].tolist()))}); choose the '
                "rows of the development split ('val', 'test' or 'all')")
        cols = {k: v[keep] for k, v in cols.items()}
        cols['eval_role'] = np.full(int(keep.sum()), 'val')
        metric_kwargs['threshold_policy'] = 'val'
    if kind == 'scores':
        if modality is not None:
            raise ValueError(f'{path}: modality={modality!r} needs a frames '
                             'file (fas_frames_*.csv); a scores file holds '
                             'one modality or the pooled ids already')
        # every id is one row, so either level evaluates the rows as they
        # are; the level only names them (videos unless the frames file
        # shows a frame-level run)
        run_level = _run_level(path, cols)
        metrics = FASMetric.calculate(
            scores=cols['score'], labels=cols['label'], video_ids=cols['id'],
            attack_types=cols['attack_type'], domains=cols['domain'],
            eval_roles=cols['eval_role'], level=run_level,
            return_details=return_details, **metric_kwargs)
        unit = f'rows = {run_level}s of the run'
    else:
        level = level or 'video'
        if modality is not None:
            keep = cols['modality'] == modality
            if not keep.any():
                raise ValueError(
                    f'{source}: no frames of modality {modality!r} (has '
                    f'{sorted(set(cols["modality"].tolist()))})')
            is_val = cols['eval_role'] == 'val'
            if (metric_kwargs.get('threshold_policy', 'val') == 'val'
                    and not (keep & is_val).any()):
                # as the metric: a modality without validation samples
                # takes its threshold from those of all modalities
                keep = keep | is_val
            cols = {k: v[keep] for k, v in cols.items()}
        ids = cols['video_id'] if level == 'video' else cols['frame_id']
        if level == 'video' and (ids == '').any():
            raise ValueError(
                f'{source}: {int((ids == "").sum())} frames have no video_id'
                " (the run's samples carried none); only level='frame' can "
                'be evaluated')
        if len(set(cols['modality'].tolist())) > 1:
            # the same id in two modalities is two videos (as the metric)
            ids = np.char.add(np.char.add(cols['modality'], ':'), ids)
        metrics = FASMetric.calculate(
            scores=cols['score'], labels=cols['label'], video_ids=ids,
            attack_types=cols['attack_type'], domains=cols['domain'],
            eval_roles=cols['eval_role'], level=level,
            return_details=return_details, **metric_kwargs)
        unit = f'{level}s'
    if not return_details:
        return metrics
    metrics, details = metrics
    details.update(source=source, unit=unit)
    return metrics, details
