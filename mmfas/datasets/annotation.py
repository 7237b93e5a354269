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
                          (finite numbers, positive size, overlapping the
                          image)
==============  ========  =====================================================

Paths are relative to the dataset's ``data_root`` (absolute paths are kept).
Any extra field is kept as metadata. Optional fields that are checked when
present: ``occlusion`` (``{"position": ..., "object": ...}`` of a partial
attack), ``occlusion_mask`` (path of its region mask image) and
``captions`` (list of sentences describing the image).

Label convention inside mmfas (converted here, at the dataset boundary):
``live = 1`` and ``spoof = 0``; the text class order of every model is
``[spoof, live]`` so that column 1 of a softmax is the liveness score.
"""
import json
import math
import os
import os.path as osp
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

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
        problems += check_bbox(rec['bbox'])
    if 'frame' in rec and rec['frame'] is not None and not isinstance(
            rec['frame'], int):
        problems.append(f'frame must be an int, got {rec["frame"]!r}')
    # optional fields of partial-occlusion attacks and captions (demo data)
    occ = rec.get('occlusion')
    if occ is not None and not (isinstance(occ, dict) and all(
            isinstance(occ.get(k), str) and occ[k]
            for k in ('position', 'object'))):
        problems.append('occlusion must be {"position": str, "object": str}, '
                        f'got {occ!r}')
    mask = rec.get('occlusion_mask')
    if mask is not None:
        if not isinstance(mask, str) or not mask:
            problems.append('field "occlusion_mask" must be a path string')
        elif check_files:
            full = mask if osp.isabs(mask) or data_root is None else \
                osp.join(data_root, mask)
            if not osp.isfile(full):
                problems.append(f'occlusion_mask file does not exist: {full}')
    caps = rec.get('captions')
    if caps is not None and not (isinstance(caps, list) and all(
            isinstance(c, str) and c for c in caps)):
        problems.append(f'captions must be a list of strings, got {caps!r}')
    return problems


def check_bbox(box, width: Optional[int] = None,
               height: Optional[int] = None) -> List[str]:
    """Problems of a ``bbox`` value (empty list: fine): it must be four
    finite numbers ``[x1, y1, x2, y2]`` with ``x2 > x1``, ``y2 > y1``, and
    overlap the image: ``x2 > 0`` and ``y2 > 0`` always, ``x1 < width`` and
    ``y1 < height`` when the image size is given. (A box partly outside the
    image is fine: crops are padded.)"""
    ok = (isinstance(box, (list, tuple)) and len(box) == 4
          and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                  for v in box))
    if not ok:
        return [f'bbox must be [x1, y1, x2, y2], got {box!r}']
    if not all(math.isfinite(v) for v in box):
        return [f'bbox {list(box)!r} has a non-finite value (NaN or '
                'Infinity)']
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1):
        return [f'bbox {list(box)!r} has non-positive size']
    image = f'the {width}x{height} image' if width and height else \
        'the image'
    if x2 <= 0 or y2 <= 0 or (width and x1 >= width) or (
            height and y1 >= height):
        return [f'bbox {list(box)!r} lies entirely outside {image}']
    return []


_DEMO_DOMAIN_RE = re.compile(r'^Demo[A-Z]$')


def missing_file_hint(path: str) -> str:
    """What to run when an annotation file does not exist: the demo data
    generator for a path under a demo domain (``data/demo/DemoA/...``), the
    converters for the real datasets' layout."""
    parts = osp.normpath(path).split(os.sep)
    for i, part in enumerate(parts):
        if _DEMO_DOMAIN_RE.match(part):
            root = os.sep.join(parts[:i]) or '.'
            return ('it is part of the synthetic demo dataset, which is '
                    'generated, not shipped: run python '
                    f'tools/misc/make_demo_data.py --out {root}')
    if 'protocols' in parts:
        return ('protocol lists are written by python '
                'tools/dataset_converters/make_protocols.py OUT after the '
                'converters (docs/data_preparation.md); check data_root')
    if parts[-2:] == ['annotations', 'all.jsonl']:
        return ('a converted dataset\'s annotations are written by its '
                'converter, tools/dataset_converters/<dataset>.py '
                '(docs/data_preparation.md); check data_root')
    return 'check the path and data_root'


def read_annotations(ann_file: str,
                     data_root: Optional[str] = None,
                     check_files: bool = True
                     ) -> Tuple[List[dict], List[str]]:
    """The records of an annotation file (each with ``_line``) and its
    problems as ``file:line: message``; never raises for a bad record
    (:func:`load_annotations` is the strict reader).

    Raises:
        FileNotFoundError: ``ann_file`` does not exist (with a hint).
    """
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'annotation file not found: {ann_file} '
                                f'({missing_file_hint(ann_file)})')
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
    return records, problems


def image_path(rec: dict, modality: str, data_root: Optional[str]) -> str:
    """Full path of a record's image (relative paths joined to
    ``data_root``)."""
    path = rec[modality]
    return path if osp.isabs(path) or not data_root else osp.join(
        data_root, path)


def check_images(ann_file: str, records: Sequence[dict],
                 data_root: Optional[str] = None,
                 decode: bool = False) -> List[str]:
    """Per-image problems of loaded records, as ``file:line: message``:
    missing files; with ``decode``, images that do not decode completely
    (a truncated JPEG decodes with OpenCV without error, so this decodes
    strictly with Pillow); and boxes lying entirely outside their image
    (the image header is read for every record with a ``bbox``)."""
    from PIL import Image, ImageFile
    problems = []
    strict = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        for rec in records:
            where = f'{ann_file}:{rec.get("_line", "?")}'
            size = None
            for m in MODALITIES:
                if not isinstance(rec.get(m), str) or not rec[m]:
                    continue
                full = image_path(rec, m, data_root)
                if not osp.isfile(full):
                    problems.append(f'{where}: {m} file does not exist: '
                                    f'{full}')
                    continue
                if not decode and (size is not None
                                   or rec.get('bbox') is None):
                    continue
                try:
                    with Image.open(full) as im:
                        if decode:
                            im.load()
                        size = size or im.size
                except Exception as e:  # PIL raises many types
                    problems.append(f'{where}: {m} image {full} does not '
                                    f'decode: {type(e).__name__}: {e}')
            if size is not None and rec.get('bbox') is not None \
                    and not check_bbox(rec['bbox']):
                for p in check_bbox(rec['bbox'], *size):
                    problems.append(f'{where}: {p}')
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = strict
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
        FileNotFoundError: ``ann_file`` does not exist (the message says
            what writes it, e.g. ``tools/misc/make_demo_data.py``).
        AnnotationError: any record is bad; all problems are reported as
            ``file:line: message``.
    """
    records, problems = read_annotations(ann_file, data_root, check_files)
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
                         check_files: bool = True,
                         decode: bool = False) -> List[str]:
    """Every problem of an annotation file as ``file:line: message``, in line
    order (empty when the file is valid); never raises.

    ``check_files``: every image exists, and every ``bbox`` overlaps its
    image (image headers are read); ``decode``: also decode every image
    completely (finds truncated JPEGs), see :func:`check_images`.
    """
    try:
        records, problems = read_annotations(ann_file, data_root,
                                             check_files=False)
    except FileNotFoundError as e:
        return [str(e)]
    if not records and not problems:
        problems.append(f'{ann_file}: no records')
    if check_files or decode:
        problems += check_images(ann_file, records, data_root, decode)

    def line_of(p):
        m = re.match(r'.*:(\d+): ', p)
        return int(m.group(1)) if m else 0

    return sorted(problems, key=line_of)


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
