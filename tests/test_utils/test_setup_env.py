import datetime

import torch
from mmengine import DefaultScope

from mmfas import registry as R
from mmfas.utils import register_all_modules


def test_register_all_modules_sets_scope():
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mmfas'
    DefaultScope.get_instance(f'other-{datetime.datetime.now()}',
                              scope_name='mmpretrain')
    register_all_modules()
    assert DefaultScope.get_current_instance().scope_name == 'mmfas'


def test_each_node_builds_mmfas_mmpretrain_and_mmengine_members(tmp_path):
    register_all_modules()
    # mmfas members
    assert type(R.MODELS.build(dict(type='FASDataPreprocessor'))).__name__ \
        == 'FASDataPreprocessor'
    assert type(R.METRICS.build(dict(type='FASMetric'))).__name__ == \
        'FASMetric'
    assert R.TRANSFORMS.build(dict(type='PackFASInputs')) is not None
    assert R.HOOKS.build(dict(type='CheckpointHook')) is not None
    # mmpretrain members by bare name
    assert R.MODELS.build(dict(type='LinearClsHead', num_classes=2,
                               in_channels=4)) is not None
    assert R.TRANSFORMS.build(dict(type='RandomResizedCrop', scale=8))
    assert R.VISUALIZERS.get('UniversalVisualizer') is not None
    # mmengine members by bare name, through every remaining node
    p = [torch.nn.Parameter(torch.zeros(1))]
    opt = R.OPTIMIZERS.build(dict(type='Adam', params=p, lr=0.1))
    wrapper = R.OPTIM_WRAPPERS.build(dict(type='OptimWrapper', optimizer=opt))
    assert R.PARAM_SCHEDULERS.build(
        dict(type='ConstantLR', optimizer=wrapper)) is not None
    assert R.OPTIM_WRAPPER_CONSTRUCTORS.get(
        'DefaultOptimWrapperConstructor') is not None
    assert R.DATA_SAMPLERS.build(dict(type='DefaultSampler',
                                      dataset=list(range(4)),
                                      shuffle=False)) is not None
    assert R.DATASETS.get('ConcatDataset') is not None
    assert R.LOOPS.get('IterBasedTrainLoop') is not None
    assert R.LOG_PROCESSORS.build(dict(type='LogProcessor')) is not None
    assert R.VISBACKENDS.build(dict(type='LocalVisBackend',
                                    save_dir=str(tmp_path))) is not None
    assert R.MODEL_WRAPPERS.get('MMDistributedDataParallel') is not None
    assert R.RUNNERS.get('Runner') is not None
    assert R.EVALUATORS.get('Evaluator') is not None
    assert R.WEIGHT_INITIALIZERS.get('Normal') is not None
    assert R.BATCH_AUGMENTS.get('Mixup') is not None


def test_every_node_is_a_child_of_mmpretrains_node():
    from mmpretrain import registry as P
    for name in R.__all__:
        node = getattr(R, name)
        assert node.parent is getattr(P, name), name
        assert node.scope == 'mmfas', name
