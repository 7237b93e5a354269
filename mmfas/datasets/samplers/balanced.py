import math
from typing import Iterator, Optional, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from mmengine.logging import MMLogger
from torch.utils.data import Sampler

from mmfas.registry import DATA_SAMPLERS


@DATA_SAMPLERS.register_module()
class DomainClassBalancedSampler(Sampler):
    """Yield indices so that every batch holds ``samples_per_group`` samples
    of each (domain, class) group, as FLIP / SSDG train.

    With G groups, set ``batch_size = samples_per_group * G`` (e.g. 3 source
    domains x 2 classes x 3 = 18); the sampler checks this when given
    ``batch_size``. Each group is cycled through its own reshuffled
    permutation, so small groups repeat and large ones are not truncated
    forever. In distributed runs every rank draws its own balanced stream.

    The dataset must provide ``get_group_ids()`` (:class:`FASDataset` does).

    Args:
        dataset (Sized): The dataset.
        samples_per_group (int): Samples of each group per batch.
            Defaults to 3.
        batch_size (int, optional): The dataloader's batch size, checked
            against ``samples_per_group * num_groups``. Defaults to None.
        seed (int, optional): Defaults to a seed synced across ranks.
        round_up (bool): Epoch length (per rank) rounded up to whole batches.
            Defaults to True.
    """

    def __init__(self, dataset: Sized, samples_per_group: int = 3,
                 batch_size: Optional[int] = None,
                 seed: Optional[int] = None, round_up: bool = True):
        if not hasattr(dataset, 'get_group_ids'):
            raise TypeError(f'{type(dataset).__name__} has no get_group_ids();'
                            ' DomainClassBalancedSampler needs FASDataset')
        if samples_per_group < 1:
            raise ValueError('samples_per_group must be >= 1')
        rank, world_size = get_dist_info()
        self.rank, self.world_size = rank, world_size
        self.dataset = dataset
        self.samples_per_group = samples_per_group
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        group_ids = np.asarray(dataset.get_group_ids())
        self.groups = [np.flatnonzero(group_ids == g)
                       for g in np.unique(group_ids)]
        self.group_keys = np.unique(group_ids).tolist()
        self.num_groups = len(self.groups)
        self.batch = samples_per_group * self.num_groups
        if batch_size is not None and batch_size != self.batch:
            raise ValueError(
                f'DomainClassBalancedSampler: batch_size={batch_size} but '
                f'{self.num_groups} (domain, class) groups x '
                f'samples_per_group={samples_per_group} = {self.batch}; '
                'set train_dataloader.batch_size accordingly')
        per_rank = len(dataset) / world_size
        n_batches = math.ceil(per_rank / self.batch) if round_up else \
            max(1, int(per_rank // self.batch))
        self.num_samples = n_batches * self.batch
        names = getattr(dataset, 'domain_names', None)
        # FASDataset names its groups (they include the modality when the
        # items have several)
        namer = getattr(dataset, 'group_name', None) or (
            lambda k: self._group_name(k, names))
        sizes = {namer(k): len(g)
                 for k, g in zip(self.group_keys, self.groups)}
        MMLogger.get_current_instance().info(
            f'DomainClassBalancedSampler: {self.num_groups} groups '
            f'{sizes}, {samples_per_group} per group per batch')

    @staticmethod
    def _group_name(key, names):
        domain, label = divmod(int(key), 2)
        d = names[domain] if names else domain
        return f'{d}/{"live" if label else "spoof"}'

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch * 1000003 + self.rank)
        streams = []
        n_batches = self.num_samples // self.batch
        need = n_batches * self.samples_per_group
        for idxs in self.groups:
            reps = math.ceil(need / len(idxs))
            perm = torch.cat([torch.randperm(len(idxs), generator=g)
                              for _ in range(reps)])[:need]
            streams.append(idxs[perm.numpy()])
        # (groups, batches, k) -> (batches, groups, k) -> flat
        order = np.stack(streams).reshape(self.num_groups, n_batches,
                                          self.samples_per_group)
        order = order.transpose(1, 0, 2).reshape(-1)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
