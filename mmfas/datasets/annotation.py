"""The one annotation format every mmfas dataset reads and every converter writes.

An annotation file is JSON Lines (``.jsonl``): one JSON object per line, one
line per *frame* (an image, or a set of paired modality images). Blank lines
and lines starting with ``#`` are ignored. Fields:

==============  ========  =====================================================
field           required  meaning
==============  ========  =====================================================
``rgb``         one of    path of the RGB image
``depth``       these     path of the depth image (3-channel or gray)
``ir``          three     path of the infrared (NIR) image
``label``       yes       ``"live"`` (bona fide) or ``"spoof"`` (attack)
``attack_type`` yes       PAI species, e.g. ``print``, ``replay``, ``mask``;
                          ``"none"`` for live samples
``video_id``    yes       id of the capture the frame comes from, unique over
                          all datasets (prefix it with the dataset name)
``subject_id``  yes       id of the person (dataset-prefixed)
``domain``      yes       source dataset / domain name, e.g. ``OULU``
``split``       yes       ``train``, ``dev`` (= val / devel) or ``test``
``frame``       no        frame index in the video (int)
``bbox``        no        face box ``[x1, y1, x2, y2]`` in pixels of the image
==============  ========  =====================================================

Paths are relative to the dataset's ``data_root`` (absolute paths are kept).
Any extra field is kept as metadata.

Label convention inside mmfas (converted here, at the dataset boundary):
``live = 1`` and ``spoof = 0``; the text class order of every model is
``[spoof, live]`` so that column 1 of a softmax is the liveness score.
"""
import json
import os
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence

LABELS: Dict[str, int] = {'spoof': 0, 'live': 1}
CLASSES = ('spoof', 'live')
LIVE_LABEL = 1
MODALITIES = ('rgb', 'depth', 'ir')
SPLITS = ('train', 'dev', 'test')
REQUIRED_FIELDS = ('label', 'attack_type', 'video_id', 'subject_id', 'domain',
                   'split')


def frame_filename(frame: int, modality: str = 'rgb',
                   ext: str = '.jpg') -> str:
    """On-disk name of a frame, shared by the converters and the demo
    generator: ``0006.jpg`` for RGB, ``0006_depth.jpg`` / ``0006_ir.jpg``
    for the other modalities, under ``<Domain>/frames/<video>/``."""
    if modality not in MODALITIES:
        raise ValueError(f'unknown modality {modality!r}, expected one of '
                         f'{list(MODALITIES)}')
    stem = f'{int(frame):04d}'
    return stem + ext if modality == 'rgb' else f'{stem}_{modality}{ext}'


class AnnotationError(ValueError):
    """Raised for bad annotation records; the message lists every problem as
    ``file:line: message`` so nothing is skipped silently."""


def _check_record(rec, data_root: Optional[str], check_files: bool) -> List[str]:
    problems = []
    if not isinstance(rec, dict):
        return [f'expected a JSON object, got {type(rec).__name__}']
    for key in REQUIRED_FIELDS:
        if key not in rec:
            problems.append(f'missing field "{key}"')
        elif not isinstance(rec[key], str) or rec[key] == '':
            problems.append(f'field "{key}" must be a non-empty string, '
                            f'got {rec[key]!r}')
    label = rec.get('label')
    if isinstance(label, str) and label not in LABELS:
        problems.append(f'unknown label {label!r} (expected one of '
                        f'{sorted(LABELS)})')
    attack = rec.get('attack_type')
    if label == 'live' and isinstance(attack, str) and attack != 'none':
        problems.append(f'live sample with attack_type {attack!r} '
                        '(must be "none")')
    if label == 'spoof' and attack == 'none':
        problems.append('spoof sample with attack_type "none"')
    split = rec.get('split')
    if isinstance(split, str) and split not in SPLITS:
        problems.append(f'unknown split {split!r} (expected one of '
                        f'{list(SPLITS)})')
    present = [m for m in MODALITIES if rec.get(m) is not None]
    if not present:
        problems.append(f'no image path: give at least one of '
                        f'{list(MODALITIES)}')
    for m in present:
        path = rec[m]
        if not isinstance(path, str) or not path:
            problems.append(f'field "{m}" must be a path string')
            continue
        if check_files:
            full = path if osp.isabs(path) or data_root is None else \
                osp.join(data_root, path)
            if not osp.isfile(full):
                problems.append(f'{m} file does not exist: {full}')
    if 'bbox' in rec and rec['bbox'] is not None:
        box = rec['bbox']
        ok = (isinstance(box, (list, tuple)) and len(box) == 4
              and all(isinstance(v, (int, float)) for v in box))
        if not ok:
            problems.append(f'bbox must be [x1, y1, x2, y2], got {box!r}')
        elif not (box[2] > box[0] and box[3] > box[1]):
            problems.append(f'bbox {box!r} has non-positive size')
    if 'frame' in rec and rec['frame'] is not None and not isinstance(
            rec['frame'], int):
        problems.append(f'frame must be an int, got {rec["frame"]!r}')
    return problems


def load_annotations(ann_file: str,
                     data_root: Optional[str] = None,
                     check_files: bool = True,
                     max_report: int = 20) -> List[dict]:
    """Read and validate an annotation file.

    Args:
        ann_file (str): Path of the ``.jsonl`` file.
        data_root (str, optional): Root the image paths are relative to.
            Defaults to None (paths used as written).
        check_files (bool): Check that every image file exists.
            Defaults to True.
        max_report (int): How many problems the error message lists before
            summarising the rest with a count. Defaults to 20.

    Returns:
        list[dict]: The records, in file order, each with ``_line`` (1-based
        line number) added.

    Raises:
        FileNotFoundError: ``ann_file`` does not exist.
        AnnotationError: any record is bad; all problems are reported as
            ``file:line: message``.
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file}')
    records, problems = [], []
    with open(ann_file, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(f'{ann_file}:{lineno}: invalid JSON ({e.msg})')
                continue
            for p in _check_record(rec, data_root, check_files):
                problems.append(f'{ann_file}:{lineno}: {p}')
            if isinstance(rec, dict):
                rec['_line'] = lineno
                records.append(rec)
    if problems:
        shown = problems[:max_report]
        more = len(problems) - len(shown)
        msg = f'{len(problems)} problem(s) in {ann_file}:\n  ' + \
            '\n  '.join(shown)
        if more:
            msg += f'\n  ... and {more} more'
        raise AnnotationError(msg)
    if not records:
        raise AnnotationError(f'{ann_file}: no records')
    return records


def validate_annotations(ann_file: str,
                         data_root: Optional[str] = None,
                         check_files: bool = True) -> List[str]:
    """Like :func:`load_annotations` but returns the list of problems
    (empty when the file is valid) instead of raising."""
    try:
        load_annotations(ann_file, data_root, check_files, max_report=10**9)
    except (AnnotationError, FileNotFoundError) as e:
        text = str(e)
        lines = text.splitlines()
        return [ln.strip() for ln in lines[1:]] or [text]
    return []


def make_record(label: str,
                attack_type: str,
                video_id: str,
                subject_id: str,
                domain: str,
                split: str,
                rgb: Optional[str] = None,
                depth: Optional[str] = None,
                ir: Optional[str] = None,
                frame: Optional[int] = None,
                bbox: Optional[Sequence[float]] = None,
                **extra) -> dict:
    """Build one record in the canonical field order (validated)."""
    rec = dict(label=label, attack_type=attack_type, video_id=video_id,
               subject_id=subject_id, domain=domain, split=split)
    for key, val in (('rgb', rgb), ('depth', depth), ('ir', ir),
                     ('frame', frame)):
        if val is not None:
            rec[key] = val
    if bbox is not None:
        rec['bbox'] = [float(v) for v in bbox]
    rec.update(extra)
    problems = _check_record(rec, None, check_files=False)
    if problems:
        raise AnnotationError(f'bad record {rec!r}: ' + '; '.join(problems))
    return rec


def write_annotations(records: Iterable[dict], ann_file: str) -> int:
    """Write records as JSON Lines atomically (temp file + rename).

    Returns the number of records written. Private keys (``_line``) are
    dropped.
    """
    d = osp.dirname(osp.abspath(ann_file))
    os.makedirs(d, exist_ok=True)
    tmp = ann_file + '.tmp'
    n = 0
    with open(tmp, 'w', encoding='utf-8') as f:
        for rec in records:
            clean = {k: v for k, v in rec.items() if not k.startswith('_')}
            f.write(json.dumps(clean, ensure_ascii=False) + '\n')
            n += 1
    os.replace(tmp, ann_file)
    return n
