"""Convert OULU-NPU to face crops + annotations (see docs/data_preparation.md).

Usage: python tools/dataset_converters/oulu.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.oulu.
"""
from mmfas.datasets.converters.oulu import main

if __name__ == '__main__':
    main()
