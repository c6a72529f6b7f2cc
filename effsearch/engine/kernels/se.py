"""Squeeze-and-excitation with a hand-written backward, for training small proxy images on CPU.

An exact rewrite of :class:`effsearch.arch.blocks.SqueezeExcite` (same parameters and state dict). The
gate depends on the block's feature map ``x`` twice: directly (``x * gate``) and through its
spatial mean. Autograd differentiates the two paths separately and so makes four passes over the
full ``N x C x H x W`` map for ``x``'s gradient alone (``g * gate``, the mean's broadcast division,
their sum, plus ``g * x`` for the gate). Here the mean's gradient is a per-channel vector and the
whole input gradient is one fused pass, ``addcmul(ds / HW, g, gate)``; the gate's small MLP (two
1x1 convolutions on ``N x C`` vectors) is differentiated by hand. Measured 3-4% of an
EfficientNet-B0 proxy step at 16 px (benchmarks/README.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from effsearch.arch.blocks import SqueezeExcite


def _act(z: torch.Tensor, relu: bool) -> torch.Tensor:
    return F.relu(z) if relu else F.silu(z)


def _act_grad(z: torch.Tensor, relu: bool) -> torch.Tensor:
    if relu:
        return (z > 0).to(z.dtype)
    sig = torch.sigmoid(z)
    return sig * (1 + z * (1 - sig))


class _SqueezeExciteFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, relu: bool):
        n, c = x.shape[:2]
        s = x.mean((2, 3))
        z1 = F.linear(s, w1.view(w1.shape[0], c), b1)
        a = _act(z1, relu)
        gate = torch.sigmoid(F.linear(a, w2.view(c, w2.shape[1]), b2))
        ctx.save_for_backward(x, s, z1, a, gate, w1, w2)
        ctx.relu = relu
        return x * gate.view(n, c, 1, 1)

    @staticmethod
    def backward(ctx, g):
        x, s, z1, a, gate, w1, w2 = ctx.saved_tensors
        n, c, h, w = x.shape
        gate4 = gate.view(n, c, 1, 1)
        dz2 = (g * x).sum((2, 3)) * gate * (1 - gate)
        dz1 = (dz2 @ w2.view(c, -1)) * _act_grad(z1, ctx.relu)
        ds = dz1 @ w1.view(-1, c)
        dx = torch.addcmul((ds / (h * w)).view(n, c, 1, 1), g, gate4)
        dw1 = (dz1.t() @ s).view_as(w1)
        dw2 = (dz2.t() @ a).view_as(w2)
        return dx, dw1, dz1.sum(0), dw2, dz2.sum(0), None


class FastSqueezeExcite(SqueezeExcite):
    """Drop-in :class:`SqueezeExcite` whose backward takes two passes over the map instead of five.

    Written for ReLU and SiLU; any other activation (ReLU6) takes the plain module's path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_grad_enabled() or x.device.type != "cpu" \
                or not isinstance(self.act, (nn.ReLU, nn.SiLU)):
            return super().forward(x)
        reduce, expand = self.conv_reduce, self.conv_expand
        return _SqueezeExciteFn.apply(x, reduce.weight, reduce.bias, expand.weight, expand.bias,
                                      isinstance(self.act, nn.ReLU))
