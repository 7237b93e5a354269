# Base of the cross-dataset protocol configs (ocim_*, limited_*, wcs_*): each
# child names the lists of one protocol, written by
# tools/dataset_converters/make_protocols.py under data/fas/protocols/<name>/:
#   train.jsonl  training records of the sources (+ k-shot target videos)
#   val.jsonl    source validation split (checkpoint selection)
#   eval.jsonl   val + target test, each record tagged eval_role 'val' /
#                'test': FASMetric's 'val' policy takes the threshold on the
#                first and applies it to the second.
_base_ = ['./fas_pipelines.py']

data_root = 'data/fas'

train_dataloader = dict(
    batch_size=18,  # children: 3 x classes_per_domain x num_train_domains
    num_workers=4,
    sampler=dict(type='DomainClassBalancedSampler', samples_per_group=3),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file='protocols/PROTOCOL/train.jsonl',
        pipeline={{_base_.train_pipeline}}))

val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file='protocols/PROTOCOL/val.jsonl',
        eval_role='val',
        pipeline={{_base_.test_pipeline}}))

test_dataloader = dict(
    batch_size=32,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='FASDataset',
        data_root=data_root,
        ann_file='protocols/PROTOCOL/eval.jsonl',
        pipeline={{_base_.test_pipeline}}))

val_evaluator = dict(type='FASMetric', threshold_policy='val')
test_evaluator = dict(type='FASMetric', threshold_policy='val')
