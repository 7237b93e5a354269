"""Text side of CLIP methods: template ensembles, learnable prompts and a
cache of class text features.

* :class:`TemplateBank`: fixed sentence templates per class (FLIP's six spoof
  and six real templates by default, class order ``[spoof, real]``),
  tokenised once at init into a non-persistent buffer. Class embedding = mean
  of the class's template embeddings, averaged before normalising, then
  L2-normalised (:func:`average_class_embeddings`).
* :class:`PromptLearner`: CoOp / MaPLe / CoCoOp style learnable context,
  shared or class-specific, initialised from a phrase or N(0, 0.02), with
  optional deep per-layer text prompts and an optional conditional per-image
  bias (:class:`~mmfas.models.utils.MetaNet`). Its ``forward`` returns the
  ``token_ids`` and ``prompts`` that
  :meth:`~mmfas.models.backbones.OpenCLIPBackbone.encode_text` takes.
* :class:`TextFeatureCache`: class text features are computed once and
  reused while nothing they depend on can change (module in eval mode, or no
  parameter requiring grad), and dropped on ``train()``/``eval()`` or when a
  parameter is updated in place (its version counter moves), moved or cast.
"""
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmfas.registry import MODELS
from mmfas.structures import score_rule
from .clip_loading import get_clip_tokenizer
from .cocoop import MetaNet

__all__ = [
    'FLIP_TEMPLATES', 'TemplateBank', 'PromptLearner', 'TextFeatureCache',
    'average_class_embeddings', 'placeholder_token_ids'
]

#: FLIP's templates (docs/methods/flip.md); class order [spoof, real].
FLIP_TEMPLATES = {
    'spoof': [
        'This is an example of a spoof face',
        'This is an example of an attack face',
        'This is not a real face',
        'This is how a spoof face looks like',
        'a photo of a spoof face',
        'a printout shown to be a spoof face',
    ],
    'real': [
        'This is an example of a real face',
        'This is a bonafide face',
        'This is a real face',
        'This is how a real face looks like',
        'a photo of a real face',
        'This is not a spoof face',
    ],
}

Tokenizer = Callable[[List[str]], torch.Tensor]


def _get_tokenizer(tokenizer: Union[None, str, Tokenizer],
                   context_length: int = 77) -> Tokenizer:
    if tokenizer is None or isinstance(tokenizer, str):
        return get_clip_tokenizer(tokenizer or 'ViT-B-16', context_length)
    return tokenizer


def _text_params(backbone) -> List[nn.Parameter]:
    if hasattr(backbone, 'text_parameters'):
        return list(backbone.text_parameters())
    return list(backbone.parameters())


def _device_of(backbone) -> torch.device:
    if hasattr(backbone, 'logit_scale'):
        return backbone.logit_scale.device
    return next(backbone.parameters()).device


def average_class_embeddings(embeds: torch.Tensor,
                             class_index: torch.Tensor,
                             num_classes: int,
                             normalize: bool = True) -> torch.Tensor:
    """Mean of the raw template embeddings of each class, then L2-normalised.

    Args:
        embeds (Tensor): (M, E) raw (unnormalised) template embeddings.
        class_index (Tensor): (M,) class of each template.
        num_classes (int): C.
        normalize (bool): L2-normalise the means. Defaults to True.

    Returns:
        Tensor: (C, E).
    """
    sums = embeds.new_zeros(num_classes, embeds.shape[-1]).index_add(
        0, class_index, embeds)
    counts = torch.bincount(class_index, minlength=num_classes)
    if bool((counts == 0).any()):
        raise ValueError(f'a class has no template: counts {counts.tolist()}')
    means = sums / counts.to(embeds.dtype).unsqueeze(1)
    return F.normalize(means, dim=-1) if normalize else means


def placeholder_token_ids(tokenizer: Union[None, str, Tokenizer],
                          texts: Sequence[str],
                          n_ctx: int,
                          placeholder: str = 'X') -> torch.Tensor:
    """Tokenise ``'X X ... X <text>'`` with ``n_ctx`` placeholders right after
    SOT, the token positions that layer-0 text prompts replace.

    Returns:
        LongTensor: (N, context_length).

    Raises:
        ValueError: a text fills the whole context (it was truncated, or
            would be at exactly ``context_length - 2`` tokens), or the
            placeholder is not one token.
    """
    tok = _get_tokenizer(tokenizer)
    prefix = ' '.join([placeholder] * n_ctx)
    ids = tok([f'{prefix} {t}'.strip() for t in texts]).cpu()
    pid = tok([placeholder]).cpu()[0, 1]
    if n_ctx and not bool((ids[:, 1:1 + n_ctx] == pid).all()):
        raise ValueError(f'placeholder {placeholder!r} is not a single token')
    eot = ids.argmax(dim=-1)
    # open_clip truncates long texts and then writes EOT at the last position
    too_long = [t for t, e in zip(texts, eot.tolist())
                if e >= ids.shape[1] - 1 or e <= n_ctx]
    if too_long:
        raise ValueError(f'prompt texts too long for {ids.shape[1]} tokens '
                         f'with {n_ctx} context tokens: {too_long[:3]}')
    return ids


class TextFeatureCache(nn.Module):
    """Caches a text feature tensor while it cannot change.

    :meth:`get` returns the cached value when the module is in eval mode or
    none of ``params`` requires grad, and the parameters are the same objects
    with the same version counters (in-place updates by an optimizer or
    ``load_state_dict`` bump them), devices and dtypes, under the same
    autocast state. ``train()``/``eval()`` empty the cache. In training mode
    with trainable parameters it always recomputes (nothing is kept).

    Attributes:
        num_computed (int): How many times the value was computed (tests).
    """

    def __init__(self):
        super().__init__()
        self._value: Optional[torch.Tensor] = None
        self._key = None
        self.num_computed = 0

    def clear(self) -> None:
        self._value, self._key = None, None

    def train(self, mode: bool = True) -> 'TextFeatureCache':
        self.clear()
        return super().train(mode)

    def _apply(self, fn, *args, **kwargs):
        self.clear()
        return super()._apply(fn, *args, **kwargs)

    @staticmethod
    def _make_key(params: Sequence[nn.Parameter]):
        dev = params[0].device.type if params else 'cpu'
        autocast = (torch.is_autocast_enabled(dev),
                    torch.get_autocast_dtype(dev)
                    if torch.is_autocast_enabled(dev) else None)
        return autocast, tuple((id(p), p._version, p.device, p.dtype)
                               for p in params)

    def get(self, compute: Callable[[], torch.Tensor],
            params: Iterable[nn.Parameter]) -> torch.Tensor:
        """Return ``compute()``, cached when allowed (see class doc)."""
        params = list(params)
        cacheable = not self.training or not any(p.requires_grad
                                                 for p in params)
        if not cacheable:
            self.clear()
            self.num_computed += 1
            return compute()
        key = self._make_key(params)
        if self._value is not None and key == self._key:
            return self._value
        with torch.no_grad():
            value = compute()
        self.num_computed += 1
        self._value, self._key = value.detach(), key
        return self._value


@MODELS.register_module()
class TemplateBank(BaseModule):
    """Fixed templates per class, tokenised once.

    The class order is the score rule's ``[spoof, live]``
    (:mod:`mmfas.structures.score_rule`; class ``i`` of the embeddings is
    label ``i``), with the aliases ``real`` / ``bonafide`` for live and
    ``attack`` for spoof; any other name, count or order is an error.

    Args:
        templates (dict | list, optional): ``{class: [sentences]}`` (the
            keys name one spoof and one live class; they are put in class
            order), or a list of templates with a ``'{}'`` slot filled with
            each of ``class_names``. Defaults to None: FLIP's templates,
            classes ``['spoof', 'real']``.
        class_names (list[str], optional): The class names in class order
            ``[spoof, live]`` (must match the dict keys), or the names that
            fill ``'{}'``, e.g. ``['spoof', 'real']``. Defaults to None.
        tokenizer (str | callable, optional): open_clip tokenizer name or a
            callable such as ``backbone.tokenize``. Defaults to ``'ViT-B-16'``
            (CLIP BPE, offline).
        context_length (int): Defaults to 77.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 templates: Union[Dict[str, Sequence[str]], Sequence[str],
                                  None] = None,
                 class_names: Optional[Sequence[str]] = None,
                 tokenizer: Union[None, str, Tokenizer] = None,
                 context_length: int = 77,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if templates is None:
            templates = FLIP_TEMPLATES
        if isinstance(templates, dict):
            if class_names is not None:
                names = list(class_names)
                if set(names) != set(templates):
                    raise ValueError(f'class_names {names} do not match the '
                                     f'template classes {list(templates)}')
                score_rule.check_class_order(names, 'TemplateBank '
                                             'class_names')
            else:
                # the keys name the classes: put them in the class order
                names = list(templates)
                canon = [score_rule.canonical_class(c) for c in names]
                if sorted(canon) != sorted(score_rule.CLASSES):
                    raise ValueError(
                        f'TemplateBank template classes {names} must be one '
                        f'spoof and one live class {list(score_rule.CLASSES)}'
                        ' (aliases real/bonafide = live, attack = spoof)')
                names = sorted(
                    names,
                    key=lambda c: score_rule.CLASSES.index(
                        score_rule.canonical_class(c)))
            per_class = [list(templates[c]) for c in names]
        else:
            if class_names is None:
                raise ValueError('class_names are needed to fill a list of '
                                 "'{}' templates")
            names = list(class_names)
            score_rule.check_class_order(names, 'TemplateBank class_names')
            bad = [t for t in templates if '{}' not in t]
            if bad:
                raise ValueError(f"templates without a '{{}}' slot: {bad}")
            per_class = [[t.format(c) for t in templates] for c in names]
        if any(not ts for ts in per_class):
            raise ValueError('every class needs at least one template')
        self.class_names = names
        self.templates = per_class
        flat = [t for ts in per_class for t in ts]
        ids = _get_tokenizer(tokenizer, context_length)(flat)
        index = torch.tensor(
            [c for c, ts in enumerate(per_class) for _ in ts])
        self.register_buffer('token_ids', ids.cpu(), persistent=False)
        self.register_buffer('class_index', index, persistent=False)
        self.cache = TextFeatureCache()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _raw(self, backbone) -> torch.Tensor:
        ids = self.token_ids.to(_device_of(backbone))
        return self.cache.get(lambda: backbone.encode_text(ids),
                              _text_params(backbone))

    def template_embeddings(self, backbone,
                            flat: bool = False) -> torch.Tensor:
        """Raw (unnormalised) template embeddings: (C, T, E), or (M, E) with
        ``flat`` (needed when classes have different template counts).
        Cached as described in :class:`TextFeatureCache`."""
        raw = self._raw(backbone)
        if flat:
            return raw
        counts = {len(ts) for ts in self.templates}
        if len(counts) != 1:
            raise ValueError('classes have different template counts; use '
                             'flat=True with class_index')
        return raw.reshape(self.num_classes, counts.pop(), raw.shape[-1])

    def class_embeddings(self, backbone,
                         normalize: bool = True) -> torch.Tensor:
        """(C, E) class text embeddings: per-class mean of the raw template
        embeddings, then L2-normalised."""
        raw = self._raw(backbone)
        return average_class_embeddings(raw, self.class_index.to(raw.device),
                                        self.num_classes, normalize)


@MODELS.register_module()
class PromptLearner(BaseModule):
    """Learnable text context for CLIP prompts (CoOp / MaPLe / CoCoOp).

    The prompt of class c is ``SOT [ctx_1 .. ctx_n] <rest> EOT`` where
    ``<rest>`` is ``template.format(class_name)`` (preceded by the part of
    ``ctx_init`` beyond its first ``n_ctx`` tokens). The class prompts are
    tokenised once; the ``n_ctx`` positions after SOT hold placeholders that
    the layer-0 prompts replace (the EOT index, kept in ``eot_index``, does
    not move).

    Args:
        class_names (list[str]): Class names, in label order.
        backbone (OpenCLIPBackbone, optional): Source of ``width``,
            ``tokenizer``, ``token_embedding`` and ``embed_dim`` (not kept as a
            submodule).
        width (int, optional): Text width (without ``backbone``).
        tokenizer (str | callable, optional): Without ``backbone``.
        token_embedding (nn.Embedding, optional): For ``ctx_init`` without
            ``backbone``.
        n_ctx (int): Context tokens. Defaults to 4.
        ctx_init (str, optional): Phrase whose first ``n_ctx`` token
            embeddings initialise the context (the rest of the phrase stays as
            fixed tokens; missing tokens are drawn at random). None: random
            N(0, ``init_std``). Defaults to ``'a photo of a'``.
        class_specific (bool): One context per class (C, n, D) instead of a
            shared one (n, D). Defaults to False.
        template (str): Class part of the prompt. Defaults to ``'{}.'``.
        depth (int): MaPLe prompt depth J: deep prompts at layers
            1 .. J - 1. Defaults to 1 (no deep prompts).
        deep_layers (list[int], optional): Explicit deep prompt layers (>= 1),
            overriding ``depth``.
        conditional (bool): Add a CoCoOp meta-net bias of the image feature
            to every context vector. Defaults to False.
        embed_dim (int, optional): Image feature size for the meta-net.
        meta_hidden (int, optional): Meta-net hidden size (E // 16).
        init_std (float): Std of random inits. Defaults to 0.02.
        init_cfg (dict, optional): Defaults to None.
    """

    def __init__(self,
                 class_names: Sequence[str],
                 backbone=None,
                 width: Optional[int] = None,
                 tokenizer: Union[None, str, Tokenizer] = None,
                 token_embedding: Optional[nn.Embedding] = None,
                 n_ctx: int = 4,
                 ctx_init: Optional[str] = 'a photo of a',
                 class_specific: bool = False,
                 template: str = '{}.',
                 depth: int = 1,
                 deep_layers: Optional[Sequence[int]] = None,
                 conditional: bool = False,
                 embed_dim: Optional[int] = None,
                 meta_hidden: Optional[int] = None,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if backbone is not None:
            width = width or backbone.text_width
            tokenizer = tokenizer or backbone.tokenize
            token_embedding = token_embedding or backbone.token_embedding
            embed_dim = embed_dim or backbone.embed_dim
        if width is None:
            raise ValueError('PromptLearner needs `backbone` or `width`')
        if n_ctx < 1:
            raise ValueError(f'n_ctx must be >= 1, got {n_ctx}')
        tok = _get_tokenizer(tokenizer)
        self.class_names = list(class_names)
        self.n_ctx = n_ctx
        self.class_specific = class_specific

        ctx = torch.randn(n_ctx, width) * init_std
        rest = ''
        if ctx_init:
            if token_embedding is None:
                raise ValueError('ctx_init needs the token embedding '
                                 '(pass `backbone` or `token_embedding`)')
            phrase = tok([ctx_init]).cpu()[0]
            end = int(phrase.argmax())
            words = phrase[1:end]
            k = min(n_ctx, len(words))
            with torch.no_grad():
                weight = token_embedding.weight
                ctx[:k] = weight[words[:k].to(weight.device)].float().cpu()
            rest = self._phrase_tail(ctx_init, tok, k)
        texts = [f'{rest} {template.format(c)}'.strip()
                 for c in self.class_names]
        ids = placeholder_token_ids(tok, texts, n_ctx)
        if class_specific:
            ctx = ctx.unsqueeze(0).repeat(len(self.class_names), 1, 1)
        self.ctx = nn.Parameter(ctx)
        self.register_buffer('token_ids', ids, persistent=False)
        self.register_buffer('eot_index', ids.argmax(dim=-1),
                             persistent=False)

        if deep_layers is None:
            deep_layers = range(1, depth)
        deep_layers = sorted(set(int(i) for i in deep_layers))
        if any(i < 1 for i in deep_layers):
            raise ValueError(f'deep_layers must be >= 1, got {deep_layers}')
        self.deep_layers = tuple(deep_layers)
        self.deep_ctx = nn.ParameterDict({
            str(i): nn.Parameter(torch.randn(n_ctx, width) * init_std)
            for i in self.deep_layers
        })
        self.meta_net = None
        if conditional:
            if embed_dim is None:
                raise ValueError('conditional=True needs `embed_dim` (or '
                                 '`backbone`)')
            self.meta_net = MetaNet(embed_dim, width, meta_hidden)
        self.cache = TextFeatureCache()

    @staticmethod
    def _phrase_tail(phrase: str, tok, k: int) -> str:
        """The words of ``phrase`` after its first ``k`` tokens (CLIP's BPE
        splits on words, so whole words are kept whenever possible)."""
        words = phrase.split()
        taken = 0
        for i, word in enumerate(words):
            if taken == k:
                return ' '.join(words[i:])
            taken += int(tok([word])[0].argmax()) - 1  # minus SOT
            if taken > k:
                raise ValueError(
                    f'n_ctx={k} ends inside the word {word!r} of ctx_init '
                    f'{phrase!r}; choose n_ctx on a word boundary')
        return ''

    @property
    def conditional(self) -> bool:
        return self.meta_net is not None

    @property
    def prompt_layers(self) -> tuple:
        """Text layers that receive prompts: (0, *deep_layers)."""
        return (0, ) + self.deep_layers

    def forward(self, image_features: Optional[torch.Tensor] = None) -> Dict:
        """
        Args:
            image_features (Tensor, optional): (B, E) image features, required
                when ``conditional``.

        Returns:
            dict: ``token_ids`` (C, 77) and ``prompts`` ``{0: ctx, l: deep}``
            where ctx is (n, D), (C, n, D) class-specific, or (B, 1 | C, n, D)
            conditional; pass both to ``backbone.encode_text``.
        """
        ctx = self.ctx
        if self.conditional:
            if image_features is None:
                raise ValueError('a conditional PromptLearner needs '
                                 'image_features')
            bias = self.meta_net(image_features)  # (B, D)
            ctx = ctx if ctx.dim() == 3 else ctx.unsqueeze(0)
            ctx = ctx.unsqueeze(0) + bias[:, None, None, :].to(ctx.dtype)
        prompts = {0: ctx}
        prompts.update({i: self.deep_ctx[str(i)] for i in self.deep_layers})
        return dict(token_ids=self.token_ids, prompts=prompts)

    def encode(self,
               backbone,
               image_features: Optional[torch.Tensor] = None,
               normalize: bool = True) -> torch.Tensor:
        """Class text features through ``backbone.encode_text``: (C, E), or
        (B, C, E) when conditional. Non-conditional features are cached as
        described in :class:`TextFeatureCache`."""
        def compute():
            out = self(image_features)
            return backbone.encode_text(out['token_ids'], normalize=normalize,
                                        prompts=out['prompts'])

        if self.conditional:
            return compute()
        return self.cache.get(
            compute, list(self.parameters()) + _text_params(backbone))
