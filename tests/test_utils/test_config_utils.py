import pytest
from mmengine.config import Config

from mmfas.utils import fix_dataloader_cfg, prepare_launcher, set_amp


def test_persistent_workers_fixed_for_zero_workers():
    cfg = Config(dict(
        train_dataloader=dict(num_workers=0, persistent_workers=True),
        val_dataloader=dict(num_workers=2),
        test_dataloader=None))
    fix_dataloader_cfg(cfg)
    assert cfg.train_dataloader.persistent_workers is False
    assert cfg.val_dataloader.persistent_workers is True
    fix_dataloader_cfg(cfg, persistent_workers=False, pin_memory=False)
    assert cfg.val_dataloader.persistent_workers is False
    assert cfg.val_dataloader.pin_memory is False


def test_set_amp_cpu():
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    set_amp(cfg)
    assert cfg.optim_wrapper.type == 'BF16AmpOptimWrapper'
    with pytest.raises(KeyError, match='optim_wrapper'):
        set_amp(Config(dict()))


def test_prepare_launcher_cpu(monkeypatch):
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    prepare_launcher(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(RuntimeError, match='RANK'):
        prepare_launcher(cfg, 'pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.device_ids is None


def test_bf16_wrapper_autocasts_on_cpu():
    import torch

    from mmfas.registry import OPTIM_WRAPPERS
    from mmfas.utils import register_all_modules
    register_all_modules()
    model = torch.nn.Linear(4, 2)
    wrapper = OPTIM_WRAPPERS.build(dict(
        type='BF16AmpOptimWrapper',
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    with wrapper.optim_context(model):
        out = model(torch.randn(3, 4))
    assert out.dtype == torch.bfloat16
    wrapper.update_params(out.float().sum())
    assert model.weight.dtype == torch.float32


def test_set_work_dir_precedence():
    from mmfas.utils import set_work_dir
    cfg = Config(dict())
    assert set_work_dir(cfg, None, 'configs/flip/x_demo.py').work_dir == \
        './work_dirs/x_demo'
    cfg = Config(dict(work_dir='from_cfg'))
    assert set_work_dir(cfg, None, 'a.py').work_dir == 'from_cfg'
    assert set_work_dir(cfg, 'cli', 'a.py').work_dir == 'cli'
