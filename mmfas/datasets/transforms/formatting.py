import torch
from mmpretrain.datasets.transforms import PackInputs

from mmfas.registry import TRANSFORMS

FAS_META_KEYS = ('sample_idx', 'img_path', 'ori_shape', 'img_shape',
                 'flip', 'video_id', 'subject_id', 'attack_type', 'domain',
                 'split', 'eval_role', 'modality', 'frame')
FAS_ALGORITHM_KEYS = ('domain_label', 'modality_label')


@TRANSFORMS.register_module()
class PackFASInputs(PackInputs):
    """Pack a FAS sample: the image(s) and a ``DataSample`` carrying label,
    domain, video, attack type and evaluation role.

    ``inputs`` is the ``img`` tensor (3 * M, H, W) — M paired modalities
    stacked along channels by :class:`LoadFASImages` — or a list of such
    tensors for multi-view pipelines (``MultiView``; the layout is defined in
    :mod:`mmfas.models.data_preprocessors.multi_view`).

    ``domain_label`` and ``modality_label`` become 1-element tensors (so the
    model can index per-sample domains and modalities); the other fields ride
    along as metainfo and reach the metric, among them ``modality``: the
    sample's modality (``'rgb'``, ``'depth'``, ``'ir'``), or ``'paired'``
    for stacked modalities (set by :class:`~mmfas.datasets.FASDataset`).

    Args:
        algorithm_keys (tuple[str]): Defaults to ``FAS_ALGORITHM_KEYS``.
        meta_keys (tuple[str]): Defaults to ``FAS_META_KEYS``.
    """

    def __init__(self, algorithm_keys=FAS_ALGORITHM_KEYS,
                 meta_keys=FAS_META_KEYS):
        super().__init__('img', algorithm_keys, meta_keys)

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError(f'PackFASInputs: no "img" in the sample '
                           f'{results.get("img_path")}')
        for key in FAS_ALGORITHM_KEYS:
            if key in results and not isinstance(results[key], torch.Tensor):
                results[key] = torch.tensor([int(results[key])])
        return super().transform(results)
