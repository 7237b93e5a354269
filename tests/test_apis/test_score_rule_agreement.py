"""issue 12 (one score rule): every registered classifier's ``predict``,
:class:`FASMetric` and ``inference_model`` agree on the liveness score and
on the decision ``live_score >= threshold`` of the same samples.

Each classifier registered in mmfas' ``MODELS`` by ``mmfas.models`` (the
methods; test-only toy models are left out) is built with the tiny CLIP:
from its ``configs/**/*tiny*.py`` config when one exists, else with the tiny
CLIP backbone of the FLIP-V demo config and that config's data pipeline.
"""
import glob
import inspect
import os.path as osp
import pickle

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from mmfas.apis import inference_model, init_model
from mmfas.datasets.demo_data import make_demo_dataset
from mmfas.evaluation import FASMetric
from mmfas.models.classifiers.base import BaseFASClassifier
from mmfas.registry import DATASETS, MODELS
from mmfas.structures import score_rule
from mmfas.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BASE_CONFIG = osp.join(REPO, 'configs', 'flip', 'flip-v_tiny_demo.py')
NUM = 4

register_all_modules(init_default_scope=False)
CLASSIFIERS = sorted(
    name for name, cls in MODELS.module_dict.items()
    if inspect.isclass(cls) and issubclass(cls, BaseFASClassifier)
    and cls.__module__.startswith('mmfas.models.'))


def _tiny_configs() -> dict:
    found = {}
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '**',
                                          '*tiny*.py'), recursive=True)):
        if '_base_' in path:
            continue
        model = Config.fromfile(path).get('model')
        if isinstance(model, dict) and model.get('type') in CLASSIFIERS:
            found.setdefault(model['type'], path)
    return found


def _config(name: str, configs: dict) -> Config:
    if name in configs:
        cfg = Config.fromfile(configs[name])
        # demo configs may start from the demo CLIP (data/demo/
        # clip_tiny_demo.pth), which the test's demo lacks: random weights
        if isinstance(cfg.model.get('backbone'), dict):
            cfg.model.backbone.pretrained = None
        return cfg
    cfg = Config.fromfile(BASE_CONFIG)
    cfg.model = dict(type=name, backbone=cfg.model.backbone)
    return cfg


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('agree') / 'demo')
    # every modality: cross-modal demo configs draw depth / IR shots
    make_demo_dataset(root, num_subjects=3, frames_per_video=1, seed=2,
                      num_workers=0, modalities=('rgb', 'depth', 'ir'))
    return dict(root=root, configs=_tiny_configs())


def test_the_methods_are_found():
    assert {'FLIPV', 'FLIPIT', 'FLIPMCL'} <= set(CLASSIFIERS)


@pytest.mark.parametrize('name', CLASSIFIERS)
def test_predict_metric_and_inference_agree(name, demo, tmp_path,
                                            monkeypatch):
    # cross-modal demo configs: 1 shot per class fits the small demo
    monkeypatch.setenv('KSHOT', '1')
    torch.manual_seed(0)
    model = init_model(_config(name, demo['configs']))
    assert model.score_kind in score_rule.SCORE_KINDS
    ds_cfg = model.cfg.test_dataloader.dataset.datasets[-1].copy()
    ds_cfg['data_root'] = demo['root']
    dataset = DATASETS.build(ds_cfg)
    assert len(dataset) >= NUM
    items = [dataset[i] for i in range(NUM)]
    infos = [dataset.get_data_info(i) for i in range(NUM)]

    # a threshold that splits the samples: both decisions occur
    with torch.no_grad():
        probe = model.test_step(pseudo_collate(items))
    scores = sorted(float(s.live_score) for s in probe)
    thr = (scores[NUM // 2 - 1] + scores[NUM // 2]) / 2
    model.set_decision_threshold(thr)

    # predict: the score rule applied to the model's own output
    with torch.no_grad():
        data = model.data_preprocessor(pseudo_collate(items), False)
        raw = model.score_output(model._plain_view(data['inputs']))
        samples = model.test_step(pseudo_collate(items))
    rule = score_rule.live_score(raw, model.score_kind, model.distance_scale)
    live = torch.stack([s.live_score for s in samples])
    assert torch.allclose(live, rule, atol=1e-6)
    for s in samples:
        assert 0.0 <= float(s.live_score) <= 1.0
        assert torch.allclose(s.pred_score,
                              torch.stack([1 - s.live_score, s.live_score]))
        assert int(s.pred_label) == int(float(s.live_score) >= thr)
    assert len({int(s.pred_label) for s in samples}) == 2

    # the metric reads the same scores and decides the same way
    out = str(tmp_path / 'preds.pkl')
    metric = FASMetric(threshold_policy='fixed', threshold=thr,
                       level='frame', out_file_path=out)
    metric.process(None, [s.to_dict() for s in samples])
    assert [r['score'] for r in metric.results] == pytest.approx(
        live.tolist(), abs=0)
    metric.compute_metrics(metric.results)
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    assert [int(d['pred_label']) for d in dumped] == [
        int(s.pred_label) for s in samples]

    # the inference API: same score, same decision
    got = inference_model(model, [i['img_path'] for i in infos],
                          face_bboxes=[i.get('face_bbox') for i in infos],
                          threshold=thr)
    for r, s in zip(got, samples):
        assert r['live_score'] == pytest.approx(float(s.live_score),
                                                abs=1e-5)
        assert r['pred_label'] == score_rule.class_name(s.pred_label)
        assert r['threshold'] == thr
