"""inference_model(..., detect_faces=True): every face detected (the
converters' Haar detector), cropped from its box as the test pipeline crops
an annotated box, scored by the score rule; return_maps for SLIP; no
re-encoding of the class prompts between calls."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmfas.apis import inference_model, init_model
from mmfas.apis.inference import drop_nested_boxes, get_face_detector
from mmfas.datasets.converters.face_detectors import FaceBox
from mmfas.testing import tiny_backbone_cfg

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')


def detected_demo_faces(root, n=2):
    """Synthetic demo frames (160 px) in which Haar finds exactly one face,
    with that box."""
    from mmfas.datasets.demo_data import make_demo_dataset
    make_demo_dataset(str(root), num_subjects=6, frames_per_video=2,
                      domains=['DemoD'], attack_types=['print'], seed=0,
                      num_workers=0)
    det = get_face_detector('haar')
    found = []
    frames = sorted((root / 'DemoD' / 'frames').glob('*/*.jpg'))
    for p in frames:
        img = cv2.imread(str(p))
        boxes = drop_nested_boxes(det.detect(img))
        if len(boxes) == 1:
            found.append((img, boxes[0]))
    assert len(found) >= n, f'Haar found faces in {len(found)} frames'
    return found


def two_face_image(found):
    """Two detected demo faces side by side, both still detected there:
    ``(image, [(box_in_its_own_image, source_image, x_offset), ...])``."""
    det = get_face_detector('haar')
    for i in range(len(found)):
        for j in range(i + 1, len(found)):
            a, b = found[i][0], found[j][0]
            img = np.concatenate([a, b], axis=1)
            boxes = drop_nested_boxes(det.detect(img))
            w = a.shape[1]
            if len(boxes) == 2 and sorted(
                    (bx.x1 + bx.x2) / 2 < w for bx in boxes) == [False, True]:
                return img, a, b
    pytest.fail('no pair of demo faces stays detected side by side')


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp('detect')
    found = detected_demo_faces(root / 'demo')
    torch.manual_seed(0)
    model = init_model(CONFIG)
    ckpt = str(root / 'flipit.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), ckpt)
    return dict(root=root, found=found, model=init_model(CONFIG, ckpt))


def test_each_face_is_cropped_from_its_box_and_scored(env):
    model = env['model']
    img, a, b = two_face_image(env['found'])
    res = inference_model(model, img, detect_faces=True, detector='haar')
    assert set(res) == {'faces', 'image_shape', 'detector'}
    assert res['image_shape'] == img.shape[:2] and res['detector'] == 'haar'
    faces = res['faces']
    assert len(faces) == 2
    w = a.shape[1]
    for f in faces:
        x1, y1, x2, y2 = f['bbox']
        left = (x1 + x2) / 2 < w
        src, dx = (a, 0) if left else (b, w)
        # the same face, scored alone in its own image with the same box
        # (FaceCrop of the box, as training crops the annotated box)
        alone = inference_model(model, src,
                                face_bboxes=[x1 - dx, y1, x2 - dx, y2])
        assert f['live_score'] == pytest.approx(alone['live_score'],
                                                abs=1e-5)
        assert f['threshold'] == 0.5 and f['threshold_source'] == 'default'
        assert f['pred_label'] == ('live' if f['live_score'] >= 0.5 else
                                   'spoof')
        assert f['det_score'] > 0
    # the box matters: the whole composite image scores differently
    whole = inference_model(model, img)['live_score']
    assert all(whole != pytest.approx(f['live_score'], abs=1e-6)
               for f in faces)


def test_paths_lists_and_a_real_photo(env, tmp_path):
    skimage_data = pytest.importorskip('skimage.data')
    model = env['model']
    photo = cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)
    path = str(tmp_path / 'astronaut.png')
    cv2.imwrite(path, photo)
    gray = str(tmp_path / 'gray.png')
    cv2.imwrite(gray, np.full((120, 160, 3), 128, np.uint8))
    res = inference_model(model, [path, gray], detect_faces=True,
                          detector='haar', threshold=0.3)
    assert isinstance(res, list) and len(res) == 2
    faces = res[0]['faces']
    assert len(faces) == 1  # the astronaut's face, not her badges
    x1, y1, x2, y2 = faces[0]['bbox']
    # her face is around (225, 110) in the 512 x 512 photo
    assert 190 < (x1 + x2) / 2 < 260 and 80 < (y1 + y2) / 2 < 150
    assert 60 < x2 - x1 < 160
    assert faces[0]['threshold'] == 0.3
    assert faces[0]['threshold_source'] == 'argument'
    # the file and the array give the same score
    arr = inference_model(model, photo, detect_faces=True, detector='haar')
    assert arr['faces'][0]['live_score'] == pytest.approx(
        faces[0]['live_score'], abs=1e-5)
    assert res[1]['faces'] == [] and res[1]['image_shape'] == (120, 160)


def test_options_and_errors(env, tmp_path):
    model = env['model']
    img = env['found'][0][0]
    with pytest.raises(ValueError, match='not both'):
        inference_model(model, img, detect_faces=True,
                        face_bboxes=[0, 0, 10, 10])
    with pytest.raises(FileNotFoundError, match='nope.jpg'):
        inference_model(model, str(tmp_path / 'nope.jpg'),
                        detect_faces=True)
    with pytest.raises(ValueError, match='"rgb"'):
        inference_model(model, {'depth': str(tmp_path / 'd.png')},
                        detect_faces=True)
    with pytest.raises(ValueError, match='unknown face detector'):
        inference_model(model, img, detect_faces=True, detector='yolo')
    # a name is built once and reused (a video calls once per frame)
    assert get_face_detector('haar') is get_face_detector('HAAR')

    class Stub:
        name = 'stub'

        def detect(self, image):
            return [FaceBox(20, 20, 100, 100, 0.9),
                    FaceBox(40, 60, 80, 95, 0.8),  # inside the first
                    FaceBox(100, 30, 150, 80, 0.7)]

    res = inference_model(model, img, detect_faces=True, detector=Stub())
    assert res['detector'] == 'stub'
    boxes = [f['bbox'] for f in res['faces']]
    assert boxes == [[20, 20, 100, 100], [100, 30, 150, 80]]
    assert [f['det_score'] for f in res['faces']] == [0.9, 0.7]


def test_boxes_need_the_pipelines_face_crop(env):
    """Without a FaceCrop in the test pipeline a box would be ignored and
    the whole image scored as if it were the face."""
    cfg = Config.fromfile(CONFIG)
    plain = Config(dict(
        model=cfg.model.to_dict(), default_scope='mmfas',
        data_preprocessor=cfg.data_preprocessor.to_dict(),
        test_pipeline=[dict(type='LoadFASImages'),
                       dict(type='Resize', scale=(224, 224)),
                       dict(type='PackFASInputs')]))
    model = init_model(plain)
    img = env['found'][0][0]
    assert 0 <= inference_model(model, img)['live_score'] <= 1
    for kwargs in (dict(detect_faces=True), dict(face_bboxes=[0, 0, 9, 9])):
        with pytest.raises(ValueError, match="pipeline's FaceCrop"):
            inference_model(model, img, **kwargs)


def test_drop_nested_boxes():
    big = FaceBox(0, 0, 100, 100, 0.5)
    inner = FaceBox(10, 60, 50, 100, 0.9)  # a mouth found as a face
    half_out = FaceBox(80, 0, 140, 60, 0.8)  # 1/3 of it inside big
    empty = FaceBox(5, 5, 5, 20, 1.0)
    assert drop_nested_boxes([big, inner, half_out, empty]) == [big,
                                                                half_out]
    # the detector's order decides which one stays
    assert drop_nested_boxes([inner, big]) == [inner, big]
    assert drop_nested_boxes([inner, big], overlap=0.1) == [inner]


def test_repeated_calls_reuse_the_class_text_features(env):
    """Switching the model to eval (or back) clears its text feature
    caches: inference_model must not do it when the model is already in
    eval mode, or every call (every video frame) re-encodes the prompts."""
    from mmfas.models.utils.prompts import TextFeatureCache
    model = env['model']
    caches = [m for m in model.modules() if isinstance(m, TextFeatureCache)]
    assert caches
    img = env['found'][0][0]
    first = inference_model(model, img)['live_score']
    computed = [c.num_computed for c in caches]
    for _ in range(3):
        assert inference_model(model, img)['live_score'] == first
    assert [c.num_computed for c in caches] == computed
    # a model left in train mode is scored in eval mode and restored
    model.train()
    try:
        assert inference_model(model, img)['live_score'] == pytest.approx(
            first, abs=1e-6)
        assert model.training
    finally:
        model.eval()


def slip_config(path):
    """The demo config with a tiny SLIP (spoof cue maps) as its model."""
    cfg = Config.fromfile(CONFIG)
    cfg.model = dict(type='SLIP', backbone=tiny_backbone_cfg(
        image_size=224, pretrained=None, tokenizer='ViT-B-16',
        freeze='none'))
    cfg.dump(path)
    return path


def test_return_maps(env):
    cfg = slip_config(str(env['root'] / 'slip_tiny.py'))
    torch.manual_seed(0)
    slip = init_model(cfg)
    img = env['found'][0][0]
    res = inference_model(slip, [img, img], detect_faces=True,
                          detector='haar', return_maps=True)
    face = res[0]['faces'][0]
    assert face['map'].shape == (32, 32) and face['map'].dtype == np.float32
    assert np.isfinite(face['map']).all()
    # SLIP's score: 1 - the squashed mean of the cue map (score_kind
    # spoof_map, SLIP.score_output)
    spoofness = 1 / (1 + np.exp(-slip.score_squash *
                                (face['map'].mean() - 0.5)))
    assert face['live_score'] == pytest.approx(1 - spoofness, abs=1e-5)
    assert face['crop'].shape == (224, 224, 3)
    assert face['crop'].dtype == np.uint8
    # the crop is the face box of the image, resized
    x1, y1, x2, y2 = [int(round(v)) for v in face['bbox']]
    side = max(x2 - x1, y2 - y1)
    assert face['crop'].mean() == pytest.approx(
        img[y1:y1 + side, x1:x1 + side].mean(), abs=6)
    # same scores without maps
    plain = inference_model(slip, img, detect_faces=True, detector='haar')
    assert plain['faces'][0]['live_score'] == pytest.approx(
        face['live_score'], abs=1e-6)
    assert 'map' not in plain['faces'][0]
    with pytest.raises(ValueError, match='FLIP.*no maps'):
        inference_model(env['model'], img, return_maps=True)
