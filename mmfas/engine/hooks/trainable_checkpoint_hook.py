from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmfas.registry import HOOKS


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class TrainableCheckpointHook(Hook):
    """Save only the trained parameters of a (mostly) frozen model.

    A full ViT-B/16 CLIP checkpoint is ~600 MB; a prompt-learning method
    trains a few MB of it. Before each save, parameters with
    ``requires_grad=False`` are dropped from ``state_dict`` (buffers are
    kept) and their names are listed in ``meta['frozen_keys_dropped']``; at
    load time the model is built with its pretrained CLIP and the checkpoint
    fills in the trained part. On resume the hook checks that exactly the
    dropped keys are the ones the checkpoint lacks.

    Use it in configs as ``custom_hooks = [dict(type='TrainableCheckpointHook')]``.
    """

    priority = 'VERY_LOW'

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        model = _unwrap(runner.model)
        frozen = {n for n, p in model.named_parameters()
                  if not p.requires_grad}
        if not frozen:
            return
        state = checkpoint['state_dict']
        dropped = sorted(k for k in state if k in frozen)
        for k in dropped:
            del state[k]
        checkpoint.setdefault('meta', {})['frozen_keys_dropped'] = dropped

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        dropped = set(checkpoint.get('meta', {}).get('frozen_keys_dropped',
                                                    ()))
        if not dropped:
            return
        model = _unwrap(runner.model)
        names = {n for n, _ in model.named_parameters()}
        missing = names - set(checkpoint['state_dict'])
        if missing != dropped & names:
            extra = sorted(missing - dropped)[:10]
            raise RuntimeError(
                'TrainableCheckpointHook: the checkpoint lacks parameters '
                f'that were not frozen when it was saved, e.g. {extra}; the '
                'model config differs from the one that saved it')
