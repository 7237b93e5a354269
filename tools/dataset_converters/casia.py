"""Convert CASIA-FASD to face crops + annotations (see
docs/data_preparation.md).

Usage: python tools/dataset_converters/casia.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.casia.
"""
from mmfas.datasets.converters.casia import main

if __name__ == '__main__':
    main()
