# Example of a new protocol by inheritance (README, "Adding a protocol"):
# OCI->M with 10 live + 10 spoof MSU videos (seed 1) joining training and
# leaving the test set.
_base_ = ['./flip-it_vitb16_oci2m.py']

_kshot = dict(k=10, seed=1, domains=['MSU'], split='test')
train_dataloader = dict(
    batch_size=3 * 2 * 4,
    dataset=dict(
        ann_file=[
            f'{d}/annotations/all.jsonl'
            for d in ['OULU', 'CASIA', 'REPLAY', 'MSU']
        ],
        kshot=dict(_kshot, keep='selected')))
test_dataloader = dict(
    dataset=dict(datasets=[
        {{_base_.source_val}},
        dict(
            type='FASDataset',
            data_root='data/fas',
            ann_file='MSU/annotations/all.jsonl',
            split='test',
            frames_per_video=2,
            eval_role='test',
            kshot=dict(_kshot, keep='rest'),
            pipeline={{_base_.test_pipeline}}),
    ]))
