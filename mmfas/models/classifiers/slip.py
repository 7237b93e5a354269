"""SLIP (AAAI 2025): spoof-aware one-class FAS with language-image
pretraining.

Training sees live faces only. Language supplies the spoofs: for every live
image SLIP draws a live prompt ``T1``, a partial-attack prompt ``T2`` naming a
covered region and an object, a content prompt ``T3`` and a hybrid prompt
``T4`` (:class:`~mmfas.models.utils.slip_prompts.SLIPPromptSampler`); ``T2``'s
region gives a ground-truth spoof cue map ``m``
(:func:`~mmfas.models.utils.cue_maps.sample_cue_maps`).

Feature maps (``(B, E, h, w)`` on the backbone's patch grid, every map
L2-normalised over channels at each location, ``norm_c``):

* ``z_hat``: the patch tokens after ``ln_post`` and ``proj``;
* ``z = norm_c(0.5 (broadcast E_I(x) + z_hat))``;
* ``t_k = norm_c(0.5 (broadcast E_T(T_k) + z_hat))`` (image-conditioned
  text maps); ``E_I`` / ``E_T`` are CLIP's unnormalised global embeddings.

Modules: fusion ``R`` (:class:`~mmfas.models.heads.SLIPFusion`) and cue
decoder ``D`` (:class:`~mmfas.models.heads.SLIPDecoder`). Losses
(:mod:`mmfas.models.losses.slip_loss`), per training stage:

* ``image`` stage (vision tower + ``D``):
  ``L_L + L_S + L_A + 0.8 L_FA``;
* ``text`` stage (whole text tower incl. token / positional embeddings,
  ``ln_final``, ``text_projection`` + ``R``):
  ``L_L(t1) + L_S + L_R + L_A + 0.8 (L_FD + L_FA)``.

Both stages run on every batch, in that order, through the platform's
staged training (each stage's optimizer owns only its parameters; the other
stage's parameters end a stage with ``grad is None``). At test time no
prompt is needed: spoofness = mean of ``D(z)``, liveness = 1 - spoofness
(the ``spoof_map`` score kind).

Fixes of the official code (default) and ``reference`` switches that
reproduce it, for comparison (each named fix can be switched on alone:
``reference=dict(patch_map=True)``; ``reference=True`` switches all):

* ``patch_map``: official ``z_hat`` = raw residual-stream patch tokens of
  the last block (no ``ln_post`` / ``proj``) truncated to the first ``E``
  channels;
* ``map_scale``: official cue maps are 0..255 (the test score divides by
  255); ours are in [0, 1];
* ``fd_signed``: official ``L_FD`` is the signed cosine (optimum:
  anti-correlation); ours ``|cos|`` (``fd_mode='square'`` for ``cos^2``);
* ``fusion_sign``: official ``L_R`` has the sign inverted;
* ``stretch``: official code min-max stretches every crop to 0..255 before
  CLIP's normalisation.

Stage freezing (official: ``module.requires_grad = False`` sets a plain
attribute, so both steps update everything) and fp32 master weights
(official: an fp16 weight round-trip) are fixed by the platform and have no
switch.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmpretrain.structures import DataSample

from mmfas.registry import MODELS
from ..losses import slip_loss as L
from ..utils.cue_maps import sample_cue_maps
from ..utils.slip_prompts import SLIPPromptSampler
from .base import BaseFASClassifier

__all__ = ['SLIP', 'SLIP_REFERENCE_SWITCHES']

#: Names of the official-code behaviours ``reference`` can switch on.
SLIP_REFERENCE_SWITCHES = ('patch_map', 'map_scale', 'fd_signed',
                           'fusion_sign', 'stretch')


def _build(cfg):
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


def _norm_c(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=1)


def _parse_reference(reference) -> Dict[str, bool]:
    if isinstance(reference, bool):
        return {k: reference for k in SLIP_REFERENCE_SWITCHES}
    if reference is None:
        return {k: False for k in SLIP_REFERENCE_SWITCHES}
    if isinstance(reference, dict):
        unknown = set(reference) - set(SLIP_REFERENCE_SWITCHES)
        if unknown:
            raise ValueError(f'SLIP: unknown reference switch(es) '
                             f'{sorted(unknown)}; choose from '
                             f'{SLIP_REFERENCE_SWITCHES}')
        out = {k: False for k in SLIP_REFERENCE_SWITCHES}
        out.update({k: bool(v) for k, v in reference.items()})
        return out
    raise TypeError(f'SLIP: reference must be a bool or a dict of '
                    f'{SLIP_REFERENCE_SWITCHES}, got {reference!r}')


@MODELS.register_module()
class SLIP(BaseFASClassifier):
    """SLIP one-class FAS model.

    Args:
        backbone (dict): :class:`OpenCLIPBackbone` config (``freeze='none'``:
            the stages decide what trains).
        prompts (dict, optional): :class:`SLIPPromptSampler` arguments.
        decoder (dict, optional): :class:`SLIPDecoder` overrides
            (``channels`` / ``grid`` default to the backbone's).
        fusion (dict, optional): :class:`SLIPFusion` overrides.
        cue_map (dict, optional): ``size`` (32), ``sigmas`` ((2, 4, 6)),
            ``jitter`` (2).
        feature_weight (float): Weight of ``L_FA`` / ``L_FD``. Defaults to
            0.8.
        fd_mode (str): ``'abs'`` (default) or ``'square'``; the official
            ``'signed'`` via ``reference``.
        reference (bool | dict): Official-code behaviours, see the module
            docstring. Defaults to False (all fixes on); logged when set.
        data_preprocessor (dict, optional): Defaults to
            ``FASDataPreprocessor``.
        init_cfg (dict, optional): Defaults to None.
        **kwargs: :class:`BaseFASClassifier` options.
    """

    score_kind = 'spoof_map'
    one_class = True

    def __init__(self,
                 backbone: dict,
                 prompts: Optional[dict] = None,
                 decoder: Optional[dict] = None,
                 fusion: Optional[dict] = None,
                 cue_map: Optional[dict] = None,
                 feature_weight: float = 0.8,
                 fd_mode: str = 'abs',
                 reference: Union[bool, dict, None] = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs):
        super().__init__(data_preprocessor, init_cfg, **kwargs)
        self.backbone = _build(backbone)
        grid = self.backbone.grid_size
        if grid is None or grid[0] != grid[1]:
            raise ValueError(f'SLIP needs a square ViT patch grid, got {grid}')
        e = self.backbone.embed_dim
        self.decoder = _build(dict(dict(type='SLIPDecoder', channels=e,
                                        grid=grid[0]), **(decoder or {})))
        self.fusion = _build(dict(dict(type='SLIPFusion', channels=e),
                                  **(fusion or {})))
        self.prompt_sampler = SLIPPromptSampler(**(prompts or {}))
        cue = dict(size=self.decoder.out_size, sigmas=(2.0, 4.0, 6.0),
                   jitter=2)
        unknown = set(cue_map or {}) - set(cue)
        if unknown:
            raise ValueError(f'SLIP: unknown cue_map key(s) {sorted(unknown)}'
                             f'; expected {sorted(cue)}')
        cue.update(cue_map or {})
        if cue['size'] != self.decoder.out_size:
            raise ValueError(f'SLIP: cue_map size {cue["size"]} != decoder '
                             f'out_size {self.decoder.out_size}')
        self.cue_map = cue
        if fd_mode not in ('abs', 'square'):
            raise ValueError(f"SLIP: fd_mode must be 'abs' or 'square' "
                             f"(the official signed cosine is "
                             f"reference=dict(fd_signed=True)), got "
                             f'{fd_mode!r}')
        self.fd_mode = fd_mode
        self.feature_weight = float(feature_weight)
        self.reference = _parse_reference(reference)
        self.map_scale = 255.0 if self.reference['map_scale'] else 1.0
        # SLIP has no image-text logits: CLIP's logit scale is unused and
        # belongs to neither stage
        self.backbone.logit_scale.requires_grad_(False)
        on = [k for k, v in self.reference.items() if v]
        if on:
            MMLogger.get_current_instance().warning(
                f'SLIP: reproducing the official code\'s behaviour for '
                f'{on} (reference switches); mmfas\' fixes are off for '
                'these.')

    # ------------------------------------------------------------ stages
    def train_stages(self) -> Dict[str, List[torch.nn.Parameter]]:
        """Parameters each stage optimises (image: vision tower + decoder;
        text: text tower + fusion). ``logit_scale`` is in neither."""
        return {
            'image': list(self.backbone.vision_parameters()) +
            list(self.decoder.parameters()),
            'text': list(self.backbone.text_parameters()) +
            list(self.fusion.parameters()),
        }

    # ------------------------------------------------------------- draws
    def set_generator(self, generator: Optional[torch.Generator]) -> None:
        """Use ``generator`` for the prompt and cue-map draws (tests replay
        fixed draws); None = torch's global RNG."""
        self.generator = generator

    def draw(self, batch_size: int):
        """Prompts and target cue maps for a batch; override or
        :meth:`set_generator` to control the draws."""
        d = self.prompt_sampler.sample(batch_size, self.generator)
        maps = sample_cue_maps(d.positions, self.cue_map['size'],
                               self.cue_map['sigmas'],
                               self.cue_map['jitter'], self.map_scale,
                               self.generator)
        return d, maps

    # ---------------------------------------------------------- features
    def _stretch(self, x: torch.Tensor) -> torch.Tensor:
        """Official preprocessing: min-max stretch every crop to 0..255
        (undo and redo the data preprocessor's normalisation)."""
        pre = self.data_preprocessor
        mean = pre.mean.to(x.dtype)
        std = pre.std.to(x.dtype)
        raw = x * std + mean
        lo = raw.amin(dim=(1, 2, 3), keepdim=True)
        hi = raw.amax(dim=(1, 2, 3), keepdim=True)
        raw = (raw - lo) / (hi - lo).clamp_min(1e-6) * 255.0
        return (raw - mean) / std

    def image_maps(self, x: torch.Tensor):
        """``(z, z_hat, E_I)``; ``z``/``z_hat`` are ``(B, E, h, w)``."""
        if self.reference['stretch']:
            x = self._stretch(x)
        out = self.backbone.encode_image(x, return_dict=True,
                                         proj_patches=True)
        h, w = out['patch_grid']
        e = self.backbone.embed_dim
        if self.reference['patch_map']:
            # raw residual stream, no ln_post / proj, first E channels
            zhat = out['tokens'][:, 1:1 + h * w, :e]
        else:
            zhat = out['patch_embeds']
        b = zhat.size(0)
        zhat = zhat.transpose(1, 2).reshape(b, e, h, w)
        z = _norm_c(0.5 * (out['embeds'][:, :, None, None] + zhat))
        return z, zhat, out['embeds']

    def text_maps(self, texts: Sequence[str],
                  zhat: torch.Tensor) -> torch.Tensor:
        """``t = norm_c(0.5 (broadcast E_T(T) + z_hat))`` for one prompt
        per image."""
        ids = self.backbone.tokenize(list(texts)).to(zhat.device)
        emb = self.backbone.encode_text(ids)
        return _norm_c(0.5 * (emb[:, :, None, None].to(zhat.dtype) + zhat))

    def spoof_maps(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted cue maps ``D(z)`` ``(B, 1, S, S)`` on [0, 1] scale."""
        z, _, _ = self.image_maps(self._plain_view(inputs))
        return self.decoder(z) / self.map_scale

    # -------------------------------------------------------------- loss
    def loss_terms(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Every SLIP term on one batch of live images (also the maps
        ``d_z``, ``target`` for inspection)."""
        draw, target = self.draw(x.size(0))
        target = target.to(device=x.device, dtype=x.dtype)
        z, zhat, _ = self.image_maps(x)
        t1 = self.text_maps(draw.live, zhat)
        t2 = self.text_maps(draw.spoof, zhat)
        t3 = self.text_maps(draw.content, zhat)
        t4 = self.text_maps(draw.hybrid, zhat)
        dec = self.decoder
        d_z, d_t1, d_t2 = dec(z), dec(t1), dec(t2)
        fd_mode = 'signed' if self.reference['fd_signed'] else self.fd_mode
        return dict(
            live=L.live_loss(d_z, d_t1),
            live_text=L.live_loss(d_t1),
            spoof=L.spoof_loss(d_t2, target),
            align=L.alignment_loss(z, t1, t2),
            disentangle=L.disentangle_loss([t1, t2, t3], fd_mode),
            fusion=L.fusion_loss(t4, self.fusion(t1, t2),
                                 self.reference['fusion_sign']),
            augment=L.augmentation_loss(dec(self.fusion(z, t2)), target),
            d_z=d_z, target=target)

    def loss(self, inputs, data_samples: List[DataSample],
             stage: Optional[str] = None) -> Dict[str, torch.Tensor]:
        """Losses of one stage (``'image'`` or ``'text'``); ``None`` = the
        sum of both step objectives (single-optimiser use, e.g. the
        benchmark)."""
        x = self._plain_view(inputs)
        if data_samples and 'gt_label' in data_samples[0]:
            labels = self.gt_labels(data_samples, x.device)
            if self.one_class and (labels != 1).any():
                raise ValueError(
                    'SLIP is one-class: training batches must hold live '
                    'faces only (label 1); use a one-class dataset config '
                    '(FASDataset(label="live")).')
        t = self.loss_terms(x)
        w = self.feature_weight
        image = dict(loss_live=t['live'], loss_spoof=t['spoof'],
                     loss_augment=t['augment'],
                     loss_align=w * t['align'])
        text = dict(loss_live_text=t['live_text'], loss_spoof=t['spoof'],
                    loss_fusion=t['fusion'], loss_augment=t['augment'],
                    loss_disentangle=w * t['disentangle'],
                    loss_align=w * t['align'])
        if stage == 'image':
            return image
        if stage == 'text':
            return text
        if stage is None:
            return {f'{k}_{s}': v for s, d in (('image', image),
                                               ('text', text))
                    for k, v in d.items()}
        raise ValueError(f'SLIP: unknown stage {stage!r}; stages are '
                         f'{tuple(self.train_stages())}')

    # ------------------------------------------------------------ scores
    def spoofness(self, inputs: torch.Tensor) -> torch.Tensor:
        """Mean predicted cue map per image (0 = live), unclamped."""
        return self.spoof_maps(inputs).float().mean(dim=(1, 2, 3))

    #: slope of the logistic squash of the mean cue map (see score_output)
    score_squash = 8.0

    def score_output(self, inputs: torch.Tensor) -> torch.Tensor:
        """``(B, )`` spoofness in (0, 1) for the score rule's ``spoof_map``
        kind: the mean predicted cue map ``m`` through a logistic squash
        ``sigmoid(score_squash * (m - 0.5))``.

        The decoder regresses targets in [0, 1] with no bounded output, and
        a model trained on live faces only predicts maps near (often below)
        0 for most faces: clamping ``m`` to [0, 1] would tie every such face
        at spoofness 0 and destroy the ranking. The squash is strictly
        increasing, so rankings, AUC and EER are those of the official
        unbounded ``mean(D(z))``; thresholds are chosen on the squashed
        score (``0.5`` = a mean map of 0.5).
        """
        m = self.spoofness(inputs)
        return torch.sigmoid(self.score_squash * (m - 0.5))
