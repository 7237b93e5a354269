from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403
from .runner import *  # noqa: F401,F403
from .model_wrappers import StagedDistributedDataParallel  # noqa: F401
from .staged import (is_staged_optim_wrapper_cfg,  # noqa: F401
                     staged_train_step, use_staged_model_wrapper)
