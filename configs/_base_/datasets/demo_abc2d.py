# Synthetic demo: leave-one-domain-out ABC->D
# Selects with FASDataset filters over the demo's own annotation files (the
# real protocols read make_protocols' lists instead: fas_protocol.py).
# Reads data/demo/<Domain>/annotations/all.jsonl (written by tools/misc/make_demo_data.py).
# Threshold policy: val (honest): threshold at the EER of the sources' validation split, applied to the target test split.
_base_ = ['./fas_pipelines.py']

data_root = 'data/demo'
num_train_domains = 3
classes_per_domain = 2  # 1 for live-only (one-class) training
samples_per_group = 3  # per (domain, class) per batch
sources = ['DemoA', 'DemoB', 'DemoC']
target = 'DemoD'

train_dataloader = dict(
    batch_size=samples_per_group * classes_per_domain * num_train_domains,
    num_workers=4,
    sampler=dict(type='DomainClassBalancedSampler',
                 samples_per_group=samples_per_group),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file=[f'{d}/annotations/all.jsonl' for d in sources],
        split='train',
        pipeline={{_base_.train_pipeline}}))

# Source-domain validation split: checkpoint selection and the 'val'
# threshold policy.
source_val = dict(
    type='FASDataset',
    data_root=data_root,
    ann_file=[f'{d}/annotations/all.jsonl' for d in sources],
    split='dev',
    eval_role='val',
    pipeline={{_base_.test_pipeline}})
target_test = dict(
    type='FASDataset',
    data_root=data_root,
    ann_file=f'{target}/annotations/all.jsonl',
    split='test',
    eval_role='test',
    pipeline={{_base_.test_pipeline}})

val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=source_val)

test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=[source_val, target_test]))

val_evaluator = dict(type='FASMetric', threshold_policy='val')
test_evaluator = dict(type='FASMetric', threshold_policy='val')
