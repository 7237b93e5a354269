"""Contrastive image-caption pretraining of the demo's tiny CLIP.

A randomly initialised tiny CLIP (``configs/_base_/models/clip_tiny.py``)
has random text features: every language-guided method is meaningless on
the demo with it. This script trains both towers of that CLIP with CLIP's
symmetric InfoNCE loss on the synthetic demo data, pairing each training
face with one of the captions the generator knows to be true of it (live or
spoof in several words, attack and medium, texture cues, and for partial
attacks the covered region and the object; see
``mmfas.datasets.demo_data.demo_captions``). Source domains only (DemoA-C,
train split by default): DemoD stays held out.

Loss. The captions are a function of what an image shows, so a caption
drawn for one image is often true of others in the batch ("a photo of a
real face." of every live face). A pair is positive when the caption is one
of the image's captions; each image is scored against the batch's distinct
captions and each caption against the images, both as a cross-entropy
against the uniform distribution over the positives. With one distinct
caption per image this is exactly CLIP's loss.

Schedule. Images go through the test pipeline and data preprocessor of
``configs/_base_/datasets/fas_pipelines.py`` (face crop, 224 px, CLIP's
normalisation), as when training and testing the methods. From random
initialisation every image (and every caption) has almost the same
embedding, and on the 196 fine patches of a 224 px face the towers stay in
that collapsed state for hundreds of steps (the demo's cues are textures,
and a mean over many random patch features carries none of them). So the
same CLIP is trained in stages of growing input size (``--stages``, by
default 64, 112 and 224 px; batches area-downsampled, the positional
embedding interpolated between stages as open_clip does when loading
weights at another size): 16 coarse patches leave the collapse within a
few hundred steps, and the later stages adapt the patch embedding to the
finer scale the methods see. Patch dropout at 224 px halves its cost (none
at test time).

The output is an open_clip state dict (``clip_tiny_demo.pth``) that
``OpenCLIPBackbone(arch=<tiny CLIP>, pretrained=<path>)`` loads strictly
(``configs/_base_/models/clip_tiny_demo_pretrained.py``), plus a JSON file
of settings and timings next to it. Seeded; skipped when the output exists
(``--force`` redoes it). Then print the zero-shot AUC on the held-out
domain with ``tools/analysis_tools/zero_shot_demo.py``.

Example::

    python tools/misc/make_demo_data.py --out data/demo
    python tools/misc/pretrain_demo_clip.py   # data/demo/clip_tiny_demo.pth
    python tools/analysis_tools/zero_shot_demo.py   # zero-shot AUC, DemoD
"""
import argparse
import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_OUT = 'data/demo/clip_tiny_demo.pth'
CLIP_CONFIG = osp.join(REPO, 'configs', '_base_', 'models', 'clip_tiny.py')
PIPELINE_CONFIG = osp.join(REPO, 'configs', '_base_', 'datasets',
                           'fas_pipelines.py')
SOURCE_DOMAINS = ('DemoA', 'DemoB', 'DemoC')
#: SIZE:ITERS:LR[:PATCH_DROPOUT] (see the module docstring)
DEFAULT_STAGES = ('64:300:1e-3', '112:300:5e-4', '224:300:3e-4:0.5')


def parse_stage(text: str) -> Dict:
    """``'224:300:3e-4:0.5'`` -> ``dict(size=224, iters=300, lr=3e-4,
    patch_dropout=0.5)``."""
    parts = text.split(':')
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        st = dict(size=int(parts[0]), iters=int(parts[1]),
                  lr=float(parts[2]),
                  patch_dropout=float(parts[3]) if len(parts) == 4 else 0.0)
    except ValueError:
        raise ValueError(f'stage {text!r}: expected SIZE:ITERS:LR'
                         '[:PATCH_DROPOUT], e.g. 224:300:3e-4:0.5') from None
    if st['size'] < 16 or st['iters'] < 1 or st['lr'] <= 0 or not (
            0 <= st['patch_dropout'] < 1):
        raise ValueError(f'stage {text!r}: need size >= 16 (one patch), '
                         'iters >= 1, lr > 0 and 0 <= patch dropout < 1')
    return st


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Contrastive image-caption pretraining of the tiny CLIP '
        'on the synthetic demo data (source domains only).')
    p.add_argument('--data-root', default='data/demo',
                   help='demo dataset (tools/misc/make_demo_data.py)')
    p.add_argument('--out', default=None,
                   help=f'output state dict (default: {DEFAULT_OUT} under '
                   'a default --data-root, else <data-root>/'
                   'clip_tiny_demo.pth)')
    p.add_argument('--domains', nargs='+', default=list(SOURCE_DOMAINS),
                   help='training domains (default: DemoA DemoB DemoC)')
    p.add_argument('--splits', nargs='+', default=['train'],
                   help='splits of those domains (default: train)')
    p.add_argument('--stages', nargs='+', default=list(DEFAULT_STAGES),
                   metavar='SIZE:ITERS:LR[:PATCH_DROPOUT]',
                   help='training stages, in order: image size, steps, peak '
                   'learning rate (warm-up then cosine per stage) and the '
                   'share of patches dropped (default 0; none at test '
                   'time). Default: ' + ' '.join(DEFAULT_STAGES))
    p.add_argument('--batch-size', type=int, default=32,
                   help='image-caption pairs per step (default: 32)')
    p.add_argument('--weight-decay', type=float, default=0.1,
                   help='weight decay (default: 0.1)')
    p.add_argument('--warmup', type=float, default=0.1,
                   help='fraction of the steps with linear warm-up')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the initialisation, batches and '
                   'captions (default: 0)')
    p.add_argument('--threads', type=int, default=2,
                   help='torch CPU threads (default: 2)')
    p.add_argument('--clip-config', default=CLIP_CONFIG,
                   help='config holding tiny_clip_backbone')
    p.add_argument('--pipeline-config', default=PIPELINE_CONFIG,
                   help='config holding test_pipeline and data_preprocessor')
    p.add_argument('--log-interval', type=int, default=20,
                   help='log the loss every N steps (default: 20)')
    p.add_argument('--force', action='store_true',
                   help='retrain even if the output exists')
    return p.parse_args(argv)


def build_tiny_clip(pretrained: Optional[str] = None,
                    clip_config: str = CLIP_CONFIG,
                    image_size: Optional[int] = None):
    """The demo's tiny CLIP (``tiny_clip_backbone`` of ``clip_config``) as
    an :class:`~mmfas.models.backbones.OpenCLIPBackbone`, randomly
    initialised (seed it first) or loaded from ``pretrained``;
    ``image_size`` overrides its input size (``force_image_size``)."""
    from mmengine.config import Config

    from mmfas.registry import MODELS
    from mmfas.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(clip_config)
    if 'tiny_clip_backbone' not in cfg:
        raise KeyError(f'{clip_config} defines no tiny_clip_backbone')
    bb = cfg.tiny_clip_backbone.to_dict()
    bb.pop('_delete_', None)
    bb['pretrained'] = pretrained
    if image_size is not None:
        bb['force_image_size'] = int(image_size)
    return MODELS.build(bb)


def transfer_weights(src, dst) -> None:
    """Copy the CLIP weights of backbone ``src`` into ``dst`` (strictly),
    interpolating the vision positional embedding to ``dst``'s patch grid
    as open_clip does when loading weights at another image size."""
    from open_clip.model import resize_pos_embed
    state = {k: v.detach().clone() for k, v in src.clip.state_dict().items()}
    resize_pos_embed(state, dst.clip)
    dst.clip.load_state_dict(state, strict=True)


def build_preprocessor(pipeline_config: str = PIPELINE_CONFIG):
    """``(test_pipeline, data_preprocessor)`` of the data recipe."""
    from mmengine.config import Config

    from mmfas.registry import MODELS
    from mmfas.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(pipeline_config)
    return list(cfg.test_pipeline), MODELS.build(cfg.data_preprocessor)


def caption_contrastive_loss(image_embeds: torch.Tensor,
                             text_embeds: torch.Tensor,
                             positives: torch.Tensor,
                             logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's symmetric InfoNCE where a caption may be true of several
    images of the batch and an image may have several true captions.

    Args:
        image_embeds (Tensor): ``(B, E)`` image embeddings.
        text_embeds (Tensor): ``(U, E)`` embeddings of the distinct
            captions of the batch.
        positives (Tensor): ``(B, U)`` bool, whether caption ``u`` is true
            of image ``i`` (one of its captions); every row and column
            holds at least one True.
        logit_scale (Tensor): CLIP's log temperature (exponentiated here).

    Returns:
        Tensor: the mean of the image->caption and caption->image
        cross-entropies, each against the uniform distribution over its
        positives. With one caption per image (``positives`` the identity)
        this is CLIP's loss.
    """
    pos = positives.float()
    if bool((pos.sum(1) == 0).any()) or bool((pos.sum(0) == 0).any()):
        raise ValueError('caption_contrastive_loss: every image needs a true '
                         'caption and every caption a true image')
    img = F.normalize(image_embeds, dim=-1)
    txt = F.normalize(text_embeds, dim=-1)
    logits = logit_scale.exp() * img @ txt.t()  # (B, U)
    loss_i = -(pos * logits.log_softmax(dim=1)).sum(1) / pos.sum(1)
    loss_t = -(pos * logits.log_softmax(dim=0)).sum(0) / pos.sum(0)
    return (loss_i.mean() + loss_t.mean()) / 2


def _param_groups(model, weight_decay: float) -> List[Dict]:
    """Weight decay on matrices only (not on norms, biases, embeddings of
    tokens / positions, class token or the logit scale), as CLIP does."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or 'embedding' in name or 'logit_scale' in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [dict(params=decay, weight_decay=weight_decay),
            dict(params=no_decay, weight_decay=0.0)]


def pretrain(backbone,
             images: Sequence[torch.Tensor],
             captions: Sequence[Sequence[str]],
             preprocessor,
             iters: int,
             batch_size: int = 64,
             lr: float = 1e-3,
             weight_decay: float = 0.1,
             warmup: float = 0.1,
             patch_dropout: float = 0.5,
             seed: int = 0,
             log_interval: int = 20,
             image_size: Optional[int] = None,
             log=print) -> List[float]:
    """Train both towers of ``backbone`` contrastively; returns the losses.

    Each step draws ``batch_size`` images without replacement (a seeded
    permutation per epoch) and one caption of each at random; a caption of
    the batch is a positive of every image whose captions hold it (the
    generator's captions are a function of what the image shows, so two
    live faces share "a photo of a real face."). ``image_size``: the
    preprocessed batch is area-downsampled to this size (the backbone must
    be built for it).
    """
    if len(images) != len(captions) or not len(images):
        raise ValueError(f'{len(images)} images but {len(captions)} caption '
                         'lists')
    bad = [i for i, c in enumerate(captions) if not c]
    if bad:
        raise ValueError(f'images {bad[:5]} have no caption')
    from open_clip.transformer import PatchDropout
    true_of = [set(c) for c in captions]
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # patch dropout draws from the global stream
    opt = torch.optim.AdamW(_param_groups(backbone, weight_decay), lr=lr,
                            betas=(0.9, 0.98), eps=1e-6)
    n_warm = max(1, int(round(warmup * iters)))

    def lr_at(step):
        if step < n_warm:
            return lr * (step + 1) / n_warm
        t = (step - n_warm) / max(1, iters - n_warm)
        return lr * 0.5 * (1 + np.cos(np.pi * t))

    visual = backbone.clip.visual
    keep_dropout = visual.patch_dropout
    visual.patch_dropout = PatchDropout(patch_dropout) if patch_dropout \
        else keep_dropout
    backbone.train()
    batch_size = min(batch_size, len(images))
    order, pos, losses = torch.randperm(len(images), generator=gen), 0, []
    try:
        for step in range(iters):
            if pos + batch_size > len(order):
                order, pos = torch.randperm(len(images), generator=gen), 0
            idx = order[pos:pos + batch_size].tolist()
            pos += batch_size
            texts = [
                captions[i][int(torch.randint(len(captions[i]), (1, ),
                                              generator=gen))] for i in idx
            ]
            uniq = sorted(set(texts))
            positives = torch.tensor([[u in true_of[i] for u in uniq]
                                      for i in idx])
            x = preprocessor(dict(inputs=[images[i] for i in idx]))['inputs']
            if image_size is not None and x.shape[-1] != image_size:
                x = F.adaptive_avg_pool2d(x, image_size)
            img = backbone.encode_image(x)
            txt = backbone.encode_text(backbone.tokenize(uniq))
            loss = caption_contrastive_loss(img, txt, positives,
                                            backbone.logit_scale)
            for g in opt.param_groups:
                g['lr'] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():  # CLIP clamps the temperature at 100
                backbone.logit_scale.clamp_(0, float(np.log(100)))
            losses.append(loss.item())
            if log_interval and ((step + 1) % log_interval == 0
                                 or step == 0 or step + 1 == iters):
                log(f'step {step + 1}/{iters}  loss {losses[-1]:.4f}  '
                    f'lr {lr_at(step):.2e}  distinct captions {len(uniq)}/'
                    f'{len(idx)}  logit scale '
                    f'{backbone.logit_scale.exp().item():.1f}')
    finally:
        visual.patch_dropout = keep_dropout
    backbone.eval()
    return losses


def save_clip_state_dict(backbone, path: str) -> None:
    """The open_clip state dict of ``backbone.clip``, written atomically."""
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    state = {k: v.detach().cpu().clone()
             for k, v in backbone.clip.state_dict().items()}
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        stages = [parse_stage(t) for t in args.stages]
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    out = args.out or (DEFAULT_OUT if osp.normpath(args.data_root) ==
                       osp.normpath('data/demo') else osp.join(
                           args.data_root, 'clip_tiny_demo.pth'))
    if osp.isfile(out) and not args.force:
        print(f'{out} exists: nothing to do (use --force to retrain).')
        return 0
    torch.set_num_threads(max(1, args.threads))
    t0, c0 = time.time(), time.process_time()
    from mmfas.datasets.demo_data import load_demo_images
    pipeline, pre = build_preprocessor(args.pipeline_config)
    try:
        images, records = load_demo_images(args.data_root, args.domains,
                                           args.splits, pipeline)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    missing = [r for r in records if not r.get('captions')]
    if missing:
        print(f'error: {len(missing)} records of {args.data_root} have no '
              f'captions (e.g. {missing[0]["rgb"]}): the data predates them; '
              'regenerate it with python tools/misc/make_demo_data.py --out '
              f'{args.data_root} --force', file=sys.stderr)
        return 2
    captions = [r['captions'] for r in records]
    t_load = time.time() - t0
    kinds = {}
    for r in records:
        kinds[r['attack_type']] = kinds.get(r['attack_type'], 0) + 1
    print(f'{len(images)} training images from {args.domains} '
          f'{args.splits} ({", ".join(f"{k}={v}" for k, v in kinds.items())})'
          f', {len({c for cs in captions for c in cs})} distinct captions; '
          f'loaded in {t_load:.1f}s')

    torch.manual_seed(args.seed)
    backbone = build_tiny_clip(None, args.clip_config)
    t1 = time.time()
    losses, current = [], backbone
    for k, st in enumerate(stages):
        # the same CLIP at this stage's input size, its positional
        # embedding interpolated from the previous stage's grid
        print(f'stage {k + 1}/{len(stages)}: {st["iters"]} steps at '
              f'{st["size"]} px, lr {st["lr"]:g}, patch dropout '
              f'{st["patch_dropout"]:g}')
        model = build_tiny_clip(None, args.clip_config, st['size'])
        transfer_weights(current, model)
        losses += pretrain(model, images, captions, pre, st['iters'],
                           args.batch_size, st['lr'], args.weight_decay,
                           args.warmup, st['patch_dropout'], args.seed + k,
                           args.log_interval, image_size=st['size'])
        current = model
    transfer_weights(current, backbone)
    t_train = time.time() - t1
    save_clip_state_dict(backbone, out)
    # the file must load strictly through the project's safe loader
    build_tiny_clip(out, args.clip_config)
    meta = dict(
        weights=out, data_root=args.data_root, domains=args.domains,
        splits=args.splits, num_images=len(images),
        stages=stages, batch_size=args.batch_size,
        weight_decay=args.weight_decay, warmup=args.warmup, seed=args.seed,
        threads=args.threads, clip_config=osp.relpath(args.clip_config,
                                                      REPO),
        first_loss=losses[0], last_loss=float(np.mean(losses[-10:])),
        train_wall_s=round(t_train, 1), total_wall_s=round(
            time.time() - t0, 1),
        cpu_s=round(time.process_time() - c0, 1))
    with open(osp.splitext(out)[0] + '.json', 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=1)
    print(f'wrote {out} (loss {losses[0]:.3f} -> {meta["last_loss"]:.3f}; '
          f'training {t_train:.0f}s wall, {meta["cpu_s"]:.0f}s CPU). '
          'Zero-shot AUC on the held-out domain: python '
          'tools/analysis_tools/zero_shot_demo.py'
          + ('' if out == DEFAULT_OUT else f' --weights {out} --data-root '
             f'{args.data_root}'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
