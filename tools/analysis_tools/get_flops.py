"""FLOPs and parameters of an mmfas model (mmengine's
``get_model_complexity_info``) for one face crop.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]] \\
        [--show-table] [--show-arch] [--cfg-options ...]

mmpretrain's ``get_flops.py`` builds the model in the ``mmpretrain`` scope
(``mmpretrain.get_model``), where mmfas' models are not registered, and
counts ``extract_feat`` only; this one builds it as every mmfas tool does
(``mmfas.apis.init_model``, the config's scope, the data recipe's
preprocessor) and counts the inference path (``forward(mode='tensor')``:
the output the score rule turns into the liveness score). Text features
that do not depend on the image (FLIP-IT / FLIP-MCL class embeddings,
learned prompt features) are computed once before counting, as inference
caches them, so the numbers are per image. The backbone's ``pretrained``
weights are not loaded (they do not change the count). The input size
defaults to what the config's test pipeline packs.
"""
import argparse

import numpy as np
import torch
from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='FLOPs and parameters of an mmfas model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs='+',
                        help='input size H [W] (default: the test '
                        "pipeline's)")
    parser.add_argument('--show-table', action='store_true',
                        help='print the per-module table')
    parser.add_argument('--show-arch', action='store_true',
                        help='print the model with per-module counts')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def packed_shape(model) -> tuple:
    """``(C, H, W)`` the config's test pipeline packs a face crop into."""
    from mmengine.dataset import Compose
    from mmengine.registry import init_default_scope

    from mmfas.apis import get_test_pipeline_cfg
    init_default_scope(model.cfg.get('default_scope', 'mmfas'))
    steps = get_test_pipeline_cfg(model.cfg)[1:]  # after file loading
    packed = Compose(steps)(
        dict(img=np.zeros((64, 64, 3), np.uint8), img_shape=(64, 64),
             ori_shape=(64, 64), modalities=['rgb'], img_path=None))
    return tuple(packed['inputs'].shape)


def build_model(config: str, cfg_options=None):
    from mmfas.apis import init_model
    from mmfas.utils import load_config
    cfg = load_config(config, cfg_options)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    backbone = cfg.model.get('backbone')
    if isinstance(backbone, dict) and 'pretrained' in backbone:
        backbone['pretrained'] = None
    return init_model(cfg)


def main(argv=None) -> dict:
    from mmengine.analysis import get_model_complexity_info
    args = parse_args(argv)
    model = build_model(args.config, args.cfg_options)
    shape = packed_shape(model)
    if args.shape:
        if len(args.shape) not in (1, 2):
            raise ValueError(f'--shape takes H or H W, got {args.shape}')
        h, w = (args.shape * 2)[:2]
        shape = (shape[0], h, w)
    x = torch.zeros(1, *shape)
    with torch.no_grad():
        model(x)  # image-independent text features: computed and cached
    res = get_model_complexity_info(
        model, inputs=(x, ), show_table=args.show_table,
        show_arch=args.show_arch)
    if args.show_arch:
        print(res['out_arch'])
    if args.show_table:
        print(res['out_table'])
    line = '=' * 30
    print(f'{line}\nInput shape: {shape} (one face crop)\n'
          f'Flops: {res["flops_str"]}\nParams: {res["params_str"]}\n'
          f'Activation: {res["activations_str"]}\n{line}\n'
          f'Counted: {type(model).__name__}.forward(mode="tensor") -> '
          f'{model.score_kind}; image-independent text features are '
          'computed once and not counted per image. Check that every '
          'operator is supported (warnings above) before quoting these.')
    return res


if __name__ == '__main__':
    main()
