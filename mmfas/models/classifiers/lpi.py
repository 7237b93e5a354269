"""LPI (CISP-BMEI 2025): layer-wise prompt-guided interaction with
prototypical contrastive learning for FAS domain generalisation.

CLIP-style FAS lets image and text meet once, after the last layer; LPI makes
the two towers interact at several layers (three by default) and separates
live from spoof with a prototype-based contrastive loss. The paper has no
public code: the parts marked **(design)** are our choices, each a switch
with an ablation config (``configs/lpi/README.md``, ``docs/methods/lpi.md``).

Both towers run block by block in lockstep through
:meth:`~mmfas.models.backbones.OpenCLIPBackbone.forward_joint` (its one block
loop per tower, MaPLe's deep-prompt semantics):

* text: ``SOT [ctx_1 .. ctx_n] <class> face. EOT`` for the classes
  ``[spoof, live]`` (:class:`~mmfas.models.utils.PromptLearner`; context
  initialised from a phrase, e.g. FLIP's template ``'a photo of a'``); at
  each deeper interaction layer ``l`` the prompt positions are overwritten by
  fresh layer prompts ``P_l``;
* text -> vision **(design)**: ``TextToVisionPrompt_l(P_l)`` (text width ->
  vision width; ``P_0`` = the context) becomes the visual prompt tokens of
  layer ``l``: appended after the patches the first time (before ``ln_pre``
  at layer 0), overwritten later;
* vision -> text guidance **(design)**: at each interaction layer the text
  prompt tokens of every image's ``C`` sequences cross-attend to that image's
  patch tokens of the same layer (:class:`~mmfas.models.utils.PromptGuidance`)
  and are written back through a gate initialised at 0, so training starts
  exactly at the plain deep-prompt model. From then on the text is per image:
  ``B x C`` sequences.
* classifier: ``logits[b, c] = exp(logit_scale) * cos(img_b, text_{b,c})``
  (per-image class text features; class order ``[spoof, live]``);
* loss: ``CE + lambda * L_pcl``
  (:class:`~mmfas.models.losses.PrototypeContrastiveLoss` on the normalised
  image features; ``lambda`` is its ``loss_weight``).

Cost of per-image text, kept small: the text runs once for the ``C`` class
prompts up to the first guidance layer and is expanded to ``B x C``
sequences there (one text pass per layer for the whole batch); and the text
sequences are cut after the last EOT token (CLIP's text attention is causal
and pools at EOT, so the tokens after it never reach the output; exact,
``truncate_text``). Prompts are at most ~10 of the 77 tokens.

Interaction layers: ``layer l`` = before block ``l``. ``interaction_layers``
are given for a tower of ``layers_of`` blocks (default (3, 6, 9) of 12) and
scaled to the backbone's depth ``d`` as ``l * d // layers_of`` (duplicates
merged), e.g. (0, 1) on the 2-block tiny CLIP; ``layers_of=None`` takes them
as block indices of the backbone as they are.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample
from torch import nn

from mmfas.registry import MODELS
from mmfas.structures import score_rule
from ..utils.prompts import PromptLearner
from .base import BaseFASClassifier

__all__ = ['LPI', 'resolve_interaction_layers']

#: PromptLearner options LPI sets itself
_OWN_PROMPT_KEYS = ('class_names', 'backbone', 'deep_layers', 'depth',
                    'conditional', 'width', 'tokenizer', 'token_embedding',
                    'embed_dim')


def _build(cfg):
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


def resolve_interaction_layers(layers: Union[int, Sequence[int]],
                               layers_of: Optional[int],
                               depth: int) -> Tuple[int, ...]:
    """Interaction layers as sorted block indices of a ``depth``-block
    tower (see the module docstring).

    Raises:
        ValueError: no layer, a non-integer, or a layer outside
            ``0 .. layers_of - 1`` (``0 .. depth - 1`` when ``layers_of`` is
            None; negative indices count from the end there).
    """
    if isinstance(layers, int) and not isinstance(layers, bool):
        layers = [layers]
    layers = list(layers)
    if not layers:
        raise ValueError('LPI: interaction_layers is empty')
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, int):
            raise ValueError(f'LPI: interaction_layers holds {i!r}; expected '
                             'integer layer indices')
    if layers_of is None:
        bad = [i for i in layers if not -depth <= i < depth]
        if bad:
            raise ValueError(f'LPI: interaction_layers {bad} outside the '
                             f'{depth} blocks of the backbone')
        return tuple(sorted({i % depth for i in layers}))
    if not isinstance(layers_of, int) or layers_of < 1:
        raise ValueError(f'LPI: layers_of must be a positive int or None, '
                         f'got {layers_of!r}')
    bad = [i for i in layers if not 0 <= i < layers_of]
    if bad:
        raise ValueError(f'LPI: interaction_layers {bad} outside 0..'
                         f'{layers_of - 1} (layers_of={layers_of})')
    return tuple(sorted({i * depth // layers_of for i in layers}))


def _expand_text_per_image(state, batch_size: int) -> None:
    """Turn the C shared text sequences of a text ``TowerState`` into
    ``batch_size * C`` per-image ones (image-major, the backbone's per-image
    layout), as ``forward_joint(text_per_image=True)`` would have made them
    from the start."""
    def expand(t):
        return t.unsqueeze(0).expand(batch_size, *t.shape).reshape(
            batch_size * t.shape[0], *t.shape[1:])

    state.x = expand(state.x)
    state.token_ids = state.token_ids.repeat(batch_size, 1)
    state.taps = {k: expand(v) for k, v in state.taps.items()}
    state.batch_size = batch_size


def _truncate_text(state, length: int) -> None:
    """Keep the first ``length`` tokens of a text ``TowerState`` (all EOTs
    inside): exact for a causal text tower pooled at EOT."""
    state.x = state.x[:, :length]
    state.token_ids = state.token_ids[:, :length]
    state.attn_mask = state.attn_mask[:length, :length]


@MODELS.register_module()
class LPI(BaseFASClassifier):
    """LPI: layer-wise prompt-guided interaction + prototypical contrastive
    loss (see the module docstring).

    Args:
        backbone (dict): :class:`OpenCLIPBackbone` config. Frozen CLIP
            (``freeze='all'``) is LPI's default; ``freeze='none'`` with a
            small backbone lr is the FLIP-style light fine-tuning switch.
        class_names (list[str]): Class words in the prompts, in the score
            rule's order ``[spoof, live]`` (aliases allowed, e.g.
            ``('spoof', 'real')``). Defaults to ``('spoof', 'live')``.
        prompt (dict, optional): :class:`PromptLearner` options: ``n_ctx``
            (4), ``ctx_init`` (``'a photo of a'``: FLIP's template ``'a
            photo of a {} face'``), ``template`` (``'{} face.'``),
            ``init_std``. The context is shared by the classes.
        interaction_layers (int | list[int]): Defaults to (3, 6, 9).
        layers_of (int, optional): Depth the layers refer to. Defaults to 12.
        guidance (dict, optional): Vision -> text guidance module per
            interaction layer (``text_dim`` / ``vision_dim`` filled in).
            None: no guidance (the text stays shared by the images).
            Defaults to ``dict(type='PromptGuidance')``.
        text_to_vision (dict, optional): Text -> vision projection per
            interaction layer. None: no visual prompts. Defaults to
            ``dict(type='TextToVisionPrompt')``.
        prototype_loss (dict, optional): ``feat_dim`` filled in. None: CE
            only. Defaults to ``dict(type='PrototypeContrastiveLoss')``.
        truncate_text (bool): Cut the text sequences after the last EOT
            (exact; skipped for a non-causal or non-EOT-pooled text tower).
            Defaults to True.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
        **kwargs: :class:`BaseFASClassifier` options
            (``save_trainable_only``).
    """

    def __init__(self,
                 backbone: dict,
                 class_names: Sequence[str] = ('spoof', 'live'),
                 prompt: Optional[dict] = None,
                 interaction_layers: Union[int, Sequence[int]] = (3, 6, 9),
                 layers_of: Optional[int] = 12,
                 guidance: Optional[dict] = dict(type='PromptGuidance'),
                 text_to_vision: Optional[dict] = dict(
                     type='TextToVisionPrompt'),
                 prototype_loss: Optional[dict] = dict(
                     type='PrototypeContrastiveLoss'),
                 truncate_text: bool = True,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(data_preprocessor, init_cfg, **kwargs)
        self.backbone = _build(backbone)
        bb = self.backbone
        score_rule.check_class_order(class_names, 'LPI class_names')
        depth = min(bb.vision_depth, bb.text_depth)
        self.interaction_layers = resolve_interaction_layers(
            interaction_layers, layers_of, depth)
        if layers_of is not None and layers_of != depth:
            MMLogger.get_current_instance().info(
                f'LPI: interaction layers {interaction_layers} of '
                f'{layers_of} -> {self.interaction_layers} of the '
                f"backbone's {depth} blocks")

        prompt = dict(dict(n_ctx=4, ctx_init='a photo of a',
                           template='{} face.'), **(prompt or {}))
        own = sorted(set(prompt) & set(_OWN_PROMPT_KEYS))
        if own:
            raise ValueError(f'LPI: prompt options {own} are set by LPI '
                             '(class_names, interaction_layers, backbone)')
        if prompt.get('class_specific'):
            raise ValueError('LPI: class_specific context is not supported '
                             '(the visual prompts are projected from one '
                             'shared context)')
        self.prompt_learner = PromptLearner(
            list(class_names), backbone=bb,
            deep_layers=[i for i in self.interaction_layers if i > 0],
            **prompt)

        def per_layer(cfg):
            if cfg is None:
                return None
            return nn.ModuleDict({
                str(i): _build(dict(cfg, text_dim=bb.text_width,
                                    vision_dim=bb.vision_width))
                for i in self.interaction_layers
            })

        self.guidance = per_layer(guidance)
        self.text_to_vision = per_layer(text_to_vision)
        self.prototype_loss = None
        if prototype_loss is not None:
            prototype_loss = dict(prototype_loss)
            if prototype_loss.get('prototypes', 'ema') != 'text':
                prototype_loss.setdefault('feat_dim', bb.embed_dim)
            self.prototype_loss = _build(prototype_loss)
        #: cut the text after the last EOT (read at every forward)
        self.truncate_text = truncate_text
        self._text_length = self._truncated_length()

    # ------------------------------------------------------------- features
    def _truncated_length(self) -> Optional[int]:
        """Tokens kept by ``truncate_text``, or None when the text tower is
        not causal with EOT (argmax) pooling."""
        clip = self.backbone.clip
        root = clip.text if hasattr(clip, 'text') else clip
        pool = getattr(root, 'text_pool_type', getattr(root, 'pool_type',
                                                       None))
        mask = getattr(root, 'attn_mask', None)
        if pool != 'argmax' or mask is None or mask.dim() != 2:
            return None
        return int(self.prompt_learner.eot_index.max()) + 1

    def vision_prompts(self, text_prompts: Dict[int, torch.Tensor]
                       ) -> Optional[Dict[int, torch.Tensor]]:
        """``{layer: (n, Dv)}`` visual prompts projected from the text
        prompts of each interaction layer, or None without projections."""
        if self.text_to_vision is None:
            return None
        return {
            i: self.text_to_vision[str(i)](text_prompts[i])
            for i in self.interaction_layers
        }

    def _callback(self, layer: int, vstate, tstate) -> None:
        if tstate is None:
            return
        if layer == 0 and self.truncate_text and \
                self._text_length is not None:
            _truncate_text(tstate, self._text_length)
        if self.guidance is None or vstate is None or \
                str(layer) not in self.guidance:
            return
        if not tstate.per_image:
            _expand_text_per_image(tstate, vstate.batch_size)
        x = tstate.x
        sl = tstate.prompt_slice
        prompts = x[:, sl]  # (B * C, n, Dt)
        b, c, n = vstate.batch_size, tstate.num_texts, prompts.shape[1]
        guided = self.guidance[str(layer)](
            prompts.reshape(b, c * n, prompts.shape[-1]),
            vstate.patch_tokens())
        tstate.x = torch.cat(
            [x[:, :sl.start],
             guided.reshape(b * c, n, -1).to(x.dtype), x[:, sl.stop:]],
            dim=1)

    def extract_feats(self, images: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Both towers in lockstep with the interactions.

        Returns:
            dict: ``image`` (B, E) and ``text`` (B, C, E) per image, or
            (C, E) without guidance; both L2-normalised.
        """
        out = self.prompt_learner()
        text_prompts = out['prompts']
        vout, tout = self.backbone.forward_joint(
            images, out['token_ids'], self._callback,
            vision_prompts=self.vision_prompts(text_prompts),
            text_prompts=text_prompts, text_per_image=False, normalize=True)
        return dict(image=vout['embeds'], text=tout['embeds'])

    def similarity_logits(self, image: torch.Tensor,
                          text: torch.Tensor) -> torch.Tensor:
        """``exp(logit_scale) * cos``: (B, C) for text (C, E) or
        (B, C, E)."""
        img = F.normalize(image, dim=-1)
        txt = F.normalize(text, dim=-1).to(img.dtype)
        scale = self.backbone.logit_scale.exp()
        if txt.dim() == 2:
            return scale * img @ txt.t()
        return scale * torch.einsum('be,bce->bc', img, txt)

    def logits(self, inputs: torch.Tensor) -> torch.Tensor:
        feats = self.extract_feats(inputs)
        return self.similarity_logits(feats['image'], feats['text'])

    # ----------------------------------------------------------------- loss
    @staticmethod
    def domain_labels(data_samples: List[DataSample],
                      device=None) -> torch.Tensor:
        missing = [i for i, s in enumerate(data_samples)
                   if 'domain_label' not in s]
        if missing:
            raise ValueError(
                f'LPI: asymmetric prototypes need each data sample\'s '
                f'domain_label (set by FASDataset); samples {missing[:5]} '
                'have none')
        return torch.cat([torch.as_tensor(s.domain_label).reshape(-1)
                          for s in data_samples]).to(device)

    def loss(self, inputs, data_samples: List[DataSample],
             return_terms: bool = False):
        """``loss_ce`` and, with a prototype loss, ``loss_pcl`` (already
        weighted by its ``loss_weight``). ``return_terms=True`` also returns
        ``dict(logits=(B, 2), image_embeds=(B, E), text_embeds=(B, C, E) |
        (C, E))``."""
        x = self._views(inputs)
        labels = self.gt_labels(data_samples, x.device)
        feats = self.extract_feats(x)
        logits = self.similarity_logits(feats['image'], feats['text'])
        losses = dict(loss_ce=F.cross_entropy(logits, labels))
        if self.prototype_loss is not None:
            domains = self.domain_labels(data_samples, x.device) \
                if self.prototype_loss.uses_domains else None
            losses['loss_pcl'] = self.prototype_loss(
                feats['image'], labels, domains, text_features=feats['text'])
        if not return_terms:
            return losses
        return losses, dict(logits=logits, image_embeds=feats['image'],
                            text_embeds=feats['text'])
