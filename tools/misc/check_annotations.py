"""Validate annotation files; print every problem as ``file:line: message``.

    python tools/misc/check_annotations.py \
        data/fas/OULU/annotations/all.jsonl --data-root data/fas \
        [--decode] [--no-check-files]

Checks the fields of every record (see ``mmfas/datasets/annotation.py``),
that every image exists and every ``bbox`` overlaps its image (the image
headers are read), and with ``--decode`` that every image decodes completely
(a truncated JPEG is found here rather than as a gray block in training).

Image paths are relative to the data root: without ``--data-root`` they are
taken as written (relative to the current folder); when none of them exists
there, the tool says so once, suggests the folder they resolve under, and
checks only the fields.

Exits 1 when any file has a problem, 0 when all are valid.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmfas.datasets.annotation import (MODALITIES, read_annotations,
                                       validate_annotations)


def build_parser():
    p = argparse.ArgumentParser(
        description='Validate mmfas annotation files (JSON Lines); print '
        'every problem as file:line: message.')
    p.add_argument('ann_files', nargs='+', metavar='ANN',
                   help='JSONL annotation files')
    p.add_argument('--data-root', default=None,
                   help='root the image paths are relative to (the data_root '
                   'of the configs, e.g. data/fas or data/demo)')
    p.add_argument('--no-check-files', action='store_true',
                   help='check the fields only: do not look at the images')
    p.add_argument('--decode', action='store_true',
                   help='also decode every image completely (finds '
                   'truncated or corrupt images; slower)')
    p.add_argument('--max-problems', type=int, default=50, metavar='N',
                   help='problems printed per file before a count of the '
                   'rest (default 50; 0 prints all)')
    return p


def _relative_paths(records) -> List[str]:
    return [r[m] for r in records for m in MODALITIES
            if isinstance(r.get(m), str) and r[m] and not osp.isabs(r[m])]


def guess_data_root(ann_file: str, rel_path: str) -> Optional[str]:
    """The nearest folder above ``ann_file`` under which ``rel_path``
    exists (None if none)."""
    d = osp.dirname(osp.abspath(ann_file))
    while True:
        if osp.isfile(osp.join(d, rel_path)):
            return osp.relpath(d)
        parent = osp.dirname(d)
        if parent == d:
            return None
        d = parent


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    check_files = not args.no_check_files
    missing_root = False
    if check_files and args.data_root is None:
        # relative paths that resolve nowhere from here: one message, not one
        # line per image (then only the fields are checked)
        rel, guess = [], None
        for ann in args.ann_files:
            try:
                records, _ = read_annotations(ann, check_files=False)
            except FileNotFoundError:
                continue
            paths = _relative_paths(records)
            rel += paths[:1]
            if paths and any(osp.isfile(p) for p in paths):
                rel = []
                break
            if paths and guess is None:
                guess = guess_data_root(ann, paths[0])
        if rel:
            msg = ('the image paths are relative to a data root and none of '
                   'them exists from the current folder: pass --data-root '
                   'DIR (the folder they are relative to)')
            if guess:
                msg += f'; they resolve under {guess}: --data-root {guess}'
            print(f'error: {msg}. Checking the fields only.')
            check_files, missing_root = False, True
    bad = 0
    for ann in args.ann_files:
        problems = validate_annotations(ann, args.data_root, check_files,
                                        decode=args.decode and check_files)
        if problems:
            bad += 1
            print(f'{ann}: {len(problems)} problem(s)')
            shown = problems if args.max_problems <= 0 else \
                problems[:args.max_problems]
            for p in shown:
                print(f'  {p}')
            if len(shown) < len(problems):
                print(f'  ... and {len(problems) - len(shown)} more')
        else:
            print(f'{ann}: OK')
    return 1 if bad or missing_root else 0


if __name__ == '__main__':
    sys.exit(main())
