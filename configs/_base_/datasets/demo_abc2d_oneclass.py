# Synthetic demo, one-class (SLIP's task): leave-one-domain-out ABC->D with
# live-only sources.
# Train: the live frames of DemoA-C's train split (no attack is ever seen).
# Val: the live frames of DemoA-C's dev split; the 'val' threshold policy
#   puts the threshold at BPCER = 5 % of it (an EER needs both classes).
# Test: val + DemoD's test split, live and every attack kind, including the
#   partial occlusions at named regions (attack type 'partial') that
#   tools/misc/make_demo_data.py draws.
_base_ = ['./fas_pipelines.py']

data_root = 'data/demo'
num_train_domains = 3
classes_per_domain = 1
samples_per_group = 3  # per domain per batch
sources = ['DemoA', 'DemoB', 'DemoC']
target = 'DemoD'

train_dataloader = dict(
    batch_size=samples_per_group * classes_per_domain * num_train_domains,
    num_workers=2,
    sampler=dict(type='DomainClassBalancedSampler',
                 samples_per_group=samples_per_group),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file=[f'{d}/annotations/all.jsonl' for d in sources],
        split='train',
        label='live',
        pipeline={{_base_.train_pipeline}}))

source_val = dict(
    type='FASDataset',
    data_root=data_root,
    ann_file=[f'{d}/annotations/all.jsonl' for d in sources],
    split='dev',
    label='live',
    eval_role='val',
    pipeline={{_base_.test_pipeline}})
target_test = dict(
    type='FASDataset',
    data_root=data_root,
    # partial occlusions have their own file (all.jsonl: live, print,
    # replay, mask)
    ann_file=[f'{target}/annotations/all.jsonl',
              f'{target}/annotations/partial.jsonl'],
    split='test',
    eval_role='test',
    pipeline={{_base_.test_pipeline}})

val_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=source_val)
test_dataloader = dict(
    batch_size=64,
    num_workers=2,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[source_val, target_test]))

val_evaluator = dict(type='FASMetric', threshold_policy='val',
                     val_target=dict(type='bpcer', value=0.05))
test_evaluator = dict(type='FASMetric', threshold_policy='val',
                      val_target=dict(type='bpcer', value=0.05))
