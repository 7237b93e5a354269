"""Every shipped config parses, names registered components, and its
balanced batch matches its (domain, class) groups."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from mmfas.registry import DATASETS, METRICS, MODELS, TRANSFORMS
from mmfas.utils import register_all_modules

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', '*', '*.py')))
CONFIGS = [c for c in CONFIGS if '_base_' not in c]

register_all_modules()


def _datasets(ds):
    if ds.get('type') == 'ConcatDataset':
        return [d for sub in ds.datasets for d in _datasets(sub)]
    return [ds]


@pytest.mark.parametrize('path', CONFIGS,
                         ids=[osp.basename(c) for c in CONFIGS])
def test_config(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmfas'
    assert MODELS.get(cfg.model.type) is not None, cfg.model.type
    assert MODELS.get(cfg.model.backbone.type) is not None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for ds in _datasets(cfg[loader].dataset):
            assert DATASETS.get(ds.type) is not None
            for t in ds.pipeline:
                assert TRANSFORMS.get(t.type) is not None, t.type
                for view in t.get('transforms', []):
                    for tt in view:
                        assert TRANSFORMS.get(tt.type) is not None, tt.type
    for ev in ('val_evaluator', 'test_evaluator'):
        assert METRICS.get(cfg[ev].type) is not None
    test_ds = cfg.test_dataloader.dataset
    if test_ds.type == 'ConcatDataset':
        roles = [d.get('eval_role') for d in _datasets(test_ds)]
        assert roles == ['val', 'test']
    else:  # a protocol's eval.jsonl: records carry their eval_role
        assert test_ds.ann_file == \
            f'protocols/{cfg.protocol}/eval.jsonl'
        assert test_ds.get('eval_role') is None
        assert cfg.val_dataloader.dataset.eval_role == 'val'
    assert cfg.val_evaluator.threshold_policy == 'val'
    legacy = path.endswith('_legacy.py')
    assert cfg.test_evaluator.threshold_policy == ('test_eer' if legacy
                                                   else 'val')
    train = cfg.train_dataloader
    if train.sampler.type == 'DomainClassBalancedSampler':
        assert train.batch_size == train.sampler.samples_per_group * \
            cfg.classes_per_domain * cfg.num_train_domains
    if cfg.model.type == 'FLIPMCL':
        assert train.dataset.pipeline[-2].type == 'MultiView'
