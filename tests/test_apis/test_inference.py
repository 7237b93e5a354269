"""mmfas.apis: init_model / inference_model and the deployment export, on
the tiny random CLIP of configs/flip/flip-it_tiny_demo.py."""
import importlib.util
import os.path as osp
import re
import warnings

import cv2
import numpy as np
import pytest
import torch
from mmengine import DefaultScope
from mmengine.dataset import pseudo_collate

from mmfas.apis import get_test_pipeline_cfg, inference_model, init_model
from mmfas.utils import safe_torch_load

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
FLIPV_CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-v_tiny_demo.py')


def _load_tool(name, rel):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


export_tool = _load_tool('export_deploy_checkpoint',
                         'tools/misc/export_deploy_checkpoint.py')


def _face(rng, h, w):
    """A synthetic BGR 'face': gradient background, an ellipse and noise."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h,
                    np.full((h, w), rng.integers(0, 255))], -1)
    img = img.astype(np.uint8)
    cv2.ellipse(img, (w // 2, h // 2), (w // 3, h // 2 - 4), 0, 0, 360,
                tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    noise = rng.integers(0, 30, img.shape, dtype=np.uint8)
    return cv2.add(img, noise)


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp('apis')
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(96, 96), (130, 110), (160, 160),
                                (100, 140)]):
        p = str(root / f'face_{i}.jpg')
        cv2.imwrite(p, _face(rng, h, w))
        paths.append(p)
    torch.manual_seed(0)
    model = init_model(CONFIG)
    plain = str(root / 'plain.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(iter=7, epoch=0)), plain)
    return dict(root=root, paths=paths, plain=plain)


def test_init_model_uses_config_scope_and_loads_weights(env):
    model = init_model(CONFIG, env['plain'])
    assert not model.training
    assert model.cfg.default_scope == 'mmfas'
    assert DefaultScope.get_current_instance().scope_name == 'mmfas'
    assert model.fas_threshold is None
    ref = safe_torch_load(env['plain'])['state_dict']
    for k, v in model.state_dict().items():
        assert torch.equal(v, ref[k]), k
    # without the checkpoint another random init gives other scores
    torch.manual_seed(123)
    other = init_model(CONFIG)
    a = inference_model(model, env['paths'][0])['live_score']
    b = inference_model(other, env['paths'][0])['live_score']
    assert a != pytest.approx(b, abs=1e-7)


def test_inference_outputs_paths_and_arrays(env):
    model = init_model(CONFIG, env['plain'])
    one = inference_model(model, env['paths'][0])
    assert set(one) == {'live_score', 'pred_label', 'threshold',
                        'threshold_source'}
    assert isinstance(one['live_score'], float)
    assert 0.0 <= one['live_score'] <= 1.0
    # no meta, no argument: the score rule's uncalibrated default
    assert one['threshold'] == 0.5 and one['threshold_source'] == 'default'
    assert one['pred_label'] == ('live' if one['live_score'] >= 0.5 else
                                 'spoof')

    many = inference_model(model, env['paths'], batch_size=3)
    assert isinstance(many, list) and len(many) == len(env['paths'])
    arrays = [cv2.imread(p) for p in env['paths']]
    from_arrays = inference_model(model, arrays)
    mixed = inference_model(model, (env['paths'][1], arrays[2]))
    for r, s in zip(many, from_arrays):
        assert r['live_score'] == pytest.approx(s['live_score'], abs=1e-5)
    assert mixed[0]['live_score'] == pytest.approx(many[1]['live_score'],
                                                   abs=1e-5)
    assert mixed[1]['live_score'] == pytest.approx(many[2]['live_score'],
                                                   abs=1e-5)
    # a single array is one image, not a batch
    assert isinstance(inference_model(model, arrays[0]), dict)
    # grayscale arrays are accepted
    gray = cv2.cvtColor(arrays[0], cv2.COLOR_BGR2GRAY)
    assert isinstance(inference_model(model, gray)['live_score'], float)
    with pytest.raises(ValueError, match='BGR'):
        inference_model(model, np.zeros((8, 8, 4), np.uint8))
    with pytest.raises(TypeError):
        inference_model(model, 3.0)


def test_threshold_from_checkpoint_meta(env):
    model = init_model(CONFIG, env['plain'])
    scores = sorted(r['live_score']
                    for r in inference_model(model, env['paths']))
    assert scores[0] < scores[-1]
    thr = (scores[1] + scores[2]) / 2  # two live, two spoof
    deploy = str(env['root'] / 'deploy.pth')
    export_tool.main([CONFIG, env['plain'], '--threshold', str(thr),
                      '--out', deploy])

    ckpt = safe_torch_load(deploy)
    assert set(ckpt) == {'state_dict', 'meta'}
    meta = ckpt['meta']
    assert meta['fas_threshold'] == pytest.approx(thr)
    assert meta['threshold_policy'] == 'fixed'
    assert meta['classes'] == ['spoof', 'live']
    assert meta['score_kind'] == 'logits'
    unverified = export_tool.export(CONFIG, env['plain'], thr,
                                    str(env['root'] / 'unverified.pth'),
                                    verify=False)
    assert unverified['score_kind'] == 'logits'
    assert meta['source']['checkpoint'] == osp.abspath(env['plain'])
    assert meta['source']['iter'] == 7

    dmodel = init_model(CONFIG, deploy)
    assert dmodel.fas_threshold == pytest.approx(thr)
    # the model's own predict decides at the deployed threshold too
    assert dmodel.decision_threshold == pytest.approx(thr)
    res = inference_model(dmodel, env['paths'])
    assert all(r['threshold'] == pytest.approx(thr) and
               r['threshold_source'] == 'checkpoint' for r in res)
    assert sorted(r['pred_label'] for r in res) == ['live', 'live',
                                                    'spoof', 'spoof']
    for r in res:
        assert r['pred_label'] == ('live' if r['live_score'] >= thr else
                                   'spoof')

    # no threshold in the checkpoint: the explicit argument decides
    low = inference_model(model, env['paths'], threshold=0.0)
    assert all(r['pred_label'] == 'live' and r['threshold'] == 0.0 and
               r['threshold_source'] == 'argument' for r in low)
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        inference_model(model, env['paths'][0], threshold=1.5)
    # the checkpoint's operating point wins over a different argument,
    # with a warning
    with pytest.warns(UserWarning, match='ignored'):
        res2 = inference_model(dmodel, env['paths'], threshold=0.0)
    assert [r['pred_label'] for r in res2] == [r['pred_label'] for r in res]
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        inference_model(dmodel, env['paths'][0], threshold=thr)


def test_deploy_meta_must_fit_the_score_rule(env, tmp_path):
    """A deployment threshold is a threshold on one score kind in one class
    order; a checkpoint stating another is refused, naming the field."""
    state = safe_torch_load(env['plain'])['state_dict']
    for meta, match in ((dict(fas_threshold=0.4, score_kind='distance'),
                         'score_kind'),
                        (dict(fas_threshold=0.4, classes=['live', 'spoof']),
                         'class order'),
                        (dict(fas_threshold=1.4), r'\[0, 1\]')):
        path = tmp_path / 'bad_meta.pth'
        torch.save(dict(state_dict=state, meta=meta), str(path))
        with pytest.raises(ValueError, match=match):
            init_model(CONFIG, str(path))


def test_missing_image_is_named(env):
    model = init_model(CONFIG, env['plain'])
    missing = str(env['root'] / 'no_such_face.jpg')
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        inference_model(model, missing)
    with pytest.raises(FileNotFoundError, match=re.escape(missing)):
        inference_model(model, [env['paths'][0], missing])
    with pytest.raises(FileNotFoundError, match='checkpoint'):
        init_model(CONFIG, str(env['root'] / 'nope.pth'))


def test_export_and_load_errors(env):
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        export_tool.export(CONFIG, env['plain'], 1.5,
                           str(env['root'] / 'bad.pth'))
    # a checkpoint that does not fit the config is refused
    with pytest.raises(RuntimeError, match='does not match'):
        init_model(FLIPV_CONFIG, env['plain'])
    with pytest.raises(RuntimeError):
        export_tool.export(FLIPV_CONFIG, env['plain'], 0.5,
                           str(env['root'] / 'bad.pth'))
    assert not osp.exists(env['root'] / 'bad.pth')


def test_same_scores_as_the_test_pipeline_on_a_dataset(env, tmp_path):
    """inference_model(path) == model.test_step on the config's own test
    dataset item (same pipeline, same preprocessing)."""
    from mmfas.datasets.demo_data import make_demo_dataset
    from mmfas.registry import DATASETS
    data_root = str(tmp_path / 'demo')
    make_demo_dataset(data_root, num_subjects=3, frames_per_video=1, seed=1,
                      num_workers=0)
    model = init_model(CONFIG, env['plain'])
    ds_cfg = model.cfg.test_dataloader.dataset.datasets[1].copy()
    ds_cfg['data_root'] = data_root
    assert ds_cfg['pipeline'] == get_test_pipeline_cfg(model.cfg)
    dataset = DATASETS.build(ds_cfg)
    items = [dataset[i] for i in range(3)]
    infos = [dataset.get_data_info(i) for i in range(3)]
    assert all(info.get('face_bbox') is not None for info in infos)
    with torch.no_grad():
        ref = model.test_step(pseudo_collate(items))
    got = inference_model(model, [i['img_path'] for i in infos],
                          face_bboxes=[i['face_bbox'] for i in infos])
    for r, s in zip(ref, got):
        assert s['live_score'] == pytest.approx(float(r.live_score),
                                                abs=1e-5)
    # arrays take boxes too; a single image takes a single box
    one = inference_model(model, cv2.imread(infos[0]['img_path']),
                          face_bboxes=infos[0]['face_bbox'])
    assert one['live_score'] == pytest.approx(got[0]['live_score'], abs=1e-5)
    # without the box the whole frame is the face: another score
    whole = inference_model(model, infos[0]['img_path'])
    assert whole['live_score'] != pytest.approx(got[0]['live_score'],
                                                abs=1e-6)
    with pytest.raises(ValueError, match='face boxes'):
        inference_model(model, [infos[0]['img_path']], face_bboxes=[])


def test_trainable_only_checkpoint_loads_strictly(tmp_path):
    # the frozen CLIP comes from a weights file, so the checkpoint may omit
    # it (a randomly initialised one is stored: test_strict_loading.py)
    weights = tmp_path / 'clip.pth'
    torch.save(init_model(FLIPV_CONFIG).backbone.clip.state_dict(), weights)
    opts = {'model.save_trainable_only': True,
            'model.backbone.freeze': 'all',
            'model.backbone.pretrained': str(weights)}
    model = init_model(FLIPV_CONFIG, cfg_options=opts)
    state = model.state_dict()
    assert 'head.classifier.weight' in state
    assert not any(k.startswith('backbone.clip.') for k in state)
    ckpt = tmp_path / 'trainable.pth'
    torch.save(dict(state_dict=state, meta=dict()), ckpt)
    back = init_model(FLIPV_CONFIG, str(ckpt), cfg_options=opts)
    assert torch.equal(back.head.classifier.weight,
                       model.head.classifier.weight)
    # without save_trainable_only the same file lacks the CLIP weights
    with pytest.raises(RuntimeError, match='does not match'):
        init_model(FLIPV_CONFIG, str(ckpt))
