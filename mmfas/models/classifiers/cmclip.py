"""CM-CLIP (Machine Intelligence Research 2026): few-shot cross-modal FAS
generalisation (much RGB, K shots of depth or NIR; test on that modality)
via prompt learning on a frozen CLIP.

No public code exists; this is written from the paper's description
(``docs/methods/cmclip.md``). Parts marked **(design)** are our choices,
each switchable in the config.

Text branch: **fine-grained prompt learning (FGPL)**. A sample is described
at three levels with two learnable contexts, a *content* context (``n_ctx``
vectors, shared by every class and modality) and a *modality* context
(``n_modality_ctx`` vectors per modality):

* category prompts ``[content ctx] {class} face.`` (C sequences);
* modality prompts ``[modality ctx] {modality}.`` (M sequences; words
  ``color`` / ``depth`` / ``infrared``);
* mixed prompts ``[content ctx][modality ctx] {class} face, {modality}.``
  (M x C sequences).

The contexts replace placeholder tokens after SOT (layer-0 text prompts of
:meth:`~mmfas.models.backbones.OpenCLIPBackbone.encode_text`). Losses, with
``loss_weights``: CE over the category prompts (label), CE over the modality
prompts (modality), and CE over the mixed prompts of the sample's own
modality (label; **(design)** ``mixed_targets='all'`` takes the CE over all
M x C mixed prompts with target (modality, label) instead). Inference uses
the category logits only (score kind ``'logits'``, class order
``[spoof, live]``).

**Modality-context shuffle** (diversification): at every training forward a
permutation of the modalities present in the batch is drawn
(:meth:`draw_modality_permutation`, from the model's injectable
``generator``, so it is seeded and replayable) and the mixed prompt of
modality ``m`` is built with the modality context of ``perm[m]`` while its
words still name ``m``. **(design)** Only the mixed prompts are shuffled by
default (``shuffle_in``); modalities absent from the batch keep their own
context.

**Modal generalisation 1**: a decorrelation loss
(:class:`~mmfas.models.losses.DecorrelationLoss`; squared cosine by default,
covariance / HSIC as options) between the category (content) prompt
features and the modality prompt features.

**Modal generalisation 2**: an input-conditional token per image: the
platform's CoCoOp :class:`~mmfas.models.utils.MetaNet` maps the image
feature to a bias added to every context vector of that image's prompts
(``conditional_mode='add'``, CoCoOp's form, the text tower then runs per
image) or **(design)** appended after the context as one extra token
(``'token'``).

Image branch: the **ADC-Adapter** is the backbone's parallel adapter
(``backbone.adapters=dict(vision=dict(conv='adc', ...))``,
:class:`~mmfas.models.utils.ParallelAdapter` with the project's one
:class:`~mmfas.models.utils.CDCConv2d`, learnable ``theta = sigmoid(raw)``);
zero-initialised up-projections make the model start at the pretrained CLIP.
CLIP itself is frozen (``freeze_clip``); only the adapters, the two contexts
and the meta-net train, and checkpoints hold only them
(``save_trainable_only``).

Why not :class:`~mmfas.models.utils.PromptLearner`: it learns one context in
front of one template; FGPL concatenates two contexts (one of them chosen
per modality, and shuffled) in front of three templates. The pieces it is
made of are reused: :func:`~mmfas.models.utils.placeholder_token_ids`,
:class:`~mmfas.models.utils.MetaNet`,
:class:`~mmfas.models.utils.TextFeatureCache`.
"""
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample
from torch import nn

from mmfas.datasets.annotation import MODALITIES
from mmfas.registry import MODELS
from mmfas.structures import score_rule
from ..utils.cocoop import MetaNet
from ..utils.prompts import TextFeatureCache, placeholder_token_ids
from .base import BaseFASClassifier

__all__ = ['CMCLIP', 'FGPL_LEVELS', 'MODALITY_WORDS']

#: the three FGPL prompt levels
FGPL_LEVELS = ('category', 'modality', 'mixed')
#: modality names used in the prompts (docs/methods/cmclip.md)
MODALITY_WORDS = dict(rgb='color', depth='depth', ir='infrared')


def _build(cfg):
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class CMCLIP(BaseFASClassifier):
    """CM-CLIP: FGPL prompts + decorrelation + conditional token + ADC
    adapters on a frozen CLIP (see the module docstring).

    Args:
        backbone (dict): :class:`~mmfas.models.backbones.OpenCLIPBackbone`
            config; the ADC-Adapter is its ``adapters`` option.
        class_names (list[str]): Class words in class order ``[spoof,
            live]``. Defaults to ``('spoof', 'live')``.
        modalities (list[str]): The modalities the model has prompts for, a
            subset of ``('rgb', 'depth', 'ir')``; every training sample's
            modality must be one of them (inference needs none). Defaults to
            all three.
        modality_words (dict, optional): Word per modality in the prompts.
            Defaults to :data:`MODALITY_WORDS`.
        n_ctx (int): Content context vectors. Defaults to 16.
        n_modality_ctx (int): Modality context vectors per modality.
            Defaults to 16.
        content_class_specific (bool): One content context per class
            instead of a shared one. Defaults to False.
        templates (dict, optional): ``category`` (with ``{cls}``),
            ``modality`` (``{mod}``) and ``mixed`` (both) texts after the
            context. Defaults to ``'{cls} face.'``, ``'{mod}.'``,
            ``'{cls} face, {mod}.'``.
        init_std (float): Std of the N(0, std) context init. Defaults to
            0.02.
        levels (list[str]): FGPL levels with a loss, from
            ``('category', 'modality', 'mixed')``; ``'category'`` is
            required (inference). ``('category', )`` alone is CoOp with a
            shared context. Defaults to all three.
        loss_weights (dict, optional): Weights of ``category``,
            ``modality`` and ``mixed``. Defaults to 1.0 each.
        mixed_targets (str): ``'modality'``: CE over the C mixed prompts of
            the sample's modality; ``'all'``: CE over all M x C mixed
            prompts. Defaults to ``'modality'``.
        shuffle_modality_ctx (bool): Shuffle the modality contexts across
            the batch's modalities at every training forward. Defaults to
            True.
        shuffle_in (list[str]): Prompt levels built with the shuffled
            contexts (``'mixed'``, ``'modality'``). Defaults to
            ``('mixed', )``.
        decorrelation (dict, optional): Loss config
            (:class:`~mmfas.models.losses.DecorrelationLoss`) between the
            category and modality prompt features; None switches it off.
            Defaults to ``dict(type='DecorrelationLoss', mode='cosine2')``.
        conditional (bool): Input-conditional token (CoCoOp meta-net).
            Defaults to True.
        conditional_mode (str): ``'add'`` (bias added to every context
            vector) or ``'token'`` (appended as one token). Defaults to
            ``'add'``.
        meta_hidden (int, optional): Meta-net hidden size (E // 16).
        freeze_clip (bool): Freeze every CLIP weight
            (``backbone.set_freeze('all')``); the adapters stay trainable.
            Defaults to True.
        save_trainable_only (bool): Trainable-only checkpoints. Defaults to
            True.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 backbone: dict,
                 class_names: Sequence[str] = ('spoof', 'live'),
                 modalities: Sequence[str] = MODALITIES,
                 modality_words: Optional[Dict[str, str]] = None,
                 n_ctx: int = 16,
                 n_modality_ctx: int = 16,
                 content_class_specific: bool = False,
                 templates: Optional[Dict[str, str]] = None,
                 init_std: float = 0.02,
                 levels: Sequence[str] = FGPL_LEVELS,
                 loss_weights: Optional[Dict[str, float]] = None,
                 mixed_targets: str = 'modality',
                 shuffle_modality_ctx: bool = True,
                 shuffle_in: Sequence[str] = ('mixed', ),
                 decorrelation: Optional[dict] = dict(
                     type='DecorrelationLoss', mode='cosine2'),
                 conditional: bool = True,
                 conditional_mode: str = 'add',
                 meta_hidden: Optional[int] = None,
                 freeze_clip: bool = True,
                 save_trainable_only: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(data_preprocessor, init_cfg,
                         save_trainable_only=save_trainable_only)
        self.backbone = _build(backbone)
        if freeze_clip:
            self.backbone.set_freeze('all')

        # ---- configuration checks (clear errors naming the key)
        self.class_names = list(class_names)
        score_rule.check_class_order(self.class_names, 'CMCLIP class_names')
        self.modalities = tuple(modalities)
        bad = [m for m in self.modalities if m not in MODALITIES]
        if bad or not self.modalities or \
                len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f'CMCLIP modalities={list(modalities)}: expected '
                             f'distinct names from {list(MODALITIES)}')
        words = dict(MODALITY_WORDS, **(modality_words or {}))
        self.levels = tuple(levels)
        if set(self.levels) - set(FGPL_LEVELS) or 'category' not in \
                self.levels:
            raise ValueError(f'CMCLIP levels={list(levels)}: a subset of '
                             f'{FGPL_LEVELS} that holds \'category\' '
                             '(inference uses the category logits)')
        weights = dict(category=1.0, modality=1.0, mixed=1.0)
        unknown = set(loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'CMCLIP loss_weights: unknown keys '
                             f'{sorted(unknown)}; use {sorted(weights)}')
        weights.update(loss_weights or {})
        self.loss_weights = weights
        if mixed_targets not in ('modality', 'all'):
            raise ValueError(f"CMCLIP mixed_targets={mixed_targets!r}; "
                             "choose 'modality' or 'all'")
        self.mixed_targets = mixed_targets
        self.shuffle_modality_ctx = shuffle_modality_ctx
        self.shuffle_in = tuple(shuffle_in)
        if set(self.shuffle_in) - {'mixed', 'modality'}:
            raise ValueError(f'CMCLIP shuffle_in={list(shuffle_in)}: use '
                             "'mixed' and/or 'modality'")
        if conditional_mode not in ('add', 'token'):
            raise ValueError(f"CMCLIP conditional_mode={conditional_mode!r};"
                             " choose 'add' or 'token'")
        self.conditional_mode = conditional_mode
        tpl = dict(category='{cls} face.', modality='{mod}.',
                   mixed='{cls} face, {mod}.')
        unknown = set(templates or {}) - set(tpl)
        if unknown:
            raise ValueError(f'CMCLIP templates: unknown keys '
                             f'{sorted(unknown)}; use {sorted(tpl)}')
        tpl.update(templates or {})
        for key, need in (('category', ['{cls}']), ('modality', ['{mod}']),
                          ('mixed', ['{cls}', '{mod}'])):
            if any(n not in tpl[key] for n in need):
                raise ValueError(f'CMCLIP templates.{key}={tpl[key]!r} must '
                                 f'hold {" and ".join(need)}')
        self.templates = tpl
        if n_ctx < 1 or n_modality_ctx < 1:
            raise ValueError(f'CMCLIP n_ctx={n_ctx}, n_modality_ctx='
                             f'{n_modality_ctx}: both must be >= 1')

        # ---- learnable contexts
        width = self.backbone.text_width
        c, m = len(self.class_names), len(self.modalities)
        shape = (c, n_ctx, width) if content_class_specific else \
            (n_ctx, width)
        self.content_ctx = nn.Parameter(torch.randn(*shape) * init_std)
        self.decorrelation = _build(decorrelation) \
            if decorrelation is not None else None
        uses_modality = {'modality', 'mixed'} & set(self.levels) or \
            self.decorrelation is not None
        self.modality_ctx = nn.Parameter(
            torch.randn(m, n_modality_ctx, width) * init_std) \
            if uses_modality else None
        self.meta_net = MetaNet(self.backbone.embed_dim, width,
                                meta_hidden) if conditional else None

        # ---- token ids with placeholders where the contexts go
        extra = 1 if conditional and conditional_mode == 'token' else 0
        tok = self.backbone.tokenize
        mod_words = [words[x] for x in self.modalities]
        self.register_buffer(
            'category_ids', placeholder_token_ids(
                tok, [tpl['category'].format(cls=k)
                      for k in self.class_names], n_ctx + extra).cpu(),
            persistent=False)
        if self.modality_ctx is not None:
            self.register_buffer(
                'modality_ids', placeholder_token_ids(
                    tok, [tpl['modality'].format(mod=w) for w in mod_words],
                    n_modality_ctx + extra).cpu(), persistent=False)
            # modality-major: sequence m * C + c
            self.register_buffer(
                'mixed_ids', placeholder_token_ids(
                    tok, [tpl['mixed'].format(cls=k, mod=w)
                          for w in mod_words for k in self.class_names],
                    n_ctx + n_modality_ctx + extra).cpu(), persistent=False)
        self.cache = TextFeatureCache()

    # ------------------------------------------------------------ prompts
    @property
    def conditional(self) -> bool:
        return self.meta_net is not None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _content(self) -> torch.Tensor:
        """(C, n, D) content context per class."""
        ctx = self.content_ctx
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(self.num_classes, -1, -1)
        return ctx

    def _condition(self, prompts: torch.Tensor,
                   bias: Optional[torch.Tensor]) -> torch.Tensor:
        """(N, n, D) prompts -> (B, N, n[+1], D) with the conditional token,
        or unchanged without one."""
        if bias is None:
            return prompts
        b = bias[:, None, None, :].to(prompts.dtype)  # (B, 1, 1, D)
        if self.conditional_mode == 'add':
            return prompts.unsqueeze(0) + b
        n_seq = prompts.shape[0]
        return torch.cat([
            prompts.unsqueeze(0).expand(b.shape[0], -1, -1, -1),
            b.expand(-1, n_seq, -1, -1)
        ], dim=2)

    def category_prompts(self, bias: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
        """``[content ctx]`` of the C category prompts: (C, n, D), or
        (B, C, n', D) with the conditional ``bias`` (B, D)."""
        return self._condition(self._content(), bias)

    def modality_prompts(self, bias: Optional[torch.Tensor] = None,
                         perm: Optional[torch.Tensor] = None
                         ) -> torch.Tensor:
        """``[modality ctx]`` of the M modality prompts (contexts taken in
        the order ``perm`` when given)."""
        ctx = self.modality_ctx if perm is None else self.modality_ctx[perm]
        return self._condition(ctx, bias)

    def mixed_prompts(self, bias: Optional[torch.Tensor] = None,
                      perm: Optional[torch.Tensor] = None) -> torch.Tensor:
        """``[content ctx][modality ctx]`` of the M x C mixed prompts
        (modality-major); modality ``m``'s prompts get the modality context
        of ``perm[m]``."""
        mod = self.modality_ctx if perm is None else self.modality_ctx[perm]
        content = self._content()  # (C, n, D)
        m, c = mod.shape[0], content.shape[0]
        ctx = torch.cat([
            content.unsqueeze(0).expand(m, -1, -1, -1),
            mod.unsqueeze(1).expand(-1, c, -1, -1)
        ], dim=2).reshape(m * c, -1, content.shape[-1])
        return self._condition(ctx, bias)

    def _encode(self, ids: torch.Tensor, prompts: torch.Tensor
                ) -> torch.Tensor:
        return self.backbone.encode_text(ids.to(prompts.device),
                                         normalize=True, prompts=prompts)

    def draw_modality_permutation(self, modality_index: torch.Tensor
                                  ) -> torch.Tensor:
        """A permutation of ``range(M)`` that shuffles the modalities
        present in ``modality_index`` among themselves (the others stay in
        place), drawn with :meth:`draw_randperm` (the model's
        ``generator``). Override or set ``generator`` to fix it."""
        m = len(self.modalities)
        perm = torch.arange(m, device=modality_index.device)
        present = torch.unique(modality_index)
        if present.numel() > 1:
            order = self.draw_randperm(present.numel(),
                                       device=modality_index.device)
            perm[present] = present[order]
        return perm

    # ---------------------------------------------------------- features
    def image_features(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, E) raw image embeddings (through the adapters)."""
        return self.backbone.encode_image(inputs)

    def category_features(self, image_embeds: Optional[torch.Tensor] = None
                          ) -> torch.Tensor:
        """Normalised category prompt features: (C, E), or (B, C, E) when
        conditional. Cached in eval mode when not conditional."""
        if self.conditional:
            if image_embeds is None:
                raise ValueError('a conditional CMCLIP needs the image '
                                 'embeddings for its text features')
            return self._encode(self.category_ids,
                                self.category_prompts(
                                    self.meta_net(image_embeds)))
        return self.cache.get(
            lambda: self._encode(self.category_ids, self.category_prompts()),
            [self.content_ctx] + list(self.backbone.text_parameters()))

    def _similarity(self, img: torch.Tensor, text: torch.Tensor
                    ) -> torch.Tensor:
        """``exp(logit_scale) * cos``: (B, E) x (N, E) or (B, N, E) ->
        (B, N)."""
        img = F.normalize(img, dim=-1)
        text = text.to(img.dtype)
        scale = self.backbone.logit_scale.exp()
        if text.dim() == 2:
            return scale * img @ text.t()
        return scale * torch.einsum('be,bne->bn', img, text)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, 2) category logits ``[spoof, live]`` (inference)."""
        img = self.image_features(inputs)
        return self._similarity(img, self.category_features(img))

    # -------------------------------------------------------------- loss
    def modality_index(self, data_samples: List[DataSample],
                       device=None) -> torch.Tensor:
        """Position of each sample's modality in :attr:`modalities`."""
        out = []
        for i, s in enumerate(data_samples):
            if 'modality_label' in s:
                label = int(torch.as_tensor(s.modality_label).reshape(-1)[0])
                if not 0 <= label < len(MODALITIES):
                    raise ValueError(f'data sample {i}: modality_label '
                                     f'{label} outside {list(MODALITIES)}')
                name = MODALITIES[label]
            elif 'modality' in s:
                name = s.modality
            else:
                raise ValueError(
                    f'CMCLIP: data sample {i} has neither modality_label nor '
                    'modality (one modality per sample: FASDataset with '
                    "modality_mode='expand' or a single modality)")
            if name not in self.modalities:
                raise ValueError(
                    f'CMCLIP: data sample {i} has modality {name!r}, not one '
                    f'of the model\'s modalities {list(self.modalities)} '
                    "(stacked 'paired' inputs are not supported)")
            out.append(self.modalities.index(name))
        return torch.tensor(out, dtype=torch.long, device=device)

    def loss(self, inputs, data_samples: List[DataSample],
             return_terms: bool = False):
        """FGPL losses (``loss_category``, ``loss_modality``,
        ``loss_mixed``, each weighted) and ``loss_decorrelation``.

        ``return_terms=True`` also returns ``category_logits`` (B, C),
        ``modality_logits`` (B, M), ``mixed_logits`` (B, C) or (B, M * C),
        ``category_features`` / ``modality_features`` / ``mixed_features``
        (normalised text features), ``image_embeds``, ``modality_index``
        (B, ), ``modality_perm`` (M, ) and ``conditional_bias`` (B, D).
        """
        x = self._views(inputs)
        labels = self.gt_labels(data_samples, x.device)
        need_mod = self.modality_ctx is not None
        mod_idx = self.modality_index(data_samples, x.device) \
            if need_mod else None
        img = self.image_features(x)
        bias = self.meta_net(img) if self.conditional else None
        perm = None
        if need_mod and self.shuffle_modality_ctx and self.shuffle_in:
            perm = self.draw_modality_permutation(mod_idx)
        w = self.loss_weights
        terms = dict(image_embeds=img, modality_index=mod_idx,
                     modality_perm=perm, conditional_bias=bias)
        losses = {}

        cat_feat = self._encode(self.category_ids,
                                self.category_prompts(bias))
        cat_logits = self._similarity(img, cat_feat)
        losses['loss_category'] = w['category'] * F.cross_entropy(
            cat_logits, labels)
        terms.update(category_logits=cat_logits, category_features=cat_feat)

        if 'modality' in self.levels or self.decorrelation is not None:
            p = perm if 'modality' in self.shuffle_in else None
            mod_feat = self._encode(self.modality_ids,
                                    self.modality_prompts(bias, p))
            terms['modality_features'] = mod_feat
            if 'modality' in self.levels:
                mod_logits = self._similarity(img, mod_feat)
                losses['loss_modality'] = w['modality'] * F.cross_entropy(
                    mod_logits, mod_idx)
                terms['modality_logits'] = mod_logits
            if self.decorrelation is not None:
                losses['loss_decorrelation'] = self.decorrelation(
                    cat_feat, mod_feat)

        if 'mixed' in self.levels:
            p = perm if 'mixed' in self.shuffle_in else None
            mix_feat = self._encode(self.mixed_ids,
                                    self.mixed_prompts(bias, p))
            terms['mixed_features'] = mix_feat
            c = self.num_classes
            if self.mixed_targets == 'all':
                mix_logits = self._similarity(img, mix_feat)
                target = mod_idx * c + labels
            else:  # the C mixed prompts of the sample's own modality
                per_mod = mix_feat.unflatten(-2, (-1, c))  # ([B,] M, C, E)
                own = per_mod[mod_idx] if per_mod.dim() == 3 else \
                    per_mod[torch.arange(len(mod_idx)), mod_idx]
                mix_logits = self._similarity(img, own)
                target = labels
            losses['loss_mixed'] = w['mixed'] * F.cross_entropy(
                mix_logits, target)
            terms['mixed_logits'] = mix_logits
        return (losses, terms) if return_terms else losses
