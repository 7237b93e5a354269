"""open_clip CLIP as an mmfas backbone, with one block loop per tower.

:class:`OpenCLIPBackbone` owns an unmodified open_clip model (``.clip``) and
re-runs its towers block by block over open_clip's own submodules
(vision: ``conv1``, ``class_embedding``, ``positional_embedding``,
``patch_dropout``, ``ln_pre``, ``transformer.resblocks``, ``_pool`` /
``ln_post``, ``proj``; text: ``token_embedding``, ``positional_embedding``,
``transformer.resblocks``, ``ln_final``, ``text_projection``, ``attn_mask``).
open_clip 3.x blocks are batch-first, so every token tensor is (B, L, D).
With nothing injected the loop computes exactly ``clip.encode_image`` /
``clip.encode_text``. Each block of a tower passes through one code path:

1. **deep prompts** of that layer are injected (``prompts={layer: tensor}``);
2. **hooks** see ``(layer, tokens, state)`` and may return new tokens;
3. the block runs, with **parallel adapters** when configured
   (``x + attn(ln_1 x) + adapter(ln_1 x)``, then the same for the MLP), under
   ``torch.utils.checkpoint`` when ``grad_checkpointing`` is on;
4. **taps** keep the block output.

Vision hooks at layer 0 see the tokens after ``ln_pre``; ``pre_ln_hooks``
(``hook(tokens, state)``) see them once before it.

Deep-prompt semantics (MaPLe's, Khattak et al., CVPR 2023). Layer ``l`` means
"before block ``l``"; layer 0 is the embedding stage (the first block never
injects at depth):

* vision: layer-0 prompts are appended after ``[CLS, patches]`` once the
  positional embedding is added (and patch dropout applied), before
  ``ln_pre``; at a deeper layer the last ``n`` tokens are overwritten, or the
  prompts are appended if the sequence holds none yet (prompts that start at
  a deep layer). Prompts are dropped before pooling.
* text: prompts replace the ``n`` token embeddings right after SOT
  (``prompt_pos=1``), so the length stays 77 and the EOT position used for
  pooling does not move; layer-0 prompts get the positional embedding (it is
  added after the replacement), deeper overwrites get none. Token ids must
  hold ``n`` placeholder tokens there (see
  :func:`~mmfas.models.utils.placeholder_token_ids`); a prompt that would
  overwrite EOT is an error.

Prompt shapes: vision ``(n, Dv)`` shared or ``(B, n, Dv)`` per image. Text,
for ``N`` token sequences: ``(n, Dt)`` shared, ``(N, n, Dt)`` per sequence
(class-specific context), or ``(B, N | 1, n, Dt)`` per image and sequence
(conditional, CoCoOp): then the text tower runs on ``B * N`` sequences and
``encode_text`` returns ``(B, N, E)``. ``prompts`` is a tensor (layer 0), a
list (layers 0, 1, ...; None skips) or a dict ``{layer: tensor}``.

Cross-tower interaction: :meth:`OpenCLIPBackbone.forward_joint` runs both
towers in lockstep and calls ``callback(layer, vision_state, text_state)``
before block ``layer`` of each tower (after their own prompt injection and
hooks); the callback reads and writes ``state.x`` and may call
``state.inject(prompts)`` with the semantics above. :class:`TowerState` also
tells hooks where the CLS, patch and prompt tokens are.

How the methods use it (each described in ``docs/methods/``):

* **FLIP-V**: ``backbone.encode_image(x, return_dict=True)['cls']`` (after
  ``ln_post``, before ``proj``) feeds the head; ``freeze='none'``.
* **FLIP-IT / FLIP-MCL**: ``TemplateBank(tokenizer=backbone.tokenize)``;
  ``bank.class_embeddings(backbone)`` (recomputed each training forward
  because the text tower trains, cached in eval) and
  ``bank.template_embeddings(backbone)`` (raw ``(C, T, E)`` for MCL's P1/P2
  means); ``backbone.encode_image(view)`` gives the raw 512-d embedding the
  SimCLR projector needs; logits use ``backbone.logit_scale.exp()``.
* **LPI**: a :class:`~mmfas.models.utils.PromptLearner` with
  ``deep_layers=(3, 6, 9)`` gives ``token_ids`` and text ``prompts``;
  ``forward_joint(images, ids, callback, text_prompts=prompts,
  text_per_image=True)``; at an interaction layer the callback lets the text
  prompt tokens (``text_state.prompt_tokens()``, viewed per image with
  ``text_state.per_image_view``) cross-attend to
  ``vision_state.patch_tokens()`` and writes them back with a zero-init gate,
  then calls ``vision_state.inject(proj_l(layer_prompts))`` (appended the
  first time, overwritten later). Outputs' ``embeds`` feed the prototypes.
* **CM-CLIP**: ``freeze='all'`` plus ``adapters=dict(vision=dict(
  layers='all', positions=('attn', 'mlp'), conv='adc', bottleneck=8,
  dropout=0.1))`` (ADC-Adapter; conv on the patch grid, CLS/prompts bypass
  it). FGPL builds its own ``[content ctx][modality ctx]`` tensors over
  placeholder token ids and passes them as layer-0 text prompts
  (``(N, n, D)`` class/modality specific); the CoCoOp token is a
  ``(B, N | 1, n, D)`` prompt (``PromptLearner(conditional=True)``).
  Store only trained weights with
  :func:`~mmfas.models.utils.enable_trainable_checkpoint`.
* **SLIP**: ``encode_image(x, return_dict=True, proj_patches=True)`` gives
  ``'patch_embeds'`` (B, N, E) and ``'patch_grid'`` (7, 7 for B/32) for the
  ``z_hat`` map and ``'embeds'`` for ``E_I(x)``; its two stages use separate
  optimizer groups (``vision_parameters()`` / ``text_parameters()``) or
  :meth:`OpenCLIPBackbone.set_freeze`.
"""
from dataclasses import dataclass, field
from typing import (Callable, Dict, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn
from torch.utils.checkpoint import checkpoint

from mmfas.registry import MODELS
from ..utils.clip_loading import (HF_HUB_PREFIX, LOCAL_DIR_PREFIX,
                                  build_clip_model, get_clip_tokenizer)
from ..utils.trainable import set_weights_source

__all__ = ['OpenCLIPBackbone', 'TowerState']

Hook = Callable[[int, torch.Tensor, 'TowerState'], Optional[torch.Tensor]]
PromptSpec = Union[None, torch.Tensor, Sequence[Optional[torch.Tensor]],
                   Mapping[int, torch.Tensor]]
TOWERS = ('vision', 'text')


def _layer_indices(layers, depth: int, what: str) -> Tuple[int, ...]:
    """``'all'``/None, an int or a list of (possibly negative) block indices
    -> sorted non-negative indices."""
    if layers is None or layers == 'all':
        return tuple(range(depth))
    if isinstance(layers, int):
        layers = [layers]
    out = set()
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, int) \
                or not -depth <= i < depth:
            raise ValueError(f'{what}: {i!r} is not a block index of a '
                             f'{depth}-block tower')
        out.add(i % depth)
    return tuple(sorted(out))


@dataclass(eq=False)
class TowerState:
    """The running state of one tower, handed to hooks and to the
    :meth:`OpenCLIPBackbone.forward_joint` callback.

    Attributes:
        tower (str): ``'vision'`` or ``'text'``.
        x (Tensor): Current tokens (M, L, D); assign to replace them. Vision:
            ``[CLS, patches, prompts]``; text: 77 tokens with prompts at
            ``prompt_pos``. M = B for vision, N or B * N for text.
        layer (int): Index of the next block to run (``depth`` when done).
        depth (int): Number of blocks.
        attn_mask (Tensor, optional): The text causal mask.
        num_prefix (int): Tokens before the patches (vision: 1, text: 0).
        grid (tuple, optional): Vision patch grid (h, w); None for text or
            when patch dropout removed patches.
        num_prompts (int): Prompt tokens currently in ``x``.
        prompt_pos (int): Text position of the first prompt token.
        batch_size (int, optional): Images B (vision; per-image text).
        num_texts (int, optional): Text sequences per image N (text).
        token_ids (Tensor, optional): Text ids, (M, 77).
        taps (dict): Block index -> block output collected so far.
    """
    tower: str
    x: torch.Tensor
    depth: int
    layer: int = 0
    attn_mask: Optional[torch.Tensor] = None
    num_prefix: int = 0
    grid: Optional[Tuple[int, int]] = None
    num_prompts: int = 0
    prompt_pos: int = 1
    batch_size: Optional[int] = None
    num_texts: Optional[int] = None
    token_ids: Optional[torch.Tensor] = None
    taps: Dict[int, torch.Tensor] = field(default_factory=dict)
    prompts: Dict[int, torch.Tensor] = field(default_factory=dict)
    hooks: List[Hook] = field(default_factory=list)
    tap_layers: Tuple[int, ...] = ()
    injector: Optional[Callable] = None

    @property
    def per_image(self) -> bool:
        """Text: whether the sequences are per image (B * N of them)."""
        return self.tower == 'text' and self.batch_size is not None

    @property
    def prompt_slice(self) -> slice:
        if self.tower == 'vision':
            return slice(self.x.shape[1] - self.num_prompts, self.x.shape[1])
        return slice(self.prompt_pos, self.prompt_pos + self.num_prompts)

    @property
    def patch_slice(self) -> slice:
        """Vision: the patch tokens (after CLS, before prompts)."""
        return slice(self.num_prefix, self.x.shape[1] - self.num_prompts)

    def prompt_tokens(self) -> torch.Tensor:
        """(M, n, D) view of the current prompt tokens."""
        return self.x[:, self.prompt_slice]

    def patch_tokens(self) -> torch.Tensor:
        """(B, N, D) view of the current vision patch tokens."""
        if self.tower != 'vision':
            raise ValueError('patch_tokens() is a vision-tower method')
        return self.x[:, self.patch_slice]

    def per_image_view(self, t: torch.Tensor) -> torch.Tensor:
        """Reshape a per-image text tensor (B * N, ...) to (B, N, ...)."""
        if not self.per_image:
            raise ValueError('text is not per image (pass text_per_image=True '
                             'or per-image prompts)')
        return t.reshape(self.batch_size, self.num_texts, *t.shape[1:])

    def inject(self, prompts: torch.Tensor) -> None:
        """Insert prompt tokens here, with the backbone's semantics (vision:
        append, or overwrite the last n; text: replace at ``prompt_pos``)."""
        self.injector(self, prompts)


def _parse_prompts(prompts: PromptSpec, depth: int,
                   what: str) -> Dict[int, torch.Tensor]:
    if prompts is None:
        return {}
    if isinstance(prompts, torch.Tensor):
        items = {0: prompts}
    elif isinstance(prompts, Mapping):
        items = {int(k): v for k, v in prompts.items() if v is not None}
    elif isinstance(prompts, Sequence):
        items = {i: v for i, v in enumerate(prompts) if v is not None}
    else:
        raise TypeError(f'{what}: expected a tensor, list or dict, got '
                        f'{type(prompts).__name__}')
    for layer in items:
        if not 0 <= layer < depth:
            raise ValueError(f'{what}: layer {layer} outside 0..{depth - 1}')
    return items


def _parse_hooks(hooks) -> List[Hook]:
    if hooks is None:
        return []
    if callable(hooks):
        return [hooks]
    return list(hooks)


@MODELS.register_module()
class OpenCLIPBackbone(BaseModule):
    """open_clip CLIP with deep prompts, parallel adapters, hooks, taps and
    freezing policies (see the module docstring for semantics).

    Args:
        arch (str | dict | None): open_clip model name
            (``'ViT-B-16-quickgelu'``, ``'ViT-B-32-quickgelu'``,
            ``'ViT-L-14-quickgelu'``, ...), a config dict (kwargs of
            ``open_clip.CLIP``: ``embed_dim``, ``vision_cfg``, ``text_cfg``,
            ``quick_gelu``), ``'local-dir:<dir>'``, or None when
            ``pretrained`` is a folder with ``open_clip_config.json``.
            Defaults to ``'ViT-B-16-quickgelu'``.
        pretrained (str, optional): open_clip tag (needs internet), local
            weights file (OpenAI TorchScript ``.pt``, state dict
            ``.pt/.pth/.bin``, ``.safetensors``), a directory or
            ``'local-dir:<dir>'``. See :mod:`mmfas.models.utils.clip_loading`.
            Defaults to None (random init).
        pretrained_prefix (str, optional): Key prefix selecting the CLIP
            weights in a larger checkpoint. Defaults to None.
        force_quick_gelu (bool): Defaults to False.
        force_image_size (int, optional): Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
        weights_quick_gelu (bool, optional): Declare the weights' activation
            (checked against the architecture). Defaults to None.
        freeze (str | dict | list): ``'none'``; ``'all'`` (both towers and
            ``logit_scale``); ``'vision'``; ``'text'``; ``'norms'`` (train
            only the LayerNorms); or ``dict(towers=('vision', 'text'),
            layers='all' | [block indices, 'embed', 'head'],
            norms_only=False, logit_scale=None)``, or a list of such dicts.
            Frozen modules stay in eval mode through ``train()``. Adapters
            are not frozen by these policies. Defaults to ``'none'``.
        adapters (dict, optional): ``dict(vision=cfg, text=cfg)`` where cfg
            holds ``layers`` (``'all'``, int or list), ``positions``
            (``('attn', 'mlp')``) and the adapter config (``type`` defaults to
            ``'ParallelAdapter'``; ``in_dim`` is filled in). Defaults to None.
        grad_checkpointing (bool): Checkpoint every block in training.
            Defaults to False.
        tokenizer (str, optional): open_clip tokenizer name. Defaults to
            ``arch`` when it is a name, else ``'ViT-B-16'`` (CLIP BPE).
        out_type (str): What ``forward`` returns: ``'embeds'`` (B, E) or
            ``'cls'`` (B, Wv). Defaults to ``'embeds'``.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 arch: Union[str, dict, None] = 'ViT-B-16-quickgelu',
                 pretrained: Optional[str] = None,
                 pretrained_prefix: Optional[str] = None,
                 force_quick_gelu: bool = False,
                 force_image_size: Optional[int] = None,
                 cache_dir: Optional[str] = None,
                 weights_quick_gelu: Optional[bool] = None,
                 freeze: Union[str, dict, list, None] = 'none',
                 adapters: Optional[dict] = None,
                 grad_checkpointing: bool = False,
                 tokenizer: Optional[str] = None,
                 out_type: str = 'embeds',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if out_type not in ('embeds', 'cls'):
            raise ValueError(f"out_type={out_type!r}; choose 'embeds' or "
                             "'cls'")
        self.out_type = out_type
        self.clip = build_clip_model(
            arch, pretrained, prefix=pretrained_prefix,
            force_quick_gelu=force_quick_gelu,
            force_image_size=force_image_size, cache_dir=cache_dir,
            weights_quick_gelu=weights_quick_gelu)
        # where the CLIP weights come from (None: random init); trainable-only
        # checkpoints rely on it (mmfas.models.utils.trainable)
        set_weights_source(self.clip, pretrained or (
            arch if isinstance(arch, str) and arch.startswith(
                (LOCAL_DIR_PREFIX, HF_HUB_PREFIX)) else None))
        self._check_supported()
        self.grad_checkpointing = grad_checkpointing
        if tokenizer is None:
            tokenizer = arch if isinstance(arch, str) and not arch.startswith(
                'hf-hub:') else 'ViT-B-16'
        self._tokenizer = get_clip_tokenizer(tokenizer, self.context_length)
        self.adapters = self._build_adapters(adapters or {})
        self.set_freeze(freeze)

    # ------------------------------------------------------------ structure
    @property
    def _text_root(self) -> nn.Module:
        # CLIP flattens the text tower onto itself; CustomTextCLIP has .text
        return self.clip.text if hasattr(self.clip, 'text') else self.clip

    def _check_supported(self) -> None:
        from open_clip.transformer import TextTransformer, VisionTransformer
        if not isinstance(self.clip.visual, VisionTransformer):
            raise NotImplementedError(
                f'OpenCLIPBackbone needs open_clip\'s VisionTransformer, got '
                f'{type(self.clip.visual).__name__} (ResNet / timm towers are '
                'not supported).')
        root = self._text_root
        if not hasattr(root, 'token_embedding'):
            raise NotImplementedError(
                f'OpenCLIPBackbone needs open_clip\'s own text transformer, '
                f'got {type(root).__name__}.')
        if isinstance(root, TextTransformer) and (
                root.cls_emb is not None or root.use_pad_mask):
            raise NotImplementedError(
                'Text towers with a class token or padding mask (CoCa) are '
                'not supported.')

    @property
    def visual(self) -> nn.Module:
        return self.clip.visual

    @property
    def vision_blocks(self) -> nn.ModuleList:
        return self.clip.visual.transformer.resblocks

    @property
    def text_blocks(self) -> nn.ModuleList:
        return self._text_root.transformer.resblocks

    @property
    def logit_scale(self) -> nn.Parameter:
        """CLIP's learnable (log) logit scale."""
        return self.clip.logit_scale

    @property
    def embed_dim(self) -> int:
        return self.clip.visual.output_dim

    @property
    def vision_width(self) -> int:
        return self.clip.visual.transformer.width

    @property
    def text_width(self) -> int:
        return self._text_root.transformer.width

    @property
    def vision_depth(self) -> int:
        return len(self.vision_blocks)

    @property
    def text_depth(self) -> int:
        return len(self.text_blocks)

    @property
    def context_length(self) -> int:
        return self._text_root.positional_embedding.shape[0]

    @property
    def grid_size(self) -> Tuple[int, int]:
        return tuple(self.clip.visual.grid_size)

    @property
    def token_embedding(self) -> nn.Embedding:
        """The text token embedding (to initialise prompts from words)."""
        return self._text_root.token_embedding

    @property
    def tokenizer(self):
        return self._tokenizer

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """open_clip tokenisation (offline): (N, 77) LongTensor on the
        model's device."""
        if isinstance(texts, str):
            texts = [texts]
        return self._tokenizer(list(texts)).to(self.logit_scale.device)

    def _tower_param_items(self, tower: str) -> List[Tuple[str, nn.Parameter]]:
        if tower == 'vision':
            return list(self.clip.visual.named_parameters())
        root = self._text_root
        if root is not self.clip:
            return list(root.named_parameters())
        prefixes = ('token_embedding.', 'positional_embedding', 'transformer.',
                    'ln_final.', 'text_projection')
        return [(n, p) for n, p in self.clip.named_parameters()
                if n.startswith(prefixes)]

    def vision_parameters(self):
        """Vision tower parameters, its adapters included."""
        yield from (p for _, p in self._tower_param_items('vision'))
        if 'vision' in self.adapters:
            yield from self.adapters['vision'].parameters()

    def text_parameters(self):
        """Text tower parameters, its adapters included."""
        yield from (p for _, p in self._tower_param_items('text'))
        if 'text' in self.adapters:
            yield from self.adapters['text'].parameters()

    # ------------------------------------------------------------- adapters
    def _build_adapters(self, cfg: dict) -> nn.ModuleDict:
        unknown = set(cfg) - set(TOWERS)
        if unknown:
            raise ValueError(f'adapters: unknown towers {sorted(unknown)}; '
                             f'choose from {TOWERS}')
        out = nn.ModuleDict()
        for tower, tcfg in cfg.items():
            if not tcfg:
                continue
            tcfg = dict(tcfg)
            blocks = self.vision_blocks if tower == 'vision' else \
                self.text_blocks
            width = self.vision_width if tower == 'vision' else \
                self.text_width
            layers = _layer_indices(
                tcfg.pop('layers', 'all'), len(blocks), f'adapters.{tower}')
            positions = tcfg.pop('positions', ('attn', 'mlp'))
            positions = (positions, ) if isinstance(positions, str) else \
                tuple(positions)
            if not positions or set(positions) - {'attn', 'mlp'}:
                raise ValueError(f'adapters.{tower}.positions={positions}; '
                                 "use 'attn' and/or 'mlp'")
            tcfg.setdefault('type', 'ParallelAdapter')
            if isinstance(tcfg['type'], str):
                # resolve here: MODELS.build would look the name up in the
                # registry of whatever default scope is current
                adapter_cls = MODELS.get(tcfg['type'])
                if adapter_cls is None:
                    raise ValueError(f'adapters.{tower}: unknown adapter '
                                     f'type {tcfg["type"]!r}')
                tcfg['type'] = adapter_cls
            tcfg['in_dim'] = width
            per_layer = nn.ModuleDict()
            for layer in layers:
                self._check_decomposable(blocks[layer])
                per_layer[str(layer)] = nn.ModuleDict(
                    {pos: MODELS.build(dict(tcfg)) for pos in positions})
            out[tower] = per_layer
        return out

    @staticmethod
    def _check_decomposable(block: nn.Module) -> None:
        needed = ('ln_1', 'attn', 'ls_1', 'ln_2', 'mlp', 'ls_2')
        if not all(hasattr(block, n) for n in needed):
            raise NotImplementedError(
                f'Adapters need a block with {needed}; got '
                f'{type(block).__name__}.')

    def _tower_adapters(self, tower: str, layer: int):
        if tower not in self.adapters:
            return None
        return self.adapters[tower][str(layer)] \
            if str(layer) in self.adapters[tower] else None

    # ------------------------------------------------------------- freezing
    def _parse_freeze(self, freeze) -> List[dict]:
        presets = {
            'none': [],
            'all': [dict(towers=TOWERS, logit_scale=True)],
            'vision': [dict(towers=('vision', ))],
            'text': [dict(towers=('text', ))],
            'norms': [dict(towers=TOWERS, norms_only=True, logit_scale=True)],
        }
        if freeze is None or freeze is False:
            return []
        if isinstance(freeze, str):
            if freeze not in presets:
                raise ValueError(f'freeze={freeze!r}; choose from '
                                 f'{sorted(presets)} or a dict')
            return presets[freeze]
        rules = [freeze] if isinstance(freeze, Mapping) else list(freeze)
        allowed = {'towers', 'layers', 'norms_only', 'logit_scale'}
        out = []
        for rule in rules:
            if not isinstance(rule, Mapping) or set(rule) - allowed:
                raise ValueError(f'freeze rule {rule!r}: expected a dict with '
                                 f'keys from {sorted(allowed)}')
            towers = rule.get('towers', TOWERS)
            towers = TOWERS if towers in ('all', 'both') else (
                (towers, ) if isinstance(towers, str) else tuple(towers))
            if set(towers) - set(TOWERS):
                raise ValueError(f'freeze towers={towers}; choose from '
                                 f'{TOWERS}')
            out.append(dict(rule, towers=towers))
        return out

    def _select_tower_params(self, tower: str, layers) -> List[nn.Parameter]:
        items = self._tower_param_items(tower)
        if layers is None or layers == 'all':
            return [p for _, p in items]
        blocks = 'transformer.resblocks.'
        depth = self.vision_depth if tower == 'vision' else self.text_depth
        embed_names = ('conv1.', 'class_embedding', 'positional_embedding',
                       'ln_pre.', 'token_embedding.', 'cls_emb')
        layers = [layers] if isinstance(layers, (int, str)) else list(layers)
        idx = _layer_indices([i for i in layers if not isinstance(i, str)],
                             depth, f'freeze layers ({tower})')
        words = {i for i in layers if isinstance(i, str)}
        if words - {'embed', 'head'}:
            raise ValueError(f'freeze layers: {sorted(words)}; strings must '
                             "be 'embed' or 'head'")
        out = []
        for name, p in items:
            if name.startswith(blocks):
                if int(name[len(blocks):].split('.')[0]) in idx:
                    out.append(p)
            elif name.startswith(embed_names):
                if 'embed' in words:
                    out.append(p)
            elif 'head' in words:
                out.append(p)
        return out

    def set_freeze(self, freeze: Union[str, dict, list, None]) -> None:
        """Apply a freezing policy to the CLIP weights (see class args);
        replaces any previous policy and updates eval mode of frozen
        modules."""
        rules = self._parse_freeze(freeze)
        for p in self.clip.parameters():
            p.requires_grad_(True)
        norm_params = {
            id(p)
            for m in self.clip.modules() if isinstance(m, nn.LayerNorm)
            for p in m.parameters(recurse=False)
        }
        frozen = []
        for rule in rules:
            layers = rule.get('layers', 'all')
            for tower in rule['towers']:
                for p in self._select_tower_params(tower, layers):
                    if not (rule.get('norms_only', False)
                            and id(p) in norm_params):
                        frozen.append(p)
            freeze_scale = rule.get('logit_scale')
            if freeze_scale is None:
                freeze_scale = set(rule['towers']) == set(TOWERS) and \
                    layers in (None, 'all')
            if freeze_scale:
                frozen.append(self.clip.logit_scale)
                if getattr(self.clip, 'logit_bias', None) is not None:
                    frozen.append(self.clip.logit_bias)
        for p in frozen:
            p.requires_grad_(False)
        self.freeze_policy = freeze
        self.train(self.training)

    def frozen_modules(self) -> List[nn.Module]:
        """Maximal submodules whose parameters are all frozen (kept in eval
        mode by :meth:`train`)."""
        def collect(module: nn.Module) -> List[nn.Module]:
            out = []
            for child in module.children():
                params = list(child.parameters())
                if params and not any(p.requires_grad for p in params):
                    out.append(child)
                else:
                    out.extend(collect(child))
            return out

        mods = collect(self)
        visual = self.clip.visual
        if not visual.conv1.weight.requires_grad and \
                visual.patch_dropout not in mods:
            mods.append(visual.patch_dropout)  # parameter-free, embed stage
        return mods

    def train(self, mode: bool = True) -> 'OpenCLIPBackbone':
        """Set train mode, keeping frozen modules in eval mode."""
        super().train(mode)
        if mode:
            for m in self.frozen_modules():
                m.eval()
        return self

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    # --------------------------------------------------------- block loop
    @staticmethod
    def _block_forward(x: torch.Tensor, block: nn.Module,
                       attn_mask: Optional[torch.Tensor],
                       adapters: Optional[nn.ModuleDict],
                       grid: Optional[Tuple[int, int]],
                       num_prefix: int) -> torch.Tensor:
        if adapters is None:
            return block(x, attn_mask=attn_mask)
        h = block.ln_1(x)
        if hasattr(block, 'attention'):  # ResidualAttentionBlock
            a = block.attention(q_x=h, attn_mask=attn_mask)
        else:  # CustomResidualAttentionBlock
            a = block.ln_attn(block.attn(h, attn_mask=attn_mask))
        x = x + block.ls_1(a)
        if 'attn' in adapters:
            x = x + adapters['attn'](h, grid=grid, num_prefix=num_prefix)
        h = block.ln_2(x)
        x = x + block.ls_2(block.mlp(h))
        if 'mlp' in adapters:
            x = x + adapters['mlp'](h, grid=grid, num_prefix=num_prefix)
        return x

    def _pre_block(self, state: TowerState) -> None:
        """Deep prompts and hooks at ``state.layer`` (``depth``: hooks only,
        after the last block)."""
        layer = state.layer
        if 0 < layer < state.depth and layer in state.prompts:
            state.inject(state.prompts[layer])
        for hook in state.hooks:
            out = hook(layer, state.x, state)
            if out is not None:
                state.x = out

    def _run_block(self, state: TowerState) -> None:
        layer = state.layer
        blocks = self.vision_blocks if state.tower == 'vision' else \
            self.text_blocks
        args = (state.x, blocks[layer], state.attn_mask,
                self._tower_adapters(state.tower, layer), state.grid,
                state.num_prefix)
        if self.grad_checkpointing and self.training and \
                torch.is_grad_enabled():
            x = checkpoint(self._block_forward, *args, use_reentrant=False)
        else:
            x = self._block_forward(*args)
        state.x = x
        if layer in state.tap_layers:
            state.taps[layer] = x
        state.layer = layer + 1

    def _run_tower(self, state: TowerState) -> None:
        # the one per-block loop (forward_joint interleaves the same steps)
        while state.layer < state.depth:
            self._pre_block(state)
            self._run_block(state)
        self._pre_block(state)  # hooks at `depth`

    # --------------------------------------------------------------- vision
    def _inject_vision(self, state: TowerState, prompts: torch.Tensor) -> None:
        x = state.x
        b, _, d = x.shape
        if prompts.dim() == 2:
            prompts = prompts.unsqueeze(0).expand(b, -1, -1)
        if prompts.dim() != 3 or prompts.shape[0] != b or \
                prompts.shape[-1] != d:
            raise ValueError(f'vision prompts of shape {tuple(prompts.shape)}'
                             f'; expected (n, {d}) or ({b}, n, {d})')
        n = prompts.shape[1]
        prompts = prompts.to(x.dtype)
        if state.num_prompts == 0:
            x = torch.cat([x, prompts], dim=1)
        elif state.num_prompts == n:
            x = torch.cat([x[:, :-n], prompts], dim=1)
        else:
            raise ValueError(
                f'layer {state.layer}: {n} vision prompts cannot replace the '
                f'{state.num_prompts} already in the sequence')
        state.x, state.num_prompts = x, n

    def _begin_vision(self, images: torch.Tensor, prompts: PromptSpec,
                      hooks, taps, pre_ln_hooks=None) -> TowerState:
        v = self.clip.visual
        x = v.conv1(images)  # (B, Dv, gh, gw)
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)
        cls = v.class_embedding.view(1, 1, -1).expand(x.shape[0], -1, -1)
        x = torch.cat([cls.to(x.dtype), x], dim=1)  # (B, 1 + gh*gw, Dv)
        x = x + v.positional_embedding.to(x.dtype)
        x = v.patch_dropout(x)
        gh, gw = v.grid_size
        grid = (gh, gw) if x.shape[1] - 1 == gh * gw else None
        state = TowerState(
            tower='vision', x=x, depth=self.vision_depth, num_prefix=1,
            grid=grid, batch_size=x.shape[0],
            prompts=_parse_prompts(prompts, self.vision_depth,
                                   'vision prompts'),
            hooks=_parse_hooks(hooks),
            tap_layers=_layer_indices(taps, self.vision_depth, 'taps')
            if taps is not None else (),
            injector=self._inject_vision)
        if 0 in state.prompts:
            state.inject(state.prompts[0])  # after pos-embed, before ln_pre
        for hook in _parse_hooks(pre_ln_hooks):
            out = hook(state.x, state)
            if out is not None:
                state.x = out
        state.x = v.ln_pre(state.x)
        return state

    def _finish_vision(self, state: TowerState, normalize: bool,
                       proj_patches: bool) -> Dict:
        v = self.clip.visual
        tokens = state.x
        x = tokens[:, :tokens.shape[1] - state.num_prompts]
        pooled, patches = v._pool(x)  # ln_post, CLS / avg pooling
        embeds = pooled @ v.proj if v.proj is not None else pooled
        out = dict(
            embeds=F.normalize(embeds, dim=-1) if normalize else embeds,
            cls=pooled,
            patch_tokens=patches,
            patch_grid=state.grid,
            tokens=tokens,
            num_prompts=state.num_prompts,
            taps=state.taps)
        if proj_patches:
            out['patch_embeds'] = patches @ v.proj \
                if v.proj is not None else patches
        return out

    def encode_image(self,
                     images: torch.Tensor,
                     normalize: bool = False,
                     prompts: PromptSpec = None,
                     hooks=None,
                     taps=None,
                     proj_patches: bool = False,
                     return_dict: bool = False,
                     pre_ln_hooks=None):
        """Vision tower.

        Args:
            images (Tensor): (B, 3, H, W).
            normalize (bool): L2-normalise ``embeds``. Defaults to False.
            prompts: Vision deep prompts, ``{layer: (n, Dv) | (B, n, Dv)}``
                (a tensor = layer 0, a list = layers 0, 1, ...).
            hooks: Callable(s) ``hook(layer, x, state) -> x | None`` called
                before each block (after its prompts) and once after the
                last block (``layer == depth``).
            taps: Block index / indices whose outputs to keep.
            proj_patches (bool): Also return ``patch_embeds``.
            return_dict (bool): Return the dict below instead of ``embeds``.
            pre_ln_hooks: Callable(s) ``hook(x, state) -> x | None`` called
                once on the embedded tokens ``(B, L, Dv)`` (CLS + patches +
                positional embedding, after patch dropout and the layer-0
                prompts) before ``ln_pre``, e.g. to mix or perturb token
                statistics; ``state`` tells where the CLS, patch and prompt
                tokens are. Keep the length (add tokens with
                ``state.inject``).

        Returns:
            Tensor | dict: ``embeds`` (B, E), or a dict with ``embeds``;
            ``cls`` (B, Wv), the pooled token after ``ln_post`` before
            ``proj``; ``patch_tokens`` (B, N, Wv) after ``ln_post``;
            ``patch_grid`` (h, w) or None; ``patch_embeds`` (B, N, E) when
            ``proj_patches``; ``tokens`` (B, L, Wv) last block output with
            prompts; ``num_prompts``; ``taps`` {block: (B, L, Wv)}.
        """
        state = self._begin_vision(images, prompts, hooks, taps,
                                   pre_ln_hooks)
        self._run_tower(state)
        out = self._finish_vision(state, normalize, proj_patches)
        return out if return_dict else out['embeds']

    # ----------------------------------------------------------------- text
    def _expand_text_prompts(self, state: TowerState,
                             prompts: torch.Tensor) -> torch.Tensor:
        m, _, d = state.x.shape
        n_txt = state.num_texts
        b = state.batch_size
        shape = tuple(prompts.shape)
        if prompts.shape[-1] != d:
            raise ValueError(f'text prompts {shape}: last dim must be {d}')
        if prompts.dim() == 2:
            return prompts.unsqueeze(0).expand(m, -1, -1)
        if prompts.dim() == 3:
            if prompts.shape[0] != n_txt:
                raise ValueError(f'text prompts {shape}: expected ({n_txt}, '
                                 f'n, {d}) for {n_txt} sequences')
            if b is None:
                return prompts
            prompts = prompts.unsqueeze(0).expand(b, -1, -1, -1)
        elif prompts.dim() == 4:
            if b is None or prompts.shape[0] != b or \
                    prompts.shape[1] not in (1, n_txt):
                raise ValueError(
                    f'text prompts {shape}: expected ({b}, {n_txt} or 1, n, '
                    f'{d}) per image')
            prompts = prompts.expand(b, n_txt, -1, -1)
        else:
            raise ValueError(f'text prompts {shape}: expected 2 to 4 dims')
        return prompts.reshape(b * n_txt, *prompts.shape[2:])

    def _inject_text(self, state: TowerState, prompts: torch.Tensor) -> None:
        prompts = self._expand_text_prompts(state, prompts).to(state.x.dtype)
        n, pos = prompts.shape[1], state.prompt_pos
        eot = state.token_ids.argmax(dim=-1)
        if bool((eot < pos + n).any()):
            raise ValueError(
                f'{n} text prompts at position {pos} would overwrite the EOT '
                'token: tokenise the prompts with n placeholder tokens after '
                'SOT (see mmfas.models.utils.placeholder_token_ids).')
        x = state.x
        state.x = torch.cat([x[:, :pos], prompts, x[:, pos + n:]], dim=1)
        state.num_prompts = n

    def _begin_text(self, token_ids: torch.Tensor, prompts: PromptSpec,
                    hooks, taps, batch_size: Optional[int],
                    prompt_pos: int) -> TowerState:
        root = self._text_root
        depth = self.text_depth
        prompts = _parse_prompts(prompts, depth, 'text prompts')
        per_image = [p.shape[0] for p in prompts.values() if p.dim() == 4]
        if per_image:
            if batch_size is not None and batch_size != per_image[0] or \
                    len(set(per_image)) > 1:
                raise ValueError(f'per-image text prompts disagree on the '
                                 f'batch size: {per_image}, {batch_size}')
            batch_size = per_image[0]
        cast_dtype = root.transformer.get_cast_dtype()
        n_txt = token_ids.shape[0]
        x = root.token_embedding(token_ids).to(cast_dtype)  # (N, 77, Dt)
        if batch_size is not None:  # per image: (B * N, 77, Dt)
            x = x.unsqueeze(0).expand(batch_size, -1, -1, -1).reshape(
                batch_size * n_txt, *x.shape[1:])
            token_ids = token_ids.repeat(batch_size, 1)
        state = TowerState(
            tower='text', x=x, depth=depth, attn_mask=root.attn_mask,
            prompt_pos=prompt_pos, batch_size=batch_size, num_texts=n_txt,
            token_ids=token_ids, prompts=prompts, hooks=_parse_hooks(hooks),
            tap_layers=_layer_indices(taps, depth, 'taps')
            if taps is not None else (),
            injector=self._inject_text)
        if 0 in prompts:
            state.inject(prompts[0])
        state.x = state.x + root.positional_embedding.to(cast_dtype)
        return state

    def _finish_text(self, state: TowerState, normalize: bool) -> Dict:
        from open_clip.transformer import text_global_pool
        root = self._text_root
        if root is self.clip:
            pool_type, eos_id = self.clip.text_pool_type, getattr(
                self.clip, 'text_eos_id', None)
        else:
            pool_type, eos_id = root.pool_type, root.eos_id
        tokens = root.ln_final(state.x)
        pooled = text_global_pool(tokens, state.token_ids, pool_type,
                                  eos_token_id=eos_id)
        proj = root.text_projection
        if proj is None:
            embeds = pooled
        elif isinstance(proj, nn.Linear):
            embeds = proj(pooled)
        else:
            embeds = pooled @ proj
        if normalize:
            embeds = F.normalize(embeds, dim=-1)
        taps = state.taps
        if state.per_image:
            embeds, pooled, tokens = (state.per_image_view(t)
                                      for t in (embeds, pooled, tokens))
            taps = {k: state.per_image_view(v) for k, v in taps.items()}
        return dict(embeds=embeds, pooled=pooled, tokens=tokens,
                    num_prompts=state.num_prompts, taps=taps)

    def encode_text(self,
                    token_ids: Union[torch.Tensor, Sequence[str]],
                    normalize: bool = False,
                    prompts: PromptSpec = None,
                    hooks=None,
                    taps=None,
                    batch_size: Optional[int] = None,
                    prompt_pos: int = 1,
                    return_dict: bool = False):
        """Text tower.

        Args:
            token_ids (Tensor | list[str]): (N, 77) ids, or strings to
                tokenise.
            normalize (bool): L2-normalise ``embeds``. Defaults to False.
            prompts: Text deep prompts ``{layer: (n, Dt) | (N, n, Dt) |
                (B, N | 1, n, Dt)}``; they replace the tokens at
                ``prompt_pos .. prompt_pos + n``.
            hooks: As in :meth:`encode_image`.
            taps: Block index / indices whose outputs to keep.
            batch_size (int, optional): Run the N sequences once per image
                for B images even without per-image prompts (hooks that make
                them per image). Defaults to None.
            prompt_pos (int): First prompt position. Defaults to 1 (after
                SOT).
            return_dict (bool): Return the dict below.

        Returns:
            Tensor | dict: ``embeds`` (N, E), or (B, N, E) per image; or a
            dict with ``embeds``, ``pooled`` (EOT token after ``ln_final``,
            before the projection), ``tokens`` (after ``ln_final``),
            ``num_prompts`` and ``taps`` (per-image tensors shaped
            (B, N, ...)).
        """
        if not isinstance(token_ids, torch.Tensor):
            token_ids = self.tokenize(token_ids)
        state = self._begin_text(token_ids, prompts, hooks, taps, batch_size,
                                 prompt_pos)
        self._run_tower(state)
        out = self._finish_text(state, normalize)
        return out if return_dict else out['embeds']

    # ---------------------------------------------------------------- joint
    def forward_joint(self,
                      images: torch.Tensor,
                      token_ids: torch.Tensor,
                      callback: Optional[Callable[
                          [int, Optional[TowerState], Optional[TowerState]],
                          None]] = None,
                      vision_prompts: PromptSpec = None,
                      text_prompts: PromptSpec = None,
                      vision_hooks=None,
                      text_hooks=None,
                      vision_taps=None,
                      text_taps=None,
                      text_per_image: bool = False,
                      normalize: bool = False,
                      proj_patches: bool = False,
                      prompt_pos: int = 1,
                      vision_pre_ln_hooks=None) -> Tuple[Dict, Dict]:
        """Run both towers block by block in lockstep.

        At each layer index ``l``, each tower first injects its own prompts
        of layer ``l`` and runs its hooks, then
        ``callback(l, vision_state, text_state)`` may read/modify both
        states (``state.x``, ``state.inject``), then block ``l`` of each
        tower runs. A tower with fewer blocks is passed as None once done.

        Args:
            images (Tensor): (B, 3, H, W).
            token_ids (Tensor): (N, 77).
            callback (callable, optional): See above.
            vision_prompts, text_prompts: As in :meth:`encode_image` /
                :meth:`encode_text`.
            vision_hooks, text_hooks, vision_taps, text_taps: Per tower.
            text_per_image (bool): Run the text once per image (B * N
                sequences), so the callback can make it image-dependent.
                Implied by per-image text prompts.
            normalize (bool): L2-normalise both ``embeds``.
            proj_patches (bool): Also return ``patch_embeds``.
            prompt_pos (int): First text prompt position, as in
                :meth:`encode_text`. Defaults to 1 (after SOT).
            vision_pre_ln_hooks: As ``pre_ln_hooks`` of
                :meth:`encode_image`.

        Returns:
            tuple(dict, dict): The ``return_dict`` outputs of
            :meth:`encode_image` and :meth:`encode_text`.
        """
        vstate = self._begin_vision(images, vision_prompts, vision_hooks,
                                    vision_taps, vision_pre_ln_hooks)
        tstate = self._begin_text(
            token_ids, text_prompts, text_hooks, text_taps,
            images.shape[0] if text_per_image else None,
            prompt_pos=prompt_pos)
        if tstate.batch_size not in (None, images.shape[0]):
            raise ValueError(f'per-image text prompts for '
                             f'{tstate.batch_size} images, got '
                             f'{images.shape[0]} images')
        for layer in range(max(vstate.depth, tstate.depth)):
            live = [s for s in (vstate, tstate) if layer < s.depth]
            for s in live:
                self._pre_block(s)
            if callback is not None:
                callback(layer, vstate if vstate in live else None,
                         tstate if tstate in live else None)
            for s in live:
                self._run_block(s)
        self._pre_block(vstate)
        self._pre_block(tstate)
        return (self._finish_vision(vstate, normalize, proj_patches),
                self._finish_text(tstate, normalize))

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor]:
        """mmpretrain-style backbone output: a 1-tuple with the image
        ``embeds`` (B, E) or, with ``out_type='cls'``, the pre-projection
        CLS (B, Wv)."""
        out = self.encode_image(images, return_dict=True)
        return (out[self.out_type], )
