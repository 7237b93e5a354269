"""Convert CASIA-SURF to face crops + annotations (see
docs/data_preparation.md).

Usage: python tools/dataset_converters/surf.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.surf.
"""
import sys

from mmfas.datasets.converters.common import cli_entry
from mmfas.datasets.converters.surf import main

if __name__ == '__main__':
    sys.exit(cli_entry(main))
