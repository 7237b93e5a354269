"""Zero-shot liveness AUC of the demo's tiny CLIP with FLIP's templates.

No training: the class text features are the per-class means of FLIP's
templates (:class:`~mmfas.models.utils.TemplateBank`'s default, class order
``[spoof, real]``), an image's logits are CLIP's scaled cosine similarities
to them, and its liveness score is the softmax probability of the live
class (:func:`mmfas.structures.live_score`, ``score_kind='logits'``).
Frames go through the test pipeline and data preprocessor of
``configs/_base_/datasets/fas_pipelines.py``; video scores are the mean of
their frames' (:func:`mmfas.evaluation.functional.aggregate_by_video`).

By default it compares the demo CLIP (``tools/misc/pretrain_demo_clip.py``)
with the randomly initialised tiny CLIP it started from (same seed) on the
test split of the held-out domain DemoD, over the classic attacks
(``all.jsonl``: live, print, replay, mask; FLIP's demo test set) and with
the partial-occlusion attacks added, plus the AUC of live against each
attack type alone.

Example::

    python tools/analysis_tools/zero_shot_demo.py
    python tools/analysis_tools/zero_shot_demo.py --domains DemoA DemoB \\
        DemoC --splits dev          # source validation split
"""
import argparse
import importlib.util
import os.path as osp
import sys
from collections import OrderedDict
from typing import Dict, List, Sequence

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _pretrain_module():
    """``tools/misc/pretrain_demo_clip.py`` (model and data recipe)."""
    path = osp.join(REPO, 'tools', 'misc', 'pretrain_demo_clip.py')
    spec = importlib.util.spec_from_file_location('pretrain_demo_clip', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Zero-shot AUC of the tiny demo CLIP with FLIP\'s '
        'templates on a held-out demo domain.')
    p.add_argument('--weights', nargs='+', default=None,
                   help='CLIP state dicts to evaluate, or "random" for the '
                   'randomly initialised tiny CLIP (default: random and '
                   '<data-root>/clip_tiny_demo.pth)')
    p.add_argument('--data-root', default='data/demo',
                   help='the demo data (default: data/demo)')
    p.add_argument('--domains', nargs='+', default=['DemoD'],
                   help='domains to evaluate (default: the held-out DemoD)')
    p.add_argument('--splits', nargs='+', default=['test'],
                   help='splits of those domains (default: test)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the random initialisation (the one '
                   'pretrain_demo_clip.py starts from). Default: 0')
    p.add_argument('--batch-size', type=int, default=64,
                   help='images per forward pass (default: 64)')
    p.add_argument('--threads', type=int, default=2,
                   help='torch CPU threads (default: 2)')
    return p.parse_args(argv)


@torch.no_grad()
def zero_shot_scores(backbone, images: Sequence[torch.Tensor], preprocessor,
                     batch_size: int = 64) -> np.ndarray:
    """Liveness scores of ``images`` (packed uint8 tensors) with FLIP's
    templates."""
    from mmfas.models.utils import TemplateBank
    from mmfas.structures import check_class_order, live_score
    backbone.eval()
    bank = TemplateBank(tokenizer=backbone.tokenize)
    check_class_order(bank.class_names, 'FLIP templates')
    text = bank.class_embeddings(backbone)  # (2, E), normalised
    scale = backbone.logit_scale.exp()
    out = []
    for i in range(0, len(images), batch_size):
        x = preprocessor(dict(inputs=list(images[i:i + batch_size])))
        img = torch.nn.functional.normalize(
            backbone.encode_image(x['inputs']), dim=-1)
        out.append(live_score(scale * img @ text.t(), 'logits'))
    return torch.cat(out).numpy()


def auc_table(scores: np.ndarray, records: List[dict]) -> Dict[str, float]:
    """AUC in percent (live positive) at frame and video level over all
    records, over the classic attacks only, and per attack type (video
    level)."""
    from mmfas.evaluation.functional import aggregate_by_video, roc_auc
    labels = np.array([r['label'] == 'live' for r in records], np.int64)
    attack = np.array([r['attack_type'] for r in records])
    vids = np.array([r['video_id'] for r in records])
    res = OrderedDict()
    classic = attack != 'partial'
    for name, keep in (('classic', classic), ('all', np.ones_like(classic))):
        if not keep.any() or len(set(labels[keep])) < 2:
            continue
        res[f'{name} frame AUC'] = 100 * roc_auc(scores[keep], labels[keep])
        v = aggregate_by_video(vids[keep], scores[keep], labels[keep])
        res[f'{name} video AUC'] = 100 * roc_auc(v['score'], v['label'])
    v = aggregate_by_video(vids, scores, labels, attack_type=attack)
    for t in sorted(set(attack) - {'none'}):
        keep = (v['attack_type'] == 'none') | (v['attack_type'] == t)
        if (v['attack_type'] == 'none').any():
            res[f'{t} video AUC'] = 100 * roc_auc(v['score'][keep],
                                                  v['label'][keep])
    return res


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    pre_mod = _pretrain_module()
    from mmfas.datasets.demo_data import load_demo_images
    weights = args.weights or [
        'random', osp.join(args.data_root, 'clip_tiny_demo.pth')]
    for w in weights:
        if w != 'random' and not osp.isfile(w):
            print(f'error: {w} not found; make it with python '
                  'tools/misc/pretrain_demo_clip.py', file=sys.stderr)
            return 2
    pipeline, pre = pre_mod.build_preprocessor()
    try:
        images, records = load_demo_images(args.data_root, args.domains,
                                           args.splits, pipeline)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    n_live = sum(r['label'] == 'live' for r in records)
    print(f'{args.domains} {args.splits}: {len(records)} frames '
          f'({n_live} live, {len(records) - n_live} spoof), '
          f'{len({r["video_id"] for r in records})} videos; FLIP templates, '
          'score = softmax over [spoof, real] text features')
    rows = OrderedDict()
    for w in weights:
        torch.manual_seed(args.seed)
        bb = pre_mod.build_tiny_clip(None if w == 'random' else w)
        rows[w] = auc_table(zero_shot_scores(bb, images, pre,
                                             args.batch_size), records)
    cols = list(next(iter(rows.values())))
    names = {w: f'random init (seed {args.seed})' if w == 'random' else w
             for w in rows}
    width = max(len(n) for n in names.values()) + 2
    print(f'{"weights":<{width}}' + ''.join(f'{c:>20}' for c in cols))
    for w, res in rows.items():
        print(f'{names[w]:<{width}}' +
              ''.join(f'{res[c]:>20.2f}' for c in cols))
    return 0


if __name__ == '__main__':
    sys.exit(main())
