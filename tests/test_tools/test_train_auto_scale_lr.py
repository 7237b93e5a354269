"""``tools/train.py --auto-scale-lr`` on a shipped config: the schedule
base gives the batch size its lr was set for, and the Runner scales the lr by
the actual total batch over it."""
import importlib.util
import os.path as osp
import sys

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmfas.testing import tiny_backbone_cfg
from mmfas.utils import enable_auto_scale_lr, load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _train_module():
    spec = importlib.util.spec_from_file_location(
        'mmfas_train_tool', osp.join(REPO, 'tools', 'train.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_auto_scale_lr_scales_by_the_actual_batch(tmp_path, monkeypatch):
    train = _train_module()
    config = osp.join(REPO, 'configs', 'flip', 'flip-it_tiny_demo.py')
    monkeypatch.setattr(sys, 'argv', [
        'train.py', config, '--auto-scale-lr', '--work-dir',
        str(tmp_path), '--cfg-options', 'train_dataloader.batch_size=36'
    ])
    args = train.parse_args()
    cfg = train.merge_args(load_config(args.config, args.cfg_options), args)
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=18)
    # the Runner's own scaling, on the tiny model
    cfg.model.backbone = tiny_backbone_cfg()
    runner = Runner.from_cfg(cfg)
    wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    base_lr = cfg.optim_wrapper.optimizer.lr
    runner.scale_lr(wrapper, runner.auto_scale_lr)
    assert wrapper.param_groups[0]['lr'] == pytest.approx(base_lr * 36 / 18)


@pytest.mark.parametrize('name', [
    'flip/flip-v_vitb16_icm2o.py', 'flip/flip-it_vitb16_ocm2i_celeba.py',
    'flip/flip-mcl_vitb16_oulu_p1.py'
])
def test_every_schedule_gives_a_base_batch(name):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    enable_auto_scale_lr(cfg)
    assert cfg.auto_scale_lr.enable is True
    assert cfg.auto_scale_lr.base_batch_size == 18  # FLIP's 3 x 2 x 3


def test_auto_scale_lr_without_a_base_batch_names_the_fix(tmp_path):
    path = tmp_path / 'my_config.py'
    path.write_text("optim_wrapper = dict(type='OptimWrapper')\n")
    cfg = Config.fromfile(str(path))
    with pytest.raises(KeyError, match='my_config.py.*base_batch_size'):
        enable_auto_scale_lr(cfg)
