"""Inputs through the real Runner path (tools/train.py, the dataloader's
collate, the data preprocessor): every multi-view model trains on the views
its pipeline makes, and the cross-modal demo (RGB sources + K depth shots ->
depth target) trains and reports per-modality metrics."""
import glob
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmfas.datasets.demo_data import make_demo_dataset
from mmfas.models.classifiers import BaseFASClassifier
from mmfas.models.data_preprocessors import pipeline_num_views
from mmfas.registry import MODELS
from mmfas.utils import register_all_modules

register_all_modules()
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _multi_view_models():
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type)
                  and issubclass(cls, BaseFASClassifier)
                  and cls.num_views > 1)


def _tiny_demo_configs(model_type):
    """The demo configs (tiny CLIP, synthetic data) of a model type."""
    found = []
    for path in sorted(glob.glob(osp.join(REPO, 'configs', '*',
                                          '*_tiny_demo*.py'))):
        if Config.fromfile(path).model.get('type') == model_type:
            found.append(path)
    return found


@pytest.fixture(scope='module')
def demo_cwd(tmp_path_factory):
    root = tmp_path_factory.mktemp('views_modalities')
    make_demo_dataset(str(root / 'data' / 'demo'), num_subjects=10,
                      frames_per_video=1, seed=0,
                      modalities=('rgb', 'depth', 'ir'))
    return root


def _train(cwd, config, work_dir, *options, test=False):
    args = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config,
            '--work-dir', str(work_dir)]
    args += ['--test'] if test else ['--no-validate']
    args += ['--cfg-options', 'train_dataloader.num_workers=0',
             'default_hooks.logger.interval=1', 'randomness.seed=0',
             *options]
    if test:
        args += ['val_dataloader.num_workers=0',
                 'test_dataloader.num_workers=0']
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:]
    return out


def test_multi_view_models_are_known():
    # FLIP-MCL at least; a new multi-view model is picked up by the test
    # below and must come with a tiny demo config
    assert 'FLIPMCL' in _multi_view_models()


@pytest.mark.parametrize('model_type', _multi_view_models())
def test_multi_view_model_trains_through_the_runner(demo_cwd, model_type):
    """Every registered multi-view model: its demo config's pipeline makes
    the model's ``num_views`` views, and 2 iterations run through
    tools/train.py with mmengine's collate and the data preprocessor."""
    configs = _tiny_demo_configs(model_type)
    assert configs, (f'{model_type} (num_views > 1) has no '
                     'configs/*/*_tiny_demo*.py to test it through the Runner')
    cls = MODELS.get(model_type)
    for config in configs:
        cfg = Config.fromfile(config)
        assert pipeline_num_views(
            cfg.train_dataloader.dataset.pipeline) == cls.num_views, config
        work = demo_cwd / osp.basename(config)[:-3]
        out = _train(demo_cwd, config, work, 'train_cfg.max_iters=2')
        assert (work / 'iter_2.pth').is_file()
        assert re.search(r'Iter\(train\) \[2/2\].*loss', out), out[-3000:]


def test_crossmodal_demo_trains_and_reports_per_modality(demo_cwd):
    """RGB of DemoA-C + 5 depth shots per class of DemoD -> DemoD depth:
    balanced per (domain, modality, class), trains, and the test reports
    per-modality metrics."""
    config = osp.join(REPO, 'configs', 'flip',
                      'flip-it_tiny_demo_rgb2depth.py')
    work = demo_cwd / 'rgb2depth'
    out = _train(demo_cwd, config, work, 'train_cfg.max_iters=3',
                 'train_cfg.val_interval=3',
                 'default_hooks.checkpoint.interval=3', test=True)
    # 3 sources x 2 classes in RGB + DemoD's 5 live / 5 spoof depth shots
    assert "'DemoD/depth/live': 5" in out and \
        "'DemoD/depth/spoof': 5" in out and "'DemoA/rgb/live'" in out
    assert 'loss_ce' in out and (work / 'iter_3.pth').is_file()
    for key in ('fas/depth/AUC', 'fas/depth/HTER', 'fas/rgb/AUC',
                'fas/AUC'):
        assert re.search(re.escape(key) + r': \d', out), key
    # the depth target: DemoD's test split (3 test subjects x 2 live, 3
    # attack videos), its threshold from the sources' RGB validation split
    assert re.search(r'fas/depth/num_live: 6\b', out)
    assert re.search(r'fas/depth/num_spoof: 9\b', out)


def test_crossmodal_demo_configs_build(demo_cwd):
    """Both demo cross-modal dataset bases select what their name says."""
    from mmfas.registry import DATASETS
    for mod in ('depth', 'ir'):
        cfg = Config.fromfile(osp.join(
            REPO, 'configs', '_base_', 'datasets',
            f'demo_abc2d_rgb2{mod}.py'))
        cfg.train_dataloader.dataset.data_root = str(demo_cwd / 'data' /
                                                     'demo')
        train = DATASETS.build(cfg.train_dataloader.dataset)
        assert train.item_modalities == sorted(['rgb', mod])
        shots = {train.get_data_info(i)['video_id'] for i in range(len(train))
                 if train.get_data_info(i)['modality'] == mod}
        assert set(train.kshot_videos) == shots and len(shots) == 10
        target = dict(cfg.test_dataloader.dataset.datasets[1])
        target['data_root'] = str(demo_cwd / 'data' / 'demo')
        test = DATASETS.build(target)
        assert test.item_modalities == [mod]
        assert set(test.kshot_videos) == shots
        assert not shots & {test.get_data_info(i)['video_id']
                            for i in range(len(test))}
