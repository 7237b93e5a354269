# Synthetic demo, cross-modal few-shot (CM-CLIP's task): RGB of DemoA-C +
# 5 IR shots per class of DemoD -> DemoD IR.
# Needs the demo made with every modality:
# python tools/misc/make_demo_data.py --out data/demo --modalities rgb depth ir
# Each image is one sample of one modality (`modality` in its data sample).
# Train: the sources' RGB train split + every frame of 5 live and 5 spoof
#   DemoD videos in IR (seeded, from DemoD's train split), balanced per
#   (domain, modality, class): 3 x 2 RGB groups + 2 IR groups.
# Val: the sources' RGB dev split (honest: no target data beyond the shots).
# Test: val + DemoD's test split in IR (the target) and in RGB;
#   FASMetric reports fas/ir/* (the cross-modal result), fas/rgb/* and
#   the pooled keys; IR takes its threshold from the RGB val split.
# The shots never reach the test set (kshot keep='rest', the same draw).
_base_ = ['./fas_pipelines.py']

data_root = 'data/demo'
samples_per_group = 3  # per (domain, modality, class) per batch
sources = ['DemoA', 'DemoB', 'DemoC']
target = 'DemoD'
target_modality = 'ir'
# the K-shot draw, shared by the training set (keep='selected') and the
# test set (keep='rest'). K (videos per class) and the draw seed come from
# the environment (mmengine's environment-variable substitution), so every
# method's demo config takes the same shots (default: 5 per class, seed 0):
#   KSHOT=1 KSHOT_SEED=0 python tools/train.py CONFIG --test
shots = dict(k={{'$KSHOT:5'}}, seed={{'$KSHOT_SEED:0'}}, domains=[target],
             split='train', modality=target_modality)

train_dataloader = dict(
    batch_size=samples_per_group * 2 * (len(sources) + 1),
    num_workers=4,
    sampler=dict(type='DomainClassBalancedSampler',
                 samples_per_group=samples_per_group),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file=[f'{d}/annotations/all.jsonl' for d in sources + [target]],
        split='train',
        domains=sources,
        modalities='rgb',
        kshot=dict(shots, keep='selected'),
        pipeline={{_base_.train_pipeline}}))

source_val = dict(
    type='FASDataset',
    data_root=data_root,
    ann_file=[f'{d}/annotations/all.jsonl' for d in sources],
    split='dev',
    modalities='rgb',
    eval_role='val',
    pipeline={{_base_.test_pipeline}})
target_test = dict(
    type='FASDataset',
    data_root=data_root,
    ann_file=f'{target}/annotations/all.jsonl',
    split='test',
    modalities=target_modality,
    kshot=dict(shots, keep='rest'),
    eval_role='test',
    pipeline={{_base_.test_pipeline}})
target_rgb_test = dict(target_test, modalities='rgb')

val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=source_val)

test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset',
                 datasets=[source_val, target_test, target_rgb_test]))

val_evaluator = dict(type='FASMetric', threshold_policy='val')
test_evaluator = dict(type='FASMetric', threshold_policy='val')
