"""Analytic cost model: parameters and multiply-accumulates from the spec alone, no torch.

Convention (the one fvcore uses, so numbers compare directly with fvcore counts of built models):

* a convolution costs ``out_h * out_w * out_chs * (in_chs / groups) * k * k`` MACs, a linear layer
  ``in * out``; biases are free;
* batch norm in eval mode costs 2 per element (scale and shift), global average pooling 1 per input
  element; activations, the SE gate multiply, the residual add and the stem's max pool (ResNet's)
  cost nothing (fvcore does not count max pooling either).

Published figures (ResNet-50's 4.09G, MobileNetV2's 300M) count convolutions and the classifier
only; batch norm and the global pool add about 1-4% here (``docs/conventions.md`` has the table).

The EfficientNet and MnasNet papers call MACs "FLOPS" (B0 = 0.39B). Spatial sizes follow same-style
padding: a stride-s layer maps n to ceil(n / s). Parameters count weights, biases and BN affine
terms (not running statistics), exactly as ``sum(p.numel() for p in model.parameters())``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from effsearch.arch.opcost import projection_cost
from effsearch.arch.ops import get_op
from effsearch.arch.spec import BlockSpec, NetSpec


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.params + other.params, self.macs + other.macs)


ZERO = Cost(0, 0)


@dataclass(frozen=True)
class StageCost:
    """Cost of one part of the network: ``stem``, ``pool`` (a stem max pool), a stage, ``head`` or ``classifier``."""

    name: str
    in_size: int
    out_size: int
    params: int
    macs: int
    block: BlockSpec | None = None


@dataclass(frozen=True)
class NetCost:
    params: int
    macs: int
    resolution: int
    stages: list[StageCost] = field(default_factory=list)


def conv_cost(in_chs: int, out_chs: int, kernel: int, out_size: int, groups: int = 1, bias: bool = False) -> Cost:
    weights = out_chs * (in_chs // groups) * kernel * kernel
    return Cost(weights + (out_chs if bias else 0), weights * out_size * out_size)


def bn_cost(chs: int, size: int) -> Cost:
    return Cost(2 * chs, 2 * chs * size * size)


def conv_bn_cost(in_chs: int, out_chs: int, kernel: int, out_size: int, groups: int = 1) -> Cost:
    return conv_cost(in_chs, out_chs, kernel, out_size, groups) + bn_cost(out_chs, out_size)


def se_cost(chs: int, rd_chs: int) -> Cost:
    """Squeeze-and-excitation on ``chs`` channels: two 1x1 convs with bias on a 1x1 map."""
    return conv_cost(chs, rd_chs, 1, 1, bias=True) + conv_cost(rd_chs, chs, 1, 1, bias=True)


def out_size(size: int, stride: int) -> int:
    return -(-size // stride)  # ceil(size / stride) in integers


def _layer(op: str, in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float, se_ratio: float,
           in_size: int, skip: bool = True) -> tuple[int, int]:
    """(params, MACs) of one layer, in plain integers, as its op declares (:mod:`effsearch.arch.ops`).

    This runs for every candidate of a search, so the built-in ops unroll the sums of
    :func:`conv_bn_cost` and :func:`se_cost` (which stay as the readable reference, checked against
    the unrolled forms in the tests): a B0-sized spec costs tens of microseconds. An op with a
    projection shortcut (ResNet) gets its 1x1 conv + BN added here, where ``skip`` keeps one.
    """
    entry = get_op(op)
    params, macs = entry.cost(in_chs, out_chs, kernel, stride, exp_ratio, se_ratio, in_size)
    if skip and entry.shortcut == "projection":
        p, m = projection_cost(in_chs, out_chs, stride, in_size)
        params, macs = params + p, macs + m
    return params, macs


def layer_cost(layer: BlockSpec, in_size: int) -> Cost:
    """One layer (repeats = 1) at input size ``in_size``."""
    return Cost(*_layer(layer.op, layer.in_chs, layer.out_chs, layer.kernel_size, layer.stride, layer.exp_ratio,
                        layer.se_ratio, in_size, layer.skip))


def block_cost(block: BlockSpec, in_size: int) -> tuple[Cost, int]:
    """A whole stage: the sum over its layers, and the output size.

    Every layer after the first is the same layer (stride 1, output width in and out), so it is
    costed once and counted ``repeats - 1`` times.
    """
    b = block
    params, macs = _layer(b.op, b.in_chs, b.out_chs, b.kernel_size, b.stride, b.exp_ratio, b.se_ratio, in_size, b.skip)
    size = out_size(in_size, b.stride)
    if b.repeats > 1:
        p, m = _layer(b.op, b.out_chs, b.out_chs, b.kernel_size, 1, b.exp_ratio, b.se_ratio, size, b.skip)
        params, macs = params + (b.repeats - 1) * p, macs + (b.repeats - 1) * m
    return Cost(params, macs), size


def count(spec: NetSpec, resolution: int | None = None, num_classes: int | None = None) -> NetCost:
    """Params and MACs of ``spec`` at ``resolution`` (default: the spec's deployment resolution)."""
    res = int(resolution or spec.resolution)
    classes = int(num_classes or spec.num_classes)
    stages: list[StageCost] = []

    def add(name: str, cost: Cost, in_size: int, size: int, block: BlockSpec | None = None) -> None:
        stages.append(StageCost(name, in_size, size, cost.params, cost.macs, block))

    size = out_size(res, spec.stem_stride)
    add("stem", conv_bn_cost(spec.in_chans, spec.stem_chs, spec.stem_kernel, size), res, size)
    if spec.stem_pool:
        add("pool", ZERO, size, out_size(size, 2))
        size = out_size(size, 2)
    for i, block in enumerate(spec.blocks):
        cost, new_size = block_cost(block, size)
        add(f"stage{i + 1}", cost, size, new_size, block)
        size = new_size
    last, features = spec.blocks[-1].out_chs, spec.num_features
    head = conv_bn_cost(last, spec.head_chs, 1, size) if spec.head_chs else ZERO
    add("head", head + Cost(0, features * size * size), size, 1)  # the global average pool
    add("classifier", Cost(features * classes + classes, features * classes), 1, 1)
    return NetCost(
        params=sum(s.params for s in stages), macs=sum(s.macs for s in stages), resolution=res, stages=stages
    )
