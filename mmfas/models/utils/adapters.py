"""Central-difference convolution and the parallel bottleneck adapter.

:class:`CDCConv2d` is the one central-difference convolution of mmfas (CDCN,
Yu et al. 2020), written from its definition::

    y = conv(x) - theta * (sum of the kernel weights) * x_center

i.e. a vanilla convolution minus ``theta`` times the centre pixel of each
window multiplied by the summed kernel (``theta = 0``: vanilla conv,
``theta = 1``: pure central difference). ``theta`` is fixed or learnable as
``sigmoid(raw)``. A learned gate ``alpha`` between the vanilla and a pure CDC
output, ``(1 - alpha) * conv(x) + alpha * (conv(x) - diff)``, equals
``conv(x) - alpha * diff``: the learnable-theta form covers it.

:class:`ParallelAdapter` is a bottleneck ``down -> act -> [conv] -> [act] ->
dropout -> up`` run in parallel with a transformer block's attention or MLP
(see :class:`~mmfas.models.backbones.OpenCLIPBackbone`, argument
``adapters``). With ``conv`` it becomes CM-CLIP's ADC-Adapter: the patch
tokens are reshaped to their grid (14 x 14 for ViT-B/16 at 224 px) and go
through a 3 x 3 (central-difference) conv; the CLS token and any prompt
tokens bypass the conv and only see the bottleneck. The up-projection starts
at zero, so a model with fresh adapters computes exactly what CLIP computes.
"""
import math
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from mmfas.registry import MODELS

__all__ = ['CDCConv2d', 'ParallelAdapter']


@MODELS.register_module()
class CDCConv2d(nn.Conv2d):
    """Central-difference 2d convolution.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels.
        kernel_size (int): Odd kernel size. Defaults to 3.
        stride (int): Defaults to 1.
        padding (int, optional): Must be ``dilation * (kernel_size // 2)`` so
            that each window's centre is the input pixel the 1 x 1 difference
            term samples; None picks it. Defaults to None.
        dilation (int): Defaults to 1.
        groups (int): Defaults to 1.
        bias (bool): Defaults to False. The bias is not part of the
            difference term.
        theta (float): The (initial) weight of the central-difference term,
            in [0, 1]. Defaults to 0.7 (CDCN).
        learnable_theta (bool): Learn ``theta = sigmoid(theta_raw)``, with
            ``theta_raw`` initialised to ``logit(theta)`` (0 for 0.5).
            Defaults to False.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 kernel_size: int = 3,
                 stride: int = 1,
                 padding: Optional[int] = None,
                 dilation: int = 1,
                 groups: int = 1,
                 bias: bool = False,
                 theta: float = 0.7,
                 learnable_theta: bool = False):
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        same = dilation * (kernel_size // 2)
        if padding is None:
            padding = same
        if padding != same:
            raise ValueError(
                f'padding must be dilation * (kernel_size // 2) = {same} for '
                f'the centre term to line up, got {padding}')
        if not 0.0 <= theta <= 1.0:
            raise ValueError(f'theta must be in [0, 1], got {theta}')
        super().__init__(in_channels, out_channels, kernel_size, stride,
                         padding, dilation, groups, bias)
        self.learnable_theta = learnable_theta
        if learnable_theta:
            if theta in (0.0, 1.0):
                raise ValueError('a learnable theta needs 0 < theta < 1 '
                                 f'(sigmoid parametrisation), got {theta}')
            self.theta_raw = nn.Parameter(
                torch.tensor(math.log(theta / (1.0 - theta))))
        else:
            self._theta = float(theta)

    @property
    def theta(self) -> Union[float, torch.Tensor]:
        """The current theta (a tensor when learnable)."""
        if self.learnable_theta:
            return torch.sigmoid(self.theta_raw)
        return self._theta

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x)
        theta = self.theta
        if not self.learnable_theta and theta == 0.0:
            return out
        # sum of kernel weights applied to the window centre = 1x1 conv
        kernel_sum = self.weight.sum(dim=(2, 3), keepdim=True)
        centre = F.conv2d(x, kernel_sum, None, self.stride, 0, 1, self.groups)
        return out - theta * centre

    def extra_repr(self) -> str:
        theta = ('learnable' if self.learnable_theta else f'{self._theta}')
        return super().extra_repr() + f', theta={theta}'


_ACTS = {
    'quick_gelu': lambda: _QuickGELU(),
    'gelu': nn.GELU,
    'relu': nn.ReLU,
    'identity': nn.Identity,
}


class _QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)`` (CLIP's activation)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


@MODELS.register_module()
class ParallelAdapter(BaseModule):
    """Bottleneck adapter run in parallel with a block's attention or MLP.

    The backbone computes ``x + attn(ln_1(x)) + adapter(ln_1(x))`` (same for
    the MLP with ``ln_2``); this module returns
    ``scale * up(dropout(act(conv(act(down(h))))))``, where the conv stage
    exists only when ``conv`` is set and only touches the patch tokens.

    Args:
        in_dim (int): Token width (the backbone fills it in).
        bottleneck (int): Hidden width. Defaults to 8.
        act (str): ``'quick_gelu'``, ``'gelu'``, ``'relu'`` or
            ``'identity'``. Defaults to ``'quick_gelu'``.
        conv (str, optional): None (plain bottleneck), ``'vanilla'`` (3 x 3
            conv), ``'cdc'`` (central difference, fixed theta) or ``'adc'``
            (adaptive: learnable ``theta = sigmoid(raw)``). Defaults to None.
        theta (float, optional): CDC theta (initial value for ``'adc'``).
            Defaults to 0.7 for ``'cdc'`` and 0.5 for ``'adc'``.
        kernel_size (int): Conv kernel size. Defaults to 3.
        dropout (float): Dropout before the up-projection. Defaults to 0.1.
        scale (float): The factor ``s``. Defaults to 1.0.
        learnable_scale (bool): Learn ``s``. Defaults to False.
        zero_init_up (bool): Zero-init the up-projection (the adapter starts
            as an identity residual). Defaults to True.
        init_cfg (dict, optional): mmengine init config. Defaults to None.
    """

    def __init__(self,
                 in_dim: int,
                 bottleneck: int = 8,
                 act: str = 'quick_gelu',
                 conv: Optional[str] = None,
                 theta: Optional[float] = None,
                 kernel_size: int = 3,
                 dropout: float = 0.1,
                 scale: float = 1.0,
                 learnable_scale: bool = False,
                 zero_init_up: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if act not in _ACTS:
            raise ValueError(f'act={act!r}; choose from {sorted(_ACTS)}')
        conv_modes = (None, 'vanilla', 'cdc', 'adc')
        if conv not in conv_modes:
            raise ValueError(f'conv={conv!r}; choose from {conv_modes}')
        self.in_dim = in_dim
        self.conv_mode = conv
        self.zero_init_up = zero_init_up
        self.down = nn.Linear(in_dim, bottleneck)
        self.act = _ACTS[act]()
        self.conv = None
        if conv is not None:
            theta = {'vanilla': 0.0, 'cdc': 0.7, 'adc': 0.5}[conv] \
                if theta is None else theta
            if conv == 'vanilla' and theta != 0.0:
                raise ValueError("conv='vanilla' means theta=0")
            self.conv = CDCConv2d(bottleneck, bottleneck, kernel_size,
                                  theta=theta,
                                  learnable_theta=(conv == 'adc'))
            self.act_conv = _ACTS[act]()
        self.dropout = nn.Dropout(dropout)
        self.up = nn.Linear(bottleneck, in_dim)
        if learnable_scale:
            self.scale = nn.Parameter(torch.tensor(float(scale)))
        else:
            self.scale = float(scale)
        self._reset_projections()

    def _reset_projections(self) -> None:
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.down.bias)
        if self.zero_init_up:
            nn.init.zeros_(self.up.weight)
            nn.init.zeros_(self.up.bias)

    def init_weights(self) -> None:
        """Default init (zero up-projection) unless ``init_cfg`` is given."""
        if self.init_cfg:
            super().init_weights()
        else:
            self._reset_projections()

    def _conv_patches(self, h: torch.Tensor, grid: Optional[Tuple[int, int]],
                      num_prefix: int) -> torch.Tensor:
        if grid is None:
            raise ValueError(
                'A conv adapter needs the patch grid: use it in the vision '
                'tower, with patch dropout off.')
        gh, gw = grid
        n = gh * gw
        if h.shape[1] < num_prefix + n:
            raise ValueError(f'{h.shape[1]} tokens cannot hold {num_prefix} '
                             f'prefix tokens and a {gh}x{gw} grid')
        patches = h[:, num_prefix:num_prefix + n]  # (B, N, C)
        b, _, c = patches.shape
        fmap = patches.transpose(1, 2).reshape(b, c, gh, gw)
        fmap = self.conv(fmap)
        patches = fmap.flatten(2).transpose(1, 2)
        # CLS (prefix) and prompt tokens (suffix) bypass the conv
        return torch.cat(
            [h[:, :num_prefix], patches.to(h.dtype), h[:, num_prefix + n:]],
            dim=1)

    def forward(self,
                x: torch.Tensor,
                grid: Optional[Tuple[int, int]] = None,
                num_prefix: int = 1) -> torch.Tensor:
        """
        Args:
            x (Tensor): (B, L, D) normalised tokens (``ln_1(x)``/``ln_2(x)``).
            grid (tuple, optional): Patch grid (h, w); needed with ``conv``.
            num_prefix (int): Tokens before the patches (1: CLS).

        Returns:
            Tensor: (B, L, D), already multiplied by ``scale``.
        """
        h = self.act(self.down(x))
        if self.conv is not None:
            h = self.act_conv(self._conv_patches(h, grid, num_prefix))
        return self.scale * self.up(self.dropout(h))

