"""Print a config as mmfas' tools see it.

    python tools/misc/print_config.py CONFIG [--cfg-options ...]

mmpretrain's ``print_config.py`` prints ``Config.fromfile`` as written; the
config mmfas runs differs in two ways, both applied here: the top-level
variable override check (``mmfas.utils.load_config``: a child or
``--cfg-options`` setting a variable a base already used is an error
naming the fields to set instead) and the data recipe's
``data_preprocessor`` merged into ``model`` (``merge_data_preprocessor``),
which is what the model is built with.
"""
import argparse

from mmengine.config import DictAction


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Print the whole config as mmfas tools load it')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv=None):
    from mmfas.utils import load_config, merge_data_preprocessor
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg = merge_data_preprocessor(cfg)
    print(cfg.pretty_text)
    return cfg


if __name__ == '__main__':
    main()
