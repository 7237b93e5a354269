# A tiny, randomly initialised CLIP (3.4 M parameters) with ViT-B/16's
# tokenizer, for the demo and tests on CPU. It learns from scratch, so it
# shows the pipeline end to end, not CLIP's transfer. `_delete_` lets it
# replace a ViT-B/16 backbone: model = dict(backbone={{_base_.tiny_clip_backbone}})
tiny_clip_backbone = dict(
    _delete_=True,
    type='OpenCLIPBackbone',
    arch=dict(
        embed_dim=32,
        quick_gelu=True,
        vision_cfg=dict(image_size=224, layers=2, width=64, head_width=32,
                        patch_size=16),
        text_cfg=dict(context_length=77, vocab_size=49408, width=64,
                      heads=2, layers=2)),
    pretrained=None,
    tokenizer='ViT-B-16',
    freeze='none')
