"""Convert MSU-MFSD to face crops + annotations (see docs/data_preparation.md).

Usage: python tools/dataset_converters/msu.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.msu.
"""
import sys

from mmfas.datasets.converters.common import cli_entry
from mmfas.datasets.converters.msu import main

if __name__ == '__main__':
    sys.exit(cli_entry(main))
