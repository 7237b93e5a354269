"""The multi-view layout (mmfas/models/data_preprocessors/multi_view.py):
pipeline -> collate -> data preprocessor -> model, defined once."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import default_collate, pseudo_collate
from mmpretrain.structures import DataSample

from mmfas.models.data_preprocessors import (PLAIN_VIEW, FASDataPreprocessor,
                                             collated_views,
                                             pipeline_num_views, plain_view,
                                             split_views)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _packed(seed, views=3):
    g = torch.Generator().manual_seed(seed)
    return dict(inputs=[torch.randint(0, 255, (3, 8, 8), generator=g,
                                      dtype=torch.uint8)
                        for _ in range(views)],
                data_samples=DataSample().set_gt_label(seed % 2))


def test_pipeline_num_views_of_the_configs():
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets',
                                   'fas_pipelines.py'))
    assert pipeline_num_views(cfg.mcl_train_pipeline) == 3
    assert pipeline_num_views(cfg.train_pipeline) == 1
    assert pipeline_num_views([dict(type='MultiView', num_views=2,
                                    transforms=[[]])]) == 2


def test_both_collates_give_the_same_views():
    samples = [_packed(0), _packed(1)]
    pre = FASDataPreprocessor()
    a = pre(pseudo_collate(samples))['inputs']
    b = pre(default_collate(samples))['inputs']
    assert isinstance(a, list) and len(a) == 3
    for view in range(3):
        assert a[view].shape == (2, 3, 8, 8)
        assert torch.equal(a[view], b[view])
        # view order kept: view v of sample 1 is sample 1's v-th image
        ref = pre(dict(inputs=[samples[1]['inputs'][view]]))['inputs'][0]
        assert torch.equal(a[view][1], ref)
    # single-view batches are not mistaken for views
    one = dict(inputs=samples[0]['inputs'][0],
               data_samples=samples[0]['data_samples'])
    single = pre(pseudo_collate([one, one]))['inputs']
    assert isinstance(single, torch.Tensor) and single.shape == (2, 3, 8, 8)
    assert collated_views([torch.zeros(3, 4, 4)]) is None
    assert collated_views(torch.zeros(2, 3, 4, 4)) is None


def test_plain_and_split_views():
    x = torch.zeros(2, 3, 4, 4)
    views = [x, x + 1, x + 2]
    assert PLAIN_VIEW == 0 and plain_view(views) is x and plain_view(x) is x
    assert split_views(views, 3) == views
    assert split_views(x, 1) is x
    with pytest.raises(ValueError, match='M trains on 3 views per sample, '
                       'got 1: use a MultiView training pipeline'):
        split_views(x, 3, 'M')
    with pytest.raises(ValueError, match='1 view per sample, got 3: use a '
                       'single-view'):
        split_views(views, 1, 'M')
