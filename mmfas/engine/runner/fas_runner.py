"""``FASRunner``: mmengine's Runner whose ``load_from`` can be strict.

mmengine's Runner loads ``load_from`` with ``strict=False``: a checkpoint of
another model (say FLIP-IT into a FLIP-V config) only logs ``missing keys
... head.*`` and the run goes on with an untrained head. That is what
fine-tuning wants (start from whatever matches), so training keeps it; but
testing or deploying a checkpoint must use exactly the weights it holds.

With ``load_strict=True`` (a top-level config key; ``tools/test.py`` sets
it) the ``load_from`` checkpoint must match the model: a missing or
unexpected key is an error naming the checkpoint and the keys. The one
documented exception is a trainable-only checkpoint
(``save_trainable_only=True`` models): the frozen *pretrained* weights may be
absent, since the model rebuilds them
(:func:`~mmfas.models.utils.enable_trainable_checkpoint`); randomly
initialised frozen weights may not. ``resume`` is mmengine's own.

Example::

    runner = FASRunner.from_cfg(cfg)     # cfg.load_strict = True
    runner.test()
"""
from mmengine.runner import Runner

from mmfas.registry import RUNNERS

__all__ = ['FASRunner']


@RUNNERS.register_module()
class FASRunner(Runner):
    """:class:`mmengine.runner.Runner` with ``load_strict`` (see the module
    docstring).

    Args:
        *args, **kwargs: Those of :class:`mmengine.runner.Runner`.
        load_strict (bool): Load ``load_from`` strictly (not when resuming).
            Defaults to False (mmengine's behaviour); ``from_cfg`` reads the
            config's ``load_strict``.
    """

    def __init__(self, *args, load_strict: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.load_strict = bool(load_strict)

    @classmethod
    def from_cfg(cls, cfg) -> 'FASRunner':
        runner = super().from_cfg(cfg)
        runner.load_strict = bool(cfg.get('load_strict', False))
        return runner

    def load_or_resume(self) -> None:
        if (self._has_loaded or self._resume or self._load_from is None
                or not self.load_strict):
            return super().load_or_resume()
        try:
            self.load_checkpoint(self._load_from, map_location='cpu',
                                 strict=True)
        except RuntimeError as e:
            raise RuntimeError(
                f'checkpoint {self._load_from} does not match the model '
                f'({self.model_name}) built from the config; it is loaded '
                'strictly (load_strict=True, as tools/test.py does), so '
                'every key must match, except the frozen pretrained weights '
                f'a trainable-only checkpoint omits:\n{e}') from e
        self._has_loaded = True
