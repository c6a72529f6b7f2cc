"""PyTorch modules for the blocks of a :class:`~effsearch.spec.NetSpec`.

Batch norm uses the official TensorFlow settings (decay 0.99, epsilon 1e-3), expressed in PyTorch's
convention as momentum 0.01. Padding is symmetric ``(k - 1) // 2``: for any input size it gives the
same output size as TensorFlow's "SAME" (``ceil(n / stride)``) while staying a plain PyTorch conv.
"""

from __future__ import annotations

import torch
from torch import nn

from effsearch.spec import BlockSpec

BN_MOMENTUM = 0.01
BN_EPS = 1e-3


def make_act(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.SiLU(inplace=True)


class ConvBnAct(nn.Sequential):
    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int = 1, groups: int = 1, act: str | None = None):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_chs, eps=BN_EPS, momentum=BN_MOMENTUM)
        if act:
            self.act = make_act(act)


class SqueezeExcite(nn.Module):
    def __init__(self, chs: int, rd_chs: int, act: str):
        super().__init__()
        self.conv_reduce = nn.Conv2d(chs, rd_chs, 1, bias=True)
        self.act = make_act(act)
        self.conv_expand = nn.Conv2d(rd_chs, chs, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.conv_expand(self.act(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * gate.sigmoid()


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


class Block(nn.Module):
    """One layer of a stage: MBConv / depthwise-separable (``ds``) / plain conv, with optional SE and residual."""

    def __init__(self, layer: BlockSpec, drop_path: float = 0.0):
        super().__init__()
        act, mid = layer.act, layer.mid_chs
        if layer.op == "conv":
            self.conv = ConvBnAct(layer.in_chs, layer.out_chs, layer.kernel_size, layer.stride, act=act)
        else:
            self.conv_pw = ConvBnAct(layer.in_chs, mid, 1, act=act) if layer.has_expansion else nn.Identity()
            self.conv_dw = ConvBnAct(mid, mid, layer.kernel_size, layer.stride, groups=mid, act=act)
        self.se = SqueezeExcite(mid, layer.se_chs, act) if layer.se_chs else nn.Identity()
        if layer.op != "conv":
            self.conv_pwl = ConvBnAct(mid, layer.out_chs, 1)  # linear bottleneck: no activation
        self.has_residual = layer.has_residual
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.se(self.conv(x)) if hasattr(self, "conv") else self.conv_pwl(self.se(self.conv_dw(self.conv_pw(x))))
        return x + self.drop_path(out) if self.has_residual else out
