# Model of LPI on CLIP ViT-B/16 (docs/methods/lpi.md, configs/lpi/README.md):
# layer-wise prompt-guided interaction at layers (3, 6, 9) + prototypical
# contrastive loss, total loss CE + 0.5 * L_pcl. Frozen CLIP (freeze='all'),
# so checkpoints hold only what trains (save_trainable_only: prompts,
# projections, cross-attention, gates, EMA prototypes). The FLIP-style light
# fine-tuning switch is freeze='none' with a small backbone lr
# (configs/lpi/lpi_tiny_demo_finetune.py shows it).
# Normalisation comes with the data recipe (the dataset bases).
_base_ = ['./clip_vitb16.py']

model = dict(
    type='LPI',
    backbone=dict(
        type='OpenCLIPBackbone',
        arch={{_base_.clip_backbone.arch}},
        pretrained={{_base_.clip_backbone.pretrained}},
        freeze='all'),
    # class words in the score rule's order [spoof, live]
    class_names=('spoof', 'live'),
    # "[a photo of a] spoof face." at init: FLIP's template 'a photo of a
    # {} face' with its 4 context words learnable
    prompt=dict(n_ctx=4, ctx_init='a photo of a', template='{} face.'),
    # before blocks 3, 6, 9 of 12 (scaled to other depths: l * depth // 12)
    interaction_layers=(3, 6, 9),
    layers_of=12,
    # vision -> text guidance (zero-init gate) and text -> vision prompts,
    # one module per interaction layer; None switches one off
    guidance=dict(type='PromptGuidance', num_heads=8, dropout=0.0),
    text_to_vision=dict(type='TextToVisionPrompt'),
    prototype_loss=dict(
        type='PrototypeContrastiveLoss',
        prototypes='ema',  # or 'learnable', 'text'
        momentum=0.9,
        asymmetric=False,  # True: a spoof prototype per source domain
        temperature=0.1,
        text_weight=0.0,
        loss_weight=0.5),  # lambda
    truncate_text=True,
    save_trainable_only=True)
