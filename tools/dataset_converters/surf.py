"""Convert CASIA-SURF to face crops + annotations (see
docs/data_preparation.md).

Usage: python tools/dataset_converters/surf.py SRC OUT [options]; --help lists
the options. The work is done by mmfas.datasets.converters.surf.
"""
from mmfas.datasets.converters.surf import main

if __name__ == '__main__':
    main()
