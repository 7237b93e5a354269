"""mmfas: face anti-spoofing with vision-language models, on OpenMMLab.

Importing the package is cheap and touches no network; the heavy modules
(models, datasets, ...) are imported by :func:`mmfas.utils.register_all_modules`.
"""
from .version import __version__, version_info
from .utils.checkpoint import install_safe_checkpoint_loading

# Make mmengine's checkpoint loading safe (weights_only) and able to reload
# its own checkpoints as soon as mmfas is imported.
install_safe_checkpoint_loading()

__all__ = ['__version__', 'version_info']
