"""Validate annotation files; print every problem as ``file:line: message``.

    python tools/misc/check_annotations.py data/fas/OULU/annotations/all.jsonl \
        --data-root data/fas [--no-check-files]

Exits 1 when any file has a problem, 0 when all are valid.
"""
import argparse
import sys

from mmfas.datasets.annotation import validate_annotations


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('ann_files', nargs='+', help='JSONL annotation files')
    parser.add_argument('--data-root', default=None,
                        help='root the image paths are relative to')
    parser.add_argument('--no-check-files', action='store_true',
                        help='do not check that the images exist')
    args = parser.parse_args(argv)
    bad = 0
    for ann in args.ann_files:
        problems = validate_annotations(ann, args.data_root,
                                        not args.no_check_files)
        if problems:
            bad += 1
            print(f'{ann}: {len(problems)} problem(s)')
            for p in problems:
                print(f'  {p}')
        else:
            print(f'{ann}: OK')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
