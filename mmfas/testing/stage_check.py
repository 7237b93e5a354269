"""A Runner hook that checks stage isolation during staged training.

Test helper: add ``custom_imports=dict(imports=['mmfas.testing.stage_check'])``
and ``custom_hooks=[dict(type='StageIsolationCheckHook')]`` to a staged config.
"""
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfas.engine.optimizers.staged_constructor import stage_parameters
from mmfas.registry import HOOKS

__all__ = ['StageIsolationCheckHook']


@HOOKS.register_module()
class StageIsolationCheckHook(Hook):
    """After every stage's update, check that every parameter of the other
    stages is bit-identical to its value before the stage and has
    ``grad is None``; raise ``AssertionError`` naming the parameter
    otherwise. After training, log ``stage isolation checked: N stage
    steps``."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.checks = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        names = {id(p): n for n, p in model.named_parameters()}
        owned = stage_parameters(runner.optim_wrapper)
        for stage, wrapper in runner.optim_wrapper.items():
            others = [p for name, ps in owned.items() if name != stage
                      for p in ps]
            wrapper.update_params = self._checked(
                wrapper.update_params, stage, others, names)

    def _checked(self, update_params, stage, others, names):

        def update(*args, **kwargs):
            before = [p.detach().clone() for p in others]
            update_params(*args, **kwargs)
            for p, old in zip(others, before):
                if p.grad is not None:
                    raise AssertionError(
                        f'stage "{stage}" left a gradient on '
                        f'"{names[id(p)]}" of another stage')
                if not torch.equal(p.detach(), old):
                    raise AssertionError(
                        f'stage "{stage}" changed "{names[id(p)]}" of '
                        'another stage')
            self.checks += 1

        return update

    def after_train(self, runner) -> None:
        runner.logger.info(
            f'stage isolation checked: {self.checks} stage steps')
