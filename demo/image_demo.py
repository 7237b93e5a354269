"""Liveness of the faces in photos.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE [IMAGE ...]
        [--out-dir DIR] [--detector auto|haar|mtcnn|none] [--threshold T]
        [--show-maps] [--device cpu]

Every face of every image (a directory stands for the images in it) is
found by the dataset converters' detector (``auto``: MTCNN when
facenet-pytorch is installed, else OpenCV's Haar cascade; ``none``: the
image already is a face crop), cropped as the training pipeline crops a
face box and scored by :func:`mmfas.apis.inference_model`
(``detect_faces=True``). A table lists file, face box, live score and
decision (live iff score >= threshold) with the threshold and where it
comes from: the checkpoint (a deployment checkpoint of
``tools/misc/export_deploy_checkpoint.py``), ``--threshold``, or the
uncalibrated default 0.5. Annotated images (green box: live, red: spoof)
and ``results.json`` go to ``--out-dir``. ``--show-maps`` also writes, per
face, the model's map over the crop (SLIP's spoof cue map).
"""
import argparse
import json
import os
import os.path as osp
import sys

import cv2
from mmengine.config import DictAction

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
SOURCES = {
    'checkpoint': "checkpoint meta['fas_threshold']",
    'argument': '--threshold',
    'default': 'uncalibrated default',
}
SHORT_SOURCES = dict(SOURCES, checkpoint='checkpoint')


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Detect faces in images and score their liveness')
    p.add_argument('config', help='model config file')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('images', nargs='+', metavar='IMAGE',
                   help='image files or directories of images')
    p.add_argument('--out-dir', default='work_dirs/image_demo',
                   help='where the annotated images and results.json go '
                   '(default: %(default)s)')
    p.add_argument('--detector', default='auto',
                   choices=['auto', 'haar', 'mtcnn', 'none'],
                   help='face detector (auto: MTCNN if facenet-pytorch is '
                   'installed, else Haar; none: the images are face crops)')
    p.add_argument('--threshold', type=float, default=None,
                   help='decision threshold when the checkpoint has none')
    p.add_argument('--show-maps', action='store_true',
                   help="also write each face's map (SLIP spoof cue map) "
                   'over its crop')
    p.add_argument('--device', default='cpu', help='torch device')
    p.add_argument('--batch-size', type=int, default=16)
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value')
    return p.parse_args(argv)


def list_images(items):
    """Files as given; directories expand to their image files (sorted)."""
    out = []
    for item in items:
        if osp.isdir(item):
            files = sorted(
                osp.join(item, f) for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTS))
            if not files:
                raise FileNotFoundError(f'no images ({", ".join(IMAGE_EXTS)})'
                                        f' in the directory {item}')
            out += files
        elif osp.isfile(item):
            out.append(item)
        else:
            raise FileNotFoundError(f'image not found: {item}')
    return out


def _out_names(paths):
    """A distinct output stem per input image: its file name, prefixed by
    its folder's name when several inputs share a file name (video frames
    0000.jpg, ...)."""
    stems = [osp.splitext(osp.basename(p))[0] for p in paths]
    names = [
        f'{osp.basename(osp.dirname(osp.abspath(p)))}_{s}'
        if stems.count(s) > 1 else s for p, s in zip(paths, stems)
    ]
    seen, out = {}, []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f'{n}_{k}')
    return out


def _fmt_box(box):
    return '[' + ', '.join(f'{v:.0f}' for v in box) + ']'


def format_table(rows):
    """The result table (a list of lines)."""
    head = ('file', 'face', 'box [x1, y1, x2, y2]', 'live score',
            'decision', 'threshold (source)')
    body = []
    for r in rows:
        if r['face'] is None:
            body.append((r['file'], '-', 'no face detected', '-', '-', '-'))
            continue
        src = SOURCES.get(r['threshold_source'], r['threshold_source'])
        body.append((r['file'], str(r['face']), _fmt_box(r['bbox']),
                     f"{r['live_score']:.4f}", r['pred_label'],
                     f"{r['threshold']:.4g} ({src})"))
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    line = '  '.join(h.ljust(w) for h, w in zip(head, widths))
    lines = [line, '-' * len(line)]
    lines += ['  '.join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return lines


def run(args):
    from mmfas.apis import inference_model, init_model
    from mmfas.apis.inference import get_face_detector, resolve_threshold
    from mmfas.visualization import draw_faces, map_overlay

    paths = list_images(args.images)
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    # the checkpoint's threshold, else --threshold, else the default
    thr, source = resolve_threshold(model, args.threshold)
    os.makedirs(args.out_dir, exist_ok=True)
    detect = args.detector != 'none'
    kwargs = dict(threshold=args.threshold, batch_size=args.batch_size,
                  return_maps=args.show_maps)
    if detect:
        # MTCNN runs on --device too (Haar ignores it)
        detector = get_face_detector(dict(type=args.detector,
                                          device=args.device))
        results = inference_model(model, paths, detect_faces=True,
                                  detector=detector, **kwargs)
    else:  # the images are face crops: the box is the whole image
        results = []
        for p, r in zip(paths, inference_model(model, paths, **kwargs)):
            h, w = cv2.imread(p).shape[:2]
            results.append(dict(faces=[dict(r, bbox=[0.0, 0.0, float(w),
                                                     float(h)],
                                            det_score=None)],
                                image_shape=(h, w), detector='none'))
    rows, written = [], []
    for path, stem, res in zip(paths, _out_names(paths), results):
        faces = res['faces']
        if not faces:
            rows.append(dict(file=path, face=None))
        for k, f in enumerate(faces):
            rows.append(dict(file=path, face=k, bbox=f['bbox'],
                             det_score=f['det_score'],
                             live_score=f['live_score'],
                             pred_label=f['pred_label'],
                             threshold=f['threshold'],
                             threshold_source=f['threshold_source']))
            if args.show_maps:
                name = osp.join(args.out_dir, f'{stem}_face{k}_map.png')
                cv2.imwrite(name, map_overlay(
                    f['crop'], f['map'],
                    title=f'{type(model).__name__} spoof cue map'))
                written.append(name)
        header = (f'threshold {thr:.4g} ({SHORT_SOURCES.get(source, source)})'
                  f', detector {res["detector"]}')
        img = cv2.imread(path)
        out = osp.join(args.out_dir, f'{stem}.png')
        if not cv2.imwrite(out, draw_faces(img, faces, header=header)):
            raise IOError(f'cannot write {out}')
        written.append(out)
    for line in format_table(rows):
        print(line)
    with open(osp.join(args.out_dir, 'results.json'), 'w') as f:
        json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                       detector=results[0]['detector'] if results else None,
                       faces=rows), f, indent=1)
    n_faces = sum(r['face'] is not None for r in rows)
    print(f'{len(paths)} images, {n_faces} faces; annotated images in '
          f'{args.out_dir}')
    return rows, written


def main(argv=None):
    return run(parse_args(argv))


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError, ImportError) as e:
        sys.exit(f'image_demo: {e}')
