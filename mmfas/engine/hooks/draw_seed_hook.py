"""Per-iteration seeding of a model's own random draws.

Models draw prompts, template subsets, shuffles and dropout masks through
:attr:`BaseFASClassifier.generator` (``draw_rand`` / ``draw_randint`` /
``draw_randperm``). From the global RNG those draws depend on everything
drawn before, so a run resumed at iteration k replays different draws than
an uninterrupted one. :class:`ModelDrawSeedHook` gives the model a fresh
generator before every training iteration, seeded from (run seed,
iteration, rank): the draws of iteration k are the same whether the run was
resumed or not, and differ between ranks (each rank's batch gets its own).
"""
from typing import Optional

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfas.registry import HOOKS

__all__ = ['ModelDrawSeedHook', 'draw_seed']


def draw_seed(seed: int, iteration: int, rank: int = 0) -> int:
    """The generator seed of one (run seed, iteration, rank)."""
    return (int(seed) * 1_000_003 + int(iteration) * 9_973 +
            int(rank) * 7_919) % (2**63 - 1)


@HOOKS.register_module()
class ModelDrawSeedHook(Hook):
    """Reseed the model's draw generator before every training iteration.

    Args:
        seed (int, optional): Base seed. Defaults to None: the run's seed
            (``randomness.seed``, or the seed mmengine drew when unset).
    """

    priority = 'NORMAL'

    def __init__(self, seed: Optional[int] = None):
        self.seed = seed

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not hasattr(model, 'generator'):
            return
        seed = self.seed if self.seed is not None else runner.seed
        g = torch.Generator()
        g.manual_seed(draw_seed(seed, runner.iter, get_rank()))
        model.generator = g

    def after_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if hasattr(model, 'generator'):
            model.generator = None
