from .checkpoint import (SAFE_GLOBALS, UnsafeCheckpointError,
                         install_safe_checkpoint_loading, safe_torch_load)
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'safe_torch_load', 'UnsafeCheckpointError',
    'install_safe_checkpoint_loading', 'SAFE_GLOBALS'
]
from .dist import prepare_launcher  # noqa: E402

__all__ += ['prepare_launcher']
from .config import fix_dataloader_cfg, set_amp, set_work_dir  # noqa: E402

__all__ += ['fix_dataloader_cfg', 'set_amp', 'set_work_dir']
