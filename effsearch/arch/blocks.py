"""PyTorch modules for the layers of a :class:`~effsearch.arch.spec.NetSpec`, and the layer seam.

Batch norm uses the official TensorFlow settings (decay 0.99, epsilon 1e-3), expressed in PyTorch's
convention as momentum 0.01. Padding is symmetric ``(k - 1) // 2``: for any input size it gives the
same output size as TensorFlow's "SAME" (``ceil(n / stride)``) while staying a plain PyTorch conv.

Every module receives a :class:`Layers`: the implementations of its convolutions, batch norm +
activation and squeeze-excitation, as timm's blocks receive their norm and activation layers. The
default is PyTorch's own; the proxy trainer passes its fast CPU layers
(:mod:`effsearch.engine.kernels`) at build time instead of patching a built model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from effsearch.arch.spec import BlockSpec

BN_MOMENTUM = 0.01
BN_EPS = 1e-3


_ACTS = {"swish": nn.SiLU, "relu": nn.ReLU, "relu6": nn.ReLU6}


def make_act(name: str, inplace: bool = True) -> nn.Module:
    """The activation a spec names (``swish``, ``relu``, ``relu6``: MobileNetV2's ``min(max(x, 0), 6)``)."""
    return _ACTS[name](inplace=inplace)


class ConvBnAct(nn.Sequential):
    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = None,
                 layers: Layers | None = None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        conv = layers.conv_class(in_chs, out_chs, kernel, stride, groups)
        self.conv = conv(in_chs, out_chs, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=BN_EPS, momentum=BN_MOMENTUM)
        if act:
            self.act = layers.act(act)


class SqueezeExcite(nn.Module):
    def __init__(self, chs: int, rd_chs: int, act: str, layers: Layers | None = None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        self.conv_reduce = nn.Conv2d(chs, rd_chs, 1, bias=True)
        self.act = layers.act(act)
        self.conv_expand = nn.Conv2d(rd_chs, chs, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * gate.sigmoid()


@dataclass(frozen=True)
class Layers:
    """The layer implementations a network is built from (all with PyTorch's state-dict layout).

    ``conv_bn_act`` is a :class:`ConvBnAct` (sub)class, ``squeeze_excite`` a :class:`SqueezeExcite`
    (sub)class, ``depthwise_conv`` and ``pointwise_conv`` ``nn.Conv2d`` (sub)classes used for the
    depthwise and the 1x1 stride-1 convolutions; ``act_inplace`` chooses in-place activations.
    """

    name: str = "torch"
    conv_bn_act: type = ConvBnAct
    squeeze_excite: type = SqueezeExcite
    depthwise_conv: type = nn.Conv2d
    pointwise_conv: type = nn.Conv2d
    act_inplace: bool = True

    def conv_class(self, in_chs: int, out_chs: int, kernel: int, stride: int, groups: int) -> type:
        if groups > 1 and groups == in_chs == out_chs:
            return self.depthwise_conv
        if kernel == 1 and stride == 1 and groups == 1:
            return self.pointwise_conv
        return nn.Conv2d

    def act(self, name: str) -> nn.Module:
        return make_act(name, self.act_inplace)


TORCH_LAYERS = Layers()
"""PyTorch's own layers: what deployment, export and evaluation use."""


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample, in training mode only."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
        return x * mask / keep


class _Residual(nn.Module):
    """A layer with an optional identity shortcut and stochastic depth on its branch."""

    def _shortcut(self, layer: BlockSpec, drop_path: float) -> None:
        self.has_residual = layer.has_residual
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        return x + self.drop_path(out) if self.has_residual else out


class InvertedResidual(_Residual):
    """MBConv and depthwise-separable layers: [1x1 expansion], depthwise kxk, [SE], linear 1x1 projection."""

    def __init__(self, layer: BlockSpec, *, drop_path: float = 0.0, layers: Layers | None = None):
        super().__init__()
        layers, act, mid = layers or TORCH_LAYERS, layer.act, layer.mid_chs
        cba = layers.conv_bn_act
        self.conv_pw = cba(layer.in_chs, mid, 1, act=act, layers=layers) if layer.has_expansion else nn.Identity()
        self.conv_dw = cba(mid, mid, layer.kernel_size, layer.stride, groups=mid, act=act, layers=layers)
        self.se = layers.squeeze_excite(mid, layer.se_chs, act, layers) if layer.se_chs else nn.Identity()
        self.conv_pwl = cba(mid, layer.out_chs, 1, layers=layers)  # linear bottleneck: no activation
        self._shortcut(layer, drop_path)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv_pwl.bn.weight)


class ConvBlock(_Residual):
    """A plain kxk convolution + BN + activation, with optional SE on its output."""

    def __init__(self, layer: BlockSpec, *, drop_path: float = 0.0, layers: Layers | None = None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        self.conv = layers.conv_bn_act(layer.in_chs, layer.out_chs, layer.kernel_size, layer.stride, act=layer.act,
                                       layers=layers)
        self.se = layers.squeeze_excite(layer.out_chs, layer.se_chs, layer.act, layers) if layer.se_chs else nn.Identity()
        self._shortcut(layer, drop_path)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.conv(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv.bn.weight)
