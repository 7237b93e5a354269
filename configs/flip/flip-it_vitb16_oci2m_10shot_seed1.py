# Example of a new protocol by inheritance (README, "Adding a protocol"):
# OCI->M where 10 live + 10 spoof videos of MSU's train split (seed 1) join
# training; the official MSU test split stays whole.
_base_ = ['./flip-it_vitb16_oci2m.py']

num_train_domains = 4  # OULU, CASIA, REPLAY + the MSU shots
train_dataloader = dict(
    batch_size=3 * 2 * num_train_domains,
    dataset=dict(
        ann_file=[
            'protocols/ocim_clean_OCI2M/train.jsonl',
            'MSU/annotations/all.jsonl'
        ],
        kshot=dict(k=10, seed=1, domains=['MSU'], split='train',
                   keep='selected')))
