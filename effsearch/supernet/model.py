"""The supernet module: the largest weights of every layer, run as any sub-network of the space.

Parameter names mirror :class:`effsearch.arch.builder.EffNet` (``blocks.<stage>.<layer>.<op>.`` +
the EffNet layer's own names), so a sub-network is extracted by cropping every tensor of the same
name to the EffNet's shape: leading channels in the first two dimensions, the centre of a kernel
(:func:`crop`). The forward pass slices the same way, so training a sub-network inside the
supernet and running the extracted network compute the same function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from effsearch.arch.blocks import BN_EPS, make_act
from effsearch.arch.builder import EffNet
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.supernet.layout import SupernetLayout


def crop(tensor: torch.Tensor, shape: torch.Size | tuple[int, ...]) -> torch.Tensor:
    """Leading slices of the first two dimensions, centre of the rest (kernels)."""
    index = []
    for dim, (have, want) in enumerate(zip(tensor.shape, shape, strict=True)):
        start = 0 if dim < 2 else (have - want) // 2
        index.append(slice(start, start + want))
    return tensor[tuple(index)]


class _Conv2d(nn.Module):
    """The largest weight (and bias) of a convolution; the layers that own it slice it per call."""

    def __init__(self, out_chs: int, in_chs: int, kernel: int, *, bias: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_chs, in_chs, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_chs)) if bias else None


class DynamicBatchNorm(nn.BatchNorm2d):
    """Batch norm over the first ``c`` channels of its largest size (running statistics sliced in place)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            self.training, self.momentum, self.eps)


class DynamicConvBnAct(nn.Module):
    """conv (sliced to the input width, ``out`` channels and kernel ``k``) + batch norm + activation."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, *, depthwise: bool = False, act: str | None = None):
        super().__init__()
        self.depthwise = depthwise
        self.conv = _Conv2d(out_chs, 1 if depthwise else in_chs, kernel)
        self.bn = DynamicBatchNorm(out_chs, eps=BN_EPS)
        self.act = make_act(act) if act else None

    def forward(self, x: torch.Tensor, out: int, kernel: int, stride: int = 1, bn: nn.Module | None = None) -> torch.Tensor:
        c = x.shape[1]
        k = self.conv.weight.shape[-1]
        start = (k - kernel) // 2
        w = self.conv.weight[:c if self.depthwise else out, :1 if self.depthwise else c,
                             start:start + kernel, start:start + kernel]
        x = F.conv2d(x, w, None, stride, (kernel - 1) // 2, 1, c if self.depthwise else 1)
        x = (bn or self.bn)(x)
        return self.act(x) if self.act is not None else x


class DynamicSqueezeExcite(nn.Module):
    def __init__(self, chs: int, rd_chs: int, act: str):
        super().__init__()
        self.conv_reduce = _Conv2d(rd_chs, chs, 1, bias=True)
        self.act = make_act(act)
        self.conv_expand = _Conv2d(chs, rd_chs, 1, bias=True)

    def forward(self, x: torch.Tensor, rd: int) -> torch.Tensor:
        c = x.shape[1]
        s = x.mean((2, 3), keepdim=True)
        s = self.act(F.conv2d(s, self.conv_reduce.weight[:rd, :c], self.conv_reduce.bias[:rd]))
        s = F.conv2d(s, self.conv_expand.weight[:c, :rd], self.conv_expand.bias[:c])
        return x * s.sigmoid()


class SuperInvertedResidual(nn.Module):
    """MBConv (any expansion up to the largest) or depthwise-separable, as the layer spec asks."""

    last_bn_name = "conv_pwl.bn"

    def __init__(self, in_chs: int, out_chs: int, kernel: int, exp_ratio: float, se_ratio: float, act: str, *,
                 expands: bool, residual: bool):
        super().__init__()
        from effsearch.arch.ops import se_width

        mid = max(1, round(in_chs * exp_ratio)) if expands else in_chs
        self.conv_pw = DynamicConvBnAct(in_chs, mid, 1, act=act) if expands and exp_ratio != 1 else None
        self.conv_dw = DynamicConvBnAct(mid, mid, kernel, depthwise=True, act=act)
        rd = se_width(in_chs, se_ratio)
        self.se = DynamicSqueezeExcite(mid, rd, act) if rd else None
        self.conv_pwl = DynamicConvBnAct(mid, out_chs, 1)
        self.plain_bn = DynamicBatchNorm(out_chs, eps=BN_EPS) if residual else None

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv_pwl.bn

    def forward(self, x: torch.Tensor, layer: BlockSpec) -> torch.Tensor:
        h = self.conv_pw(x, layer.mid_chs, 1) if layer.has_expansion else x
        h = self.conv_dw(h, h.shape[1], layer.kernel_size, layer.stride)
        if layer.se_chs:
            h = self.se(h, layer.se_chs)
        h = self.conv_pwl(h, layer.out_chs, 1, bn=None if layer.has_residual else self.plain_bn)
        return x + h if layer.has_residual else h


class SuperConv(nn.Module):
    """A plain kxk conv + BN + activation with SE on its output."""

    last_bn_name = "conv.bn"

    def __init__(self, in_chs: int, out_chs: int, kernel: int, se_ratio: float, act: str, *, residual: bool):
        super().__init__()
        from effsearch.arch.ops import se_width

        self.conv = DynamicConvBnAct(in_chs, out_chs, kernel, act=act)
        rd = se_width(in_chs, se_ratio)
        self.se = DynamicSqueezeExcite(out_chs, rd, act) if rd else None
        self.plain_bn = DynamicBatchNorm(out_chs, eps=BN_EPS) if residual else None

    @property
    def last_bn(self) -> nn.BatchNorm2d:
        return self.conv.bn

    def forward(self, x: torch.Tensor, layer: BlockSpec) -> torch.Tensor:
        h = self.conv(x, layer.out_chs, layer.kernel_size, layer.stride, bn=None if layer.has_residual else self.plain_bn)
        if layer.se_chs:
            h = self.se(h, layer.se_chs)
        return x + h if layer.has_residual else h


def module_key(op: str) -> str:
    """The supernet layer an op runs on: ``ds`` is an MBConv without expansion, so it shares MBConv's.

    Measured on digits (one random sub-network per step, ``mnasnet`` with only the op searched,
    ``ds`` against ``mbconv_e6``): nested in one layer the training loss fell faster (0.75 at epoch
    7 against 1.10 with a layer each) and both reached 0.97-0.99 by epoch 24. Choices between
    different paths (ops, skips) need many more steps than nested ones (kernel, expansion, width,
    depth, SE train in 4 epochs): see ``benchmarks/README.md``, "Weight sharing".
    """
    return "mbconv" if op == "ds" else op


def _layer(op: str, in_chs: int, lay, act: str, residual: bool) -> nn.Module:
    """One op's layer; one that can be residual gets a second last batch norm for when it is not.

    With a shortcut the last batch norm starts at zero (the layer starts as the identity, which
    trains much faster); without one, a zero there would cut the network in two. Both uses share
    every convolution but keep their own last batch norm (``plain_bn``): measured on digits, a
    sub-network without skips trained inside a supernet whose shared batch norm starts at zero stayed
    at chance (0.10) where it reaches 0.97 with its own.
    """
    if op == "conv":
        return SuperConv(in_chs, lay.out_chs, lay.kernel, lay.se_ratio, act, residual=residual)
    return SuperInvertedResidual(in_chs, lay.out_chs, lay.kernel, lay.exp_ratio, lay.se_ratio, act,
                                 expands=op == "mbconv", residual=residual)


class Supernet(nn.Module):
    """Every sub-network of a space in one module: ``forward(x, spec)`` runs the one ``spec`` names.

    ``spec`` is the network as the proxy trains it (:func:`effsearch.proxy.adapt_for_proxy`): its
    strides, resolution and class count are what the supernet was built for.
    """

    def __init__(self, layout: SupernetLayout, *, num_classes: int, in_chans: int, bn_momentum: float = 0.1,
                 zero_init_residual: bool = True):
        super().__init__()
        self.layout = layout
        self.stem = DynamicConvBnAct(in_chans, layout.stem, 3, act=layout.act)
        self.blocks = nn.ModuleList()
        for lay in layout.blocks:
            stage = nn.ModuleList()
            for i in range(lay.layers):
                in_chs, residual = (lay.in_chs, lay.first_residual) if i == 0 else (lay.out_chs, True)
                keys = dict.fromkeys(module_key(op) for op in lay.ops)
                stage.append(nn.ModuleDict({key: _layer(key, in_chs, lay, layout.act, residual) for key in keys}))
            self.blocks.append(stage)
        self.conv_head = DynamicConvBnAct(layout.blocks[-1].out_chs, layout.head, 1, act=layout.act)
        self.classifier = nn.Linear(layout.head, num_classes)
        _init(self, bn_momentum)
        if zero_init_residual:
            self.zero_init_residual()

    def zero_init_residual(self) -> int:
        """Zero the last batch norm of every layer that can be residual (BigNAS, as the proxy does); how many.

        Every sub-network then starts close to its shortest path, which trains much faster in a
        short run; the same layers used without their shortcut have their own last batch norm.
        """
        done = 0
        for stage in self.blocks:
            for modules in stage:
                for module in modules.values():
                    if module.plain_bn is not None:
                        nn.init.zeros_(module.last_bn.weight)
                        done += 1
        return done

    def forward(self, x: torch.Tensor, spec: NetSpec) -> torch.Tensor:
        x = self.stem(x, spec.stem_chs, 3, spec.stem_stride)
        for stage, block in zip(self.blocks, spec.blocks, strict=True):
            for modules, layer in zip(stage, block.layers(), strict=False):
                x = modules[module_key(layer.op)](x, layer)
        x = self.conv_head(x, spec.head_chs, 1)
        return self.classifier(x.mean((2, 3)))

    def extract(self, spec: NetSpec) -> EffNet:
        """A standalone :class:`EffNet` of ``spec`` holding copies of its inherited weights."""
        model = EffNet(spec.replace(dropout=0.0, drop_connect=0.0))
        own = self.state_dict()
        layers = [list(block.layers()) for block in spec.blocks]
        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                tensor.copy_(crop(own[self._name(name, spec, layers)], tensor.shape))
        return model

    def _name(self, name: str, spec: NetSpec, layers: list[list[BlockSpec]]) -> str:
        """EffNet's ``blocks.2.1.conv_dw.conv.weight`` -> ``blocks.2.1.mbconv.conv_dw.conv.weight`` here,
        and the last batch norm of a layer without its shortcut -> that layer's ``plain_bn``."""
        parts = name.split(".")
        if parts[0] != "blocks":
            return name
        stage, index = int(parts[1]), int(parts[2])
        layer = layers[stage][index]
        key = module_key(layer.op)
        module = self.blocks[stage][index][key]
        rest = ".".join(parts[3:])
        if module.plain_bn is not None and not layer.has_residual and rest.startswith(module.last_bn_name + "."):
            rest = "plain_bn" + rest[len(module.last_bn_name):]
        return f"blocks.{stage}.{index}.{key}.{rest}"


def _init(model: nn.Module, bn_momentum: float) -> None:
    # The official initialisation (as EffNet's): fan-out normal for convs, uniform 1/sqrt(out) for the classifier.
    for m in model.modules():
        if isinstance(m, _Conv2d):
            out, _, kh, kw = m.weight.shape
            fan_out = kh * kw * (1 if m.weight.shape[1] == 1 and kh > 1 else out)
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
            m.momentum = bn_momentum
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.shape[0])
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
