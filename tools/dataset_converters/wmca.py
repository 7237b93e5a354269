"""Convert WMCA to face crops + annotations (see docs/data_preparation.md).

Usage: python tools/dataset_converters/wmca.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.wmca.
"""
from mmfas.datasets.converters.wmca import main

if __name__ == '__main__':
    main()
