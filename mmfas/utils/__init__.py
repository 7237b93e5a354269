from .checkpoint import (SAFE_GLOBALS, UnsafeCheckpointError,
                         install_safe_checkpoint_loading, safe_torch_load)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'safe_torch_load', 'UnsafeCheckpointError',
    'install_safe_checkpoint_loading', 'SAFE_GLOBALS'
]
from .dist import prepare_launcher  # noqa: E402

__all__ += ['prepare_launcher']
from .config import (StaleConfigVariableError,  # noqa: E402
                     check_config_overrides, enable_auto_scale_lr,
                     fix_dataloader_cfg, load_config,
                     merge_data_preprocessor, set_amp, set_work_dir)

__all__ += [
    'fix_dataloader_cfg', 'set_amp', 'set_work_dir', 'load_config',
    'check_config_overrides', 'merge_data_preprocessor',
    'enable_auto_scale_lr', 'StaleConfigVariableError'
]
