"""mmfas registry nodes.

Every node is a child of the mmpretrain node of the same kind (which is itself
a child of mmengine's root), so configs can name mmfas, mmpretrain and mmengine
components by their bare names under ``default_scope='mmfas'``.

A child node does not trigger its parent's lazy imports, so each node lists the
mmpretrain module that fills the parent in ``locations`` as well as ours.
"""
from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain_registry

__all__ = [
    'RUNNERS', 'RUNNER_CONSTRUCTORS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS',
    'OPTIMIZERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
    'MODEL_WRAPPERS', 'WEIGHT_INITIALIZERS', 'BATCH_AUGMENTS', 'TASK_UTILS',
    'METRICS', 'EVALUATORS', 'VISUALIZERS', 'VISBACKENDS'
]


def _node(name: str, parent: Registry, ours: str, upstream: str) -> Registry:
    return Registry(name, parent=parent, locations=[upstream, ours])


_P = mmpretrain_registry

RUNNERS = _node('runner', _P.RUNNERS, 'mmfas.engine', 'mmpretrain.engine')
RUNNER_CONSTRUCTORS = _node('runner constructor', _P.RUNNER_CONSTRUCTORS,
                            'mmfas.engine', 'mmpretrain.engine')
LOOPS = _node('loop', _P.LOOPS, 'mmfas.engine', 'mmpretrain.engine')
HOOKS = _node('hook', _P.HOOKS, 'mmfas.engine', 'mmpretrain.engine')
LOG_PROCESSORS = _node('log processor', _P.LOG_PROCESSORS, 'mmfas.engine',
                       'mmpretrain.engine')
OPTIMIZERS = _node('optimizer', _P.OPTIMIZERS, 'mmfas.engine',
                   'mmpretrain.engine')
OPTIM_WRAPPERS = _node('optim wrapper', _P.OPTIM_WRAPPERS, 'mmfas.engine',
                       'mmpretrain.engine')
OPTIM_WRAPPER_CONSTRUCTORS = _node('optimizer wrapper constructor',
                                   _P.OPTIM_WRAPPER_CONSTRUCTORS,
                                   'mmfas.engine', 'mmpretrain.engine')
PARAM_SCHEDULERS = _node('parameter scheduler', _P.PARAM_SCHEDULERS,
                         'mmfas.engine', 'mmpretrain.engine')
DATASETS = _node('dataset', _P.DATASETS, 'mmfas.datasets',
                 'mmpretrain.datasets')
DATA_SAMPLERS = _node('data sampler', _P.DATA_SAMPLERS, 'mmfas.datasets',
                      'mmpretrain.datasets')
TRANSFORMS = _node('transform', _P.TRANSFORMS, 'mmfas.datasets',
                   'mmpretrain.datasets')
MODELS = _node('model', _P.MODELS, 'mmfas.models', 'mmpretrain.models')
MODEL_WRAPPERS = _node('model_wrapper', _P.MODEL_WRAPPERS, 'mmfas.models',
                       'mmpretrain.models')
WEIGHT_INITIALIZERS = _node('weight initializer', _P.WEIGHT_INITIALIZERS,
                            'mmfas.models', 'mmpretrain.models')
BATCH_AUGMENTS = _node('batch augment', _P.BATCH_AUGMENTS, 'mmfas.models',
                       'mmpretrain.models')
TASK_UTILS = _node('task util', _P.TASK_UTILS, 'mmfas.models',
                   'mmpretrain.models')
METRICS = _node('metric', _P.METRICS, 'mmfas.evaluation',
                'mmpretrain.evaluation')
EVALUATORS = _node('evaluator', _P.EVALUATORS, 'mmfas.evaluation',
                   'mmpretrain.evaluation')
VISUALIZERS = _node('visualizer', _P.VISUALIZERS, 'mmfas.visualization',
                    'mmpretrain.visualization')
VISBACKENDS = _node('vis_backend', _P.VISBACKENDS, 'mmfas.visualization',
                    'mmpretrain.visualization')
