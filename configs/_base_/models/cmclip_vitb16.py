# Model of CM-CLIP on CLIP ViT-B/16 (docs/methods/cmclip.md): frozen CLIP,
# ADC-Adapters parallel to attention and MLP in every vision block, FGPL
# prompts (content context shared, one modality context per modality;
# category / modality / mixed prompts, three CE losses), modality-context
# shuffle, decorrelation of content and modality prompt features, and a
# CoCoOp input-conditional token. Checkpoints hold only what trains.
# Normalisation comes with the data recipe (the dataset base's top-level
# data_preprocessor). Every switch below is one ablation
# (configs/cmclip/README.md).
_base_ = ['./clip_vitb16.py']

# ADC-Adapter: Linear(768->8) -> QuickGELU -> 3x3 adaptive CDC conv on the
# 14x14 patch grid (theta = sigmoid(raw), raw = 0) -> QuickGELU ->
# Dropout 0.1 -> Linear(8->768), zero-initialised up-projection; CLS skips
# the conv. conv=None: plain bottleneck adapter; adapters=None: no adapter.
cmclip_adapters = dict(
    vision=dict(layers='all', positions=('attn', 'mlp'), conv='adc',
                bottleneck=8, dropout=0.1, scale=1.0))

model = dict(
    type='CMCLIP',
    backbone=dict(_base_.clip_backbone, freeze='all',
                  adapters=cmclip_adapters),
    class_names=('spoof', 'live'),
    modalities=('rgb', 'depth', 'ir'),
    modality_words=dict(rgb='color', depth='depth', ir='infrared'),
    n_ctx=16,
    n_modality_ctx=16,
    templates=dict(category='{cls} face.', modality='{mod}.',
                   mixed='{cls} face, {mod}.'),
    levels=('category', 'modality', 'mixed'),
    loss_weights=dict(category=1.0, modality=1.0, mixed=1.0),
    mixed_targets='modality',
    shuffle_modality_ctx=True,
    shuffle_in=('mixed', ),
    decorrelation=dict(type='DecorrelationLoss', mode='cosine2',
                       loss_weight=1.0),
    conditional=True,
    conditional_mode='add',
    freeze_clip=True,
    save_trainable_only=True)
