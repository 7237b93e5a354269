"""Write the protocol lists from the converters' all.jsonl files.

Usage: python tools/dataset_converters/make_protocols.py OUT [options];
see docs/data_preparation.md. The work is done by
mmfas.datasets.converters.protocols.
"""
import sys

from mmfas.datasets.converters.common import cli_entry
from mmfas.datasets.converters.protocols import main

if __name__ == '__main__':
    sys.exit(cli_entry(main))
