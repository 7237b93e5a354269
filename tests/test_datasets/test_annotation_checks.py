"""Annotation errors found before training, naming file:line: non-finite and
out-of-image boxes (``check_annotations.py``, ``FASDataset`` / ``FaceCrop``),
truncated images (``check_annotations.py --decode``), a missing data root,
and a missing demo annotation file."""
import importlib.util
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from mmfas.datasets import (AnnotationError, FASDataset, load_annotations,
                            make_record, validate_annotations)
from mmfas.datasets.annotation import check_bbox

REPO = osp.join(osp.dirname(osp.abspath(__file__)), '..', '..')


def _tool():
    path = osp.join(REPO, 'tools', 'misc', 'check_annotations.py')
    spec = importlib.util.spec_from_file_location('check_ann', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def root(tmp_path):
    """``D/frames/v<i>/0000.jpg`` (32 x 24 px) and ``D/ann.jsonl`` writers."""
    for i in range(3):
        d = tmp_path / 'D' / 'frames' / f'v{i}'
        d.mkdir(parents=True)
        cv2.imwrite(str(d / '0000.jpg'), np.full((24, 32, 3), 90, np.uint8))
    return tmp_path


def _write(root, boxes, name='ann.jsonl'):
    """One record per box (``None``: no bbox); raw JSON lines, so that
    ``Infinity`` gets in as a file would carry it."""
    lines = []
    for i, box in enumerate(boxes):
        rec = make_record('live', 'none', f'D/v{i}', 'D/s', 'D', 'train',
                          rgb=f'D/frames/v{i}/0000.jpg', frame=0)
        if box is not None:
            rec['bbox'] = box
        lines.append(json.dumps(rec))  # float('inf') -> Infinity
    path = root / 'D' / name
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def test_non_finite_bbox_names_file_and_line(root, capsys):
    ann = _write(root, [[2, 2, 20, 20], [0, 0, float('inf'), float('inf')],
                        [float('nan'), 0, 5, 5]])
    assert 'Infinity' in open(ann).read()
    with pytest.raises(AnnotationError) as e:
        load_annotations(ann, str(root))
    assert f'{ann}:2: bbox [0, 0, inf, inf] has a non-finite value' in \
        str(e.value)
    assert f'{ann}:3: bbox' in str(e.value)
    # the dataset refuses it when it loads (not later in FaceCrop)
    with pytest.raises(AnnotationError, match=f'{ann}:2: bbox'):
        FASDataset(ann, data_root=str(root))
    assert _tool().main([ann, '--data-root', str(root)]) == 1
    assert f'{ann}:2: bbox [0, 0, inf, inf] has a non-finite value' in \
        capsys.readouterr().out
    assert check_bbox([True, 0, 5, 5]) and not check_bbox([0, 0, 5, 5.5])


def test_bbox_outside_the_image(root, capsys):
    # images are 32 x 24: line 2 lies right of it, line 3 above it
    ann = _write(root, [[20, 10, 40, 30], [40, 2, 60, 20], [2, -30, 20, -5]])
    # left of / above the image is known without the image ...
    with pytest.raises(AnnotationError,
                       match=f'{ann}:3: bbox .* entirely outside'):
        load_annotations(ann, str(root))
    ann = _write(root, [[20, 10, 40, 30], [40, 2, 60, 20]])
    # ... right of / below it needs the image size: check_annotations reads
    # the image headers
    problems = validate_annotations(ann, str(root))
    assert problems == [f'{ann}:2: bbox [40, 2, 60, 20] lies entirely '
                        'outside the 32x24 image']
    assert _tool().main([ann, '--data-root', str(root)]) == 1
    assert f'{ann}:2: bbox [40, 2, 60, 20] lies entirely outside' in \
        capsys.readouterr().out
    # and FaceCrop in the dataset's pipeline names the annotation line
    from mmfas.utils import register_all_modules
    register_all_modules()
    ds = FASDataset(ann, data_root=str(root),
                    pipeline=[dict(type='LoadFASImages'),
                              dict(type='FaceCrop')])
    assert ds[0]['img'].shape == (28, 28, 3)  # partly outside: padded
    with pytest.raises(AnnotationError,
                       match=f'{ann}:2: bbox .* entirely outside the 32x24'):
        ds[1]


def test_decode_finds_truncated_jpeg(root, capsys):
    ann = _write(root, [None, None])
    img = root / 'D' / 'frames' / 'v1' / '0000.jpg'
    rng = np.random.default_rng(0)
    cv2.imwrite(str(img), rng.integers(0, 255, (24, 32, 3), np.uint8))
    data = img.read_bytes()
    img.write_bytes(data[:len(data) // 2])
    # OpenCV decodes it without an error (a gray lower half) ...
    assert cv2.imread(str(img)) is not None
    tool = _tool()
    assert tool.main([ann, '--data-root', str(root)]) == 0
    capsys.readouterr()
    # ... --decode does not let it through
    assert tool.main([ann, '--data-root', str(root), '--decode']) == 1
    out = capsys.readouterr().out
    assert f'{ann}:2: rgb image {root}' in out and 'does not decode' in out
    assert f'{ann}:1' not in out


def test_missing_data_root_said_once(root, capsys, monkeypatch):
    ann = _write(root, [None, None, None])
    other = root / 'elsewhere'
    other.mkdir()
    monkeypatch.chdir(other)
    assert _tool().main([ann, ann]) == 1
    out = capsys.readouterr().out
    assert out.count('--data-root') == 2  # the hint and its suggestion
    assert out.count('error:') == 1
    assert 'file does not exist' not in out
    assert f'--data-root {osp.relpath(str(root))}' in out
    assert out.count(f'{ann}: OK') == 2  # the fields were still checked
    monkeypatch.chdir(root)  # relative to here they exist: no hint
    assert _tool().main([ann]) == 0
    assert 'error' not in capsys.readouterr().out


def test_check_annotations_flags_have_help():
    parser = _tool().build_parser()
    bare = [a.dest for a in parser._actions if not (a.help or '').strip()]
    assert not bare


def test_missing_demo_annotation_says_how_to_make_it(tmp_path):
    root = str(tmp_path / 'demo')
    with pytest.raises(FileNotFoundError) as e:
        FASDataset('DemoA/annotations/all.jsonl', data_root=root)
    msg = str(e.value)
    assert 'tools/misc/make_demo_data.py --out ' + root in msg
    # a converted dataset's file points at the converters instead
    with pytest.raises(FileNotFoundError,
                       match='tools/dataset_converters/'):
        load_annotations(os.path.join(str(tmp_path), 'fas', 'OULU',
                                      'annotations', 'all.jsonl'))
