"""demo/image_demo.py and demo/video_demo.py on synthetic demo frames and a
real face photo (scikit-image's astronaut), with tiny checkpoints saved
here: the table, the annotated images / video, the maps, the tracker."""
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmfas.apis import inference_model, init_model
from mmfas.apis.inference import drop_nested_boxes, get_face_detector
from mmfas.testing import tiny_backbone_cfg
from mmfas.visualization import LIVE_COLOR, SPOOF_COLOR

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
DEPLOY_THR = 0.42


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


image_demo = _load('image_demo', 'demo/image_demo.py')
video_demo = _load('video_demo', 'demo/video_demo.py')


def _haar(img):
    return drop_nested_boxes(get_face_detector('haar').detect(img))


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    from mmfas.datasets.demo_data import make_demo_dataset
    skimage_data = pytest.importorskip('skimage.data')
    root = tmp_path_factory.mktemp('demos')
    make_demo_dataset(str(root / 'demo'), num_subjects=6,
                      frames_per_video=2, domains=['DemoD'],
                      attack_types=['print'], seed=0, num_workers=0)
    # demo frames in which Haar finds one face
    found = []
    for p in sorted((root / 'demo' / 'DemoD' / 'frames').glob('*/*.jpg')):
        img = cv2.imread(str(p))
        if len(_haar(img)) == 1:
            found.append(img)
    assert len(found) >= 2, f'Haar found faces in {len(found)} frames'
    # two of them side by side, both still found there
    pair = None
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            img = np.concatenate([found[i], found[j]], axis=1)
            if len(_haar(img)) == 2:
                pair = (found[i], found[j])
                break
        if pair:
            break
    assert pair, 'no two demo faces stay detected side by side'
    images = root / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'face_a.png'), pair[0])
    cv2.imwrite(str(images / 'face_b.png'), pair[1])
    cv2.imwrite(str(images / 'two_faces.png'), np.concatenate(pair, 1))
    cv2.imwrite(str(images / 'astronaut.png'),
                cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(images / 'no_face.png'),
                np.full((120, 160, 3), 90, np.uint8))

    torch.manual_seed(0)
    state = init_model(CONFIG).state_dict()
    plain = str(root / 'flipit.pth')
    torch.save(dict(state_dict=state, meta=dict(iter=1)), plain)
    deploy = str(root / 'flipit_deploy.pth')
    torch.save(dict(state_dict=state,
                    meta=dict(fas_threshold=DEPLOY_THR,
                              classes=['spoof', 'live'],
                              score_kind='logits')), deploy)
    return dict(root=root, images=images, pair=pair, found=found,
                plain=plain, deploy=deploy)


def _table_rows(printed):
    lines = printed.splitlines()
    head = next(i for i, line in enumerate(lines)
                if line.startswith('file') and 'live score' in line)
    assert lines[head + 1].startswith('---')
    rows = []
    for line in lines[head + 2:]:
        if not line.strip() or line.split()[0].isdigit():
            break
        rows.append(re.split(r'\s{2,}', line.strip()))
    return lines[head], rows


def test_image_demo_table_and_annotated_images(env, tmp_path, capsys):
    out = tmp_path / 'out'
    imgs = env['images']
    files = [str(imgs / f) for f in ('face_a.png', 'two_faces.png',
                                     'astronaut.png', 'no_face.png')]
    rows, written = image_demo.main(
        [CONFIG, env['deploy'], *files, '--out-dir', str(out),
         '--detector', 'haar'])
    printed = capsys.readouterr().out
    head, table = _table_rows(printed)
    for col in ('file', 'face', 'box', 'live score', 'decision',
                'threshold (source)'):
        assert col in head
    per_file = {}
    for r in table:
        per_file.setdefault(osp.basename(r[0]), []).append(r)
    assert {k: len(v) for k, v in per_file.items()} == {
        'face_a.png': 1, 'two_faces.png': 2, 'astronaut.png': 1,
        'no_face.png': 1}
    assert 'no face detected' in per_file['no_face.png'][0]
    model = init_model(CONFIG, env['deploy'])
    for r in rows:
        if r['face'] is None:
            continue
        # the printed score is the API's for that face
        ref = inference_model(model, r['file'], face_bboxes=r['bbox'])
        assert r['live_score'] == pytest.approx(ref['live_score'], abs=1e-5)
        assert r['threshold'] == DEPLOY_THR
        assert r['threshold_source'] == 'checkpoint'
        assert r['pred_label'] == ('live' if r['live_score'] >= DEPLOY_THR
                                   else 'spoof')
        line = next(t for t in table if t[0] == r['file'] and
                    t[1] == str(r['face']))
        assert line[3] == f"{r['live_score']:.4f}"
        assert line[4] == r['pred_label']
        assert line[5].startswith(f'{DEPLOY_THR:.4g} (checkpoint')
    # the two faces of the composite: one per half
    two = [r for r in rows if r['file'].endswith('two_faces.png')]
    w = env['pair'][0].shape[1]
    assert sorted((r['bbox'][0] + r['bbox'][2]) / 2 < w for r in two) == [
        False, True]
    # annotated images: enlarged small ones, boxes coloured by decision
    assert sorted(os.listdir(out)) == sorted(
        ['face_a.png', 'two_faces.png', 'astronaut.png', 'no_face.png',
         'results.json'])
    for r in rows:
        img = cv2.imread(str(out / osp.basename(r['file'])))
        src = cv2.imread(r['file'])
        s = max(1.0, 480 / min(src.shape[:2]))
        assert img.shape[:2] == (round(src.shape[0] * s),
                                 round(src.shape[1] * s))
        if r['face'] is None:
            continue
        x1, y1, x2, y2 = [v * s for v in r['bbox']]
        color = LIVE_COLOR if r['pred_label'] == 'live' else SPOOF_COLOR
        # the middle of the box's bottom edge
        assert tuple(img[round(y2), round((x1 + x2) / 2)]) == color
    saved = json.loads((out / 'results.json').read_text())
    assert len(saved['faces']) == 5 and saved['detector'] == 'haar'
    assert '4 images, 4 faces' in printed


def test_image_demo_directory_without_detection(env, tmp_path, capsys):
    out = tmp_path / 'crops'
    rows, _ = image_demo.main([CONFIG, env['plain'], str(env['images']),
                               '--out-dir', str(out), '--detector', 'none',
                               '--threshold', '0.3'])
    capsys.readouterr()
    assert len(rows) == 5  # every image of the directory is one face
    model = init_model(CONFIG, env['plain'])
    for r in rows:
        h, w = cv2.imread(r['file']).shape[:2]
        assert r['bbox'] == [0.0, 0.0, float(w), float(h)]
        assert r['threshold'] == 0.3 and r['threshold_source'] == 'argument'
        whole = inference_model(model, r['file'])
        assert r['live_score'] == pytest.approx(whole['live_score'],
                                                abs=1e-6)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        image_demo.main([CONFIG, env['plain'],
                         str(env['images'] / 'missing.png')])


def test_image_demo_show_maps(env, tmp_path, capsys):
    cfg = Config.fromfile(CONFIG)
    cfg.model = dict(type='SLIP', backbone=tiny_backbone_cfg(
        image_size=224, pretrained=None, tokenizer='ViT-B-16',
        freeze='none'))
    slip_cfg = str(tmp_path / 'slip_tiny.py')
    cfg.dump(slip_cfg)
    torch.manual_seed(0)
    ckpt = str(tmp_path / 'slip.pth')
    torch.save(dict(state_dict=init_model(slip_cfg).state_dict()), ckpt)
    out = tmp_path / 'maps'
    rows, written = image_demo.main(
        [slip_cfg, ckpt, str(env['images'] / 'astronaut.png'),
         str(env['images'] / 'two_faces.png'), '--out-dir', str(out),
         '--detector', 'haar', '--show-maps'])
    capsys.readouterr()
    maps = sorted(f for f in os.listdir(out) if f.endswith('_map.png'))
    assert maps == ['astronaut_face0_map.png', 'two_faces_face0_map.png',
                    'two_faces_face1_map.png']
    img = cv2.imread(str(out / maps[0]))
    assert img.shape == (256 + 40, 3 * 256, 3)
    # a model without maps: an error naming it, before any output
    with pytest.raises(ValueError, match='FLIPIT has no maps'):
        image_demo.main([CONFIG, env['plain'],
                         str(env['images'] / 'astronaut.png'),
                         '--out-dir', str(tmp_path / 'none'),
                         '--show-maps'])


def test_image_demo_command_line_error(env, tmp_path):
    """The script itself: a clear message and exit status 1."""
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'demo', 'image_demo.py'), CONFIG,
         env['plain'], str(env['images'] / 'astronaut.png'), '--out-dir',
         str(tmp_path / 'x'), '--show-maps'],
        capture_output=True, text=True, timeout=600,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert 'image_demo: FLIPIT has no maps' in proc.stderr


def make_video(path, pair, fps=10, n=12):
    """Face A on the left for ``n`` frames, face B on the right from frame
    ``n // 2``."""
    a, b = pair
    h, w = a.shape[:2]
    blank = np.full_like(b, 90)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'),
                             fps, (2 * w, h))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.concatenate([a, b if i >= n // 2 else blank], 1))
    writer.release()


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f)
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return out, fps


def _sides(frames, w):
    """Faces Haar finds per frame, on the left / right half."""
    return [[(b.x1 + b.x2) / 2 < w for b in _haar(f)] for f in frames]


def test_video_demo(env, tmp_path, capsys):
    video = tmp_path / 'clip.mp4'
    # two demo faces that Haar still finds in every frame of the encoded
    # video (it misses many synthetic faces, and mp4 changes the pixels)
    found, w = env['found'], env['found'][0].shape[1]
    for i in range(len(found)):
        for j in range(len(found)):
            if i == j:
                continue
            make_video(video, (found[i], found[j]))
            frames, _ = _frames(video)
            sides = _sides(frames, w)
            if sides == [[True]] * 6 + [sorted([False, True])] * 6 or \
                    sides == [[True]] * 6 + [[True, False]] * 6:
                break
        else:
            continue
        break
    else:
        pytest.fail('no two demo faces stay detected in an mp4 video')
    assert len(frames) == 12
    out = tmp_path / 'out' / 'clip_annotated.mp4'
    res = video_demo.main([CONFIG, env['deploy'], str(video), '--out',
                           str(out), '--detector', 'haar'])
    printed = capsys.readouterr().out
    assert re.search(r'^12 frames from .*clip\.mp4: [0-9.]+ fps detection '
                     r'\+ scoring', printed, re.M), printed
    assert f'threshold {DEPLOY_THR:.4g} (checkpoint' in printed
    written, fps = _frames(out)
    assert len(written) == 12 and fps == pytest.approx(10)
    assert written[0].shape == frames[0].shape
    # one track per face: the left face in frames 0-11, the right one in
    # frames 6-11, each with its frames' scores
    tracks = res['tracks']
    assert len(tracks) == 2
    left, right = sorted(tracks.values(), key=lambda t: t['box'][0])
    assert (left['first'], left['last'], len(left['scores'])) == (0, 11, 12)
    assert (right['first'], right['last'],
            len(right['scores'])) == (6, 11, 6)
    model = init_model(CONFIG, env['deploy'])
    ref = inference_model(model, frames[8], detect_faces=True,
                          detector='haar')['faces']
    ref = {(f['bbox'][0] + f['bbox'][2]) / 2 < w: f['live_score']
           for f in ref}
    assert left['scores'][8] == pytest.approx(ref[True], abs=1e-5)
    assert right['scores'][2] == pytest.approx(ref[False], abs=1e-5)
    # the table: one line per track with its mean frame score
    for i, t in tracks.items():
        mean = float(np.mean(t['scores']))
        label = 'live' if mean >= DEPLOY_THR else 'spoof'
        assert re.search(rf'^{i}\s+{len(t["scores"])}\s+.*{mean:.4f}\s+'
                         rf'{label}$', printed, re.M), printed


def test_video_demo_arguments(env, tmp_path):
    with pytest.raises(SystemExit):
        video_demo.parse_args([CONFIG, env['plain']])  # no source
    with pytest.raises(SystemExit):
        video_demo.parse_args([CONFIG, env['plain'], 'v.mp4', '--camera',
                               '0'])
    with pytest.raises(FileNotFoundError, match='nothere.mp4'):
        video_demo.main([CONFIG, env['plain'],
                         str(tmp_path / 'nothere.mp4')])


def test_iou_tracker():
    tr = video_demo.IoUTracker(iou_thr=0.3, max_age=2)

    def face(x, s):
        return dict(bbox=[x, 10, x + 40, 50], live_score=s)

    assert tr.update(0, [face(0, 0.2), face(100, 0.9)]) == [0, 1]
    # order of the faces does not matter; small moves keep the track
    assert tr.update(1, [face(104, 0.7), face(3, 0.4)]) == [1, 0]
    assert tr.mean_score(0) == pytest.approx(0.3)
    assert tr.mean_score(1) == pytest.approx(0.8)
    # a face far away starts a new track
    assert tr.update(2, [face(200, 0.5)]) == [2]
    # unseen for more than max_age frames: a new track at the same place
    assert tr.update(5, [face(0, 0.6)]) == [3]
    assert tr.update(6, [face(1, 0.6)]) == [3]
    assert tr.tracks[0]['last'] == 1 and tr.tracks[3]['first'] == 5
    # two faces never share a track
    tr2 = video_demo.IoUTracker()
    tr2.update(0, [face(0, 0.1)])
    assert tr2.update(1, [face(2, 0.1), face(4, 0.1)]) == [0, 1]
    with pytest.raises(ValueError, match='iou'):
        video_demo.IoUTracker(iou_thr=0)
