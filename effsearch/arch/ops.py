"""The op registry: every block type a spec can name, declared in one entry.

A stage of a :class:`~effsearch.arch.spec.NetSpec` repeats one *op* (MBConv, depthwise-separable,
plain convolution, ...). Everything the rest of effsearch needs to know about an op lives in its
:class:`Op` entry, so adding one is a single :func:`register_op` call (the test suite registers one
from its own file to prove it):

* **channels** - ``mid_channels(in_chs, out_chs, exp_ratio)``, the width inside a layer;
* **cost** - ``cost(in_chs, out_chs, kernel, stride, exp_ratio, se_ratio, in_size) -> (params, MACs)``
  of one layer in plain integers (fvcore's convention, see :mod:`effsearch.arch.cost`);
* **module** - the ``nn.Module`` class of one layer, called as ``module(layer, drop_path=, layers=)``
  (a class or a ``"package.module:Class"`` path, so this registry does not import torch);
* **block-string token** - the bare token that names the op in a block string (``ds``, ``conv``);
  exactly one op, the default (``mbconv``), has none;
* **timm export** - ``timm(block, net_act) -> str | None``, its timm ``arch_def`` string, or ``None``
  where timm cannot express the layer (exports then say so instead of differing silently);
* **zero-init** - ``zero_init(module)``: the batch norm that ends a residual branch is set to zero
  when training starts from the identity (by default the module's ``zero_init_last()``, timm's name).

In a search space an op without expansion is chosen by its name (``conv``, ``ds``) and one with
expansion as ``<name>_e<ratio>`` (``mbconv_e6``).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from effsearch.errors import SpecError
from effsearch.runtime.registry import Registry

CostFn = Callable[[int, int, int, int, float, float, int], tuple[int, int]]


def _zero_last(module: Any) -> None:
    module.zero_init_last()


@dataclass(frozen=True, kw_only=True)
class Op:
    """One block type; see the module docstring for what each field means."""

    name: str
    token: str | None
    expands: bool
    mid_channels: Callable[[int, int, float], int]
    cost: CostFn
    module: Any
    timm: Callable[[Any, str], str | None]
    label: Callable[[Any], str] = field(default=lambda block: block.op)
    zero_init: Callable[[Any], None] = _zero_last
    description: str = ""

    def module_class(self) -> Any:
        """The layer's module class, importing it on first use when given as ``"pkg.mod:Class"``."""
        if isinstance(self.module, str):
            path, _, name = self.module.partition(":")
            return getattr(importlib.import_module(path), name)
        return self.module


OPS: Registry[Op] = Registry("op", SpecError)
_NAME = re.compile(r"^[a-z][a-z0-9]*$")


def register_op(op: Op, *, replace: bool = False) -> Op:
    """Add ``op`` to the registry (``replace=True`` to redefine a name); returns it."""
    if not _NAME.match(op.name):
        raise SpecError(f"op name {op.name!r} is invalid (lower-case letters and digits, starting with a letter)")
    tokens = {o.token: o.name for o in OPS.values() if o.name != op.name}
    if op.token in tokens:
        raise SpecError(f"op {op.name!r}: block-string token {op.token!r} is taken by op {tokens[op.token]!r}")
    return OPS.register(op.name, op, replace=replace)


unregister_op = OPS.unregister
get_op = OPS.get
op_names = OPS.names


def op_for_token(token: str) -> Op | None:
    """The op a bare block-string token names, if any (a plugin's op too: a miss loads the plugins once)."""
    from effsearch.runtime.plugins import load_plugins_once

    found = next((op for op in OPS.values() if op.token == token), None)
    if found is None and load_plugins_once():
        return op_for_token(token)
    return found


# --------------------------------------------------------------------------- the built-in ops


def _se_cost(mid: int, rd: int) -> tuple[int, int]:
    # SE: reduce and expand 1x1 convs with biases, on a 1x1 map.
    return (2 * rd * mid + rd + mid, 2 * rd * mid) if rd else (0, 0)


def se_width(in_chs: int, se_ratio: float) -> int:
    """SE bottleneck width, reduced from the layer's *input* channels (official behaviour); 0 without SE."""
    return max(1, int(in_chs * se_ratio)) if se_ratio > 0 else 0


def _inverted_residual_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float,
                            se_ratio: float, in_size: int) -> tuple[int, int]:
    """Optional 1x1 expansion at the input size, depthwise kxk, SE, 1x1 projection; BN after each conv."""
    size = -(-in_size // stride)
    area = size * size
    mid = max(1, round(in_chs * exp_ratio))
    params, macs = _se_cost(mid, se_width(in_chs, se_ratio))
    if exp_ratio != 1:
        w = mid * in_chs
        params += w + 2 * mid
        macs += (w + 2 * mid) * in_size * in_size
    w_dw, w_pw = mid * kernel * kernel, out_chs * mid
    params += w_dw + 2 * mid + w_pw + 2 * out_chs
    return params, macs + (w_dw + 2 * mid + w_pw + 2 * out_chs) * area


def _conv_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float, se_ratio: float,
               in_size: int) -> tuple[int, int]:
    """A plain kxk conv + BN + activation, with SE on its output."""
    size = -(-in_size // stride)
    params, macs = _se_cost(out_chs, se_width(in_chs, se_ratio))
    w = out_chs * in_chs * kernel * kernel
    return params + w + 2 * out_chs, macs + (w + 2 * out_chs) * size * size


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_TIMM_ACTS = {"swish": "nsw", "relu": "nre"}


def _timm_tail(block: Any, net_act: str, se: str | None = None) -> list[str]:
    parts = [f"c{block.out_chs}"]
    if se:
        parts.append(f"se{se}")
    if not block.skip:
        parts.append("noskip")
    if block.act != net_act:
        parts.append(_TIMM_ACTS[block.act])
    return parts


# timm's own rounding, mirrored so exports are checked without importing timm (tests compare with timm).


def timm_divisible(value: float, divisor: int = 8) -> int:
    """timm's ``make_divisible``: the nearest multiple of ``divisor`` (at least one), never 10% below ``value``."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def timm_se_width(chs: int, se_ratio: float, exp_ratio: float = 1.0) -> int:
    """The SE width timm builds on ``chs`` channels: its builder divides the ratio by the expansion first."""
    return round(chs * (se_ratio / exp_ratio)) if se_ratio else 0


def _timm_se(block: Any, exp: float | None) -> str:
    """The se value for timm: ours where timm's rounding gives our SE widths, else the shortest ratio that does.

    ``exp`` is the ``ir`` expansion timm reads (``None`` for ``ds``). timm derives the SE width from its
    inner width, ours from the layer input, so e.g. a 14-channel ds layer with se0.25 has 3 here
    (``int``) and 4 in timm (``round``); ``se0.2`` gives timm 3 as well.
    """
    e = exp or 1.0
    first_two = list(block.layers())[:2]  # the first layer and the (identical) rest
    layers = [(timm_divisible(lay.in_chs * e) if exp else lay.in_chs, lay.se_chs) for lay in first_two]

    def fits(ratio: float) -> bool:
        return all(timm_se_width(mid, ratio, e) == width for mid, width in layers)

    if fits(block.se_ratio) or any(mid != lay.mid_chs for (mid, _), lay in zip(layers, first_two, strict=True)):
        return _num(block.se_ratio)  # exact, or another network anyway (other inner widths): keep ours
    # Each layer's width holds for ratios in a half-unit window; try the shortest decimals in all of them.
    low = max((width - 0.5) * e / mid for mid, width in layers)
    for digits in range(1, 13):
        first = math.ceil(low * 10**digits)
        for text in (f"{(first + k) / 10**digits:.{digits}f}" for k in (0, 1)):
            if fits(float(text)):
                return text
    return _num(block.se_ratio)  # no single ratio fits every layer: the export check reports the widths


def _timm_inverted_residual(block: Any, net_act: str) -> str:
    # timm's ``ir`` always keeps a 1x1 expansion; an e1 block is timm's ``ds`` (no expansion conv).
    op = "ds" if block.exp_ratio == 1 else "ir"
    head = [op, f"r{block.repeats}", f"k{block.kernel_size}", f"s{block.stride}", f"e{_num(block.exp_ratio)}"]
    se = _timm_se(block, float(_num(block.exp_ratio)) if op == "ir" else None) if block.se_ratio else None
    return "_".join(head + _timm_tail(block, net_act, se))


def _timm_conv(block: Any, net_act: str) -> str | None:
    # timm's ``cn`` block has no squeeze-excitation: a conv layer with SE has no timm form.
    if block.se_ratio:
        return None
    head = ["cn", f"r{block.repeats}", f"k{block.kernel_size}", f"s{block.stride}"]
    tail = _timm_tail(block, net_act)
    if block.skip:
        tail.insert(1, "skip")  # timm's cn keeps a shortcut (where shapes allow) only when told so
    return "_".join(head + tail)


register_op(Op(
    name="mbconv", token=None, expands=True,
    mid_channels=lambda in_chs, out_chs, exp: max(1, round(in_chs * exp)),
    cost=_inverted_residual_cost, module="effsearch.arch.blocks:InvertedResidual", timm=_timm_inverted_residual,
    label=lambda b: f"e{b.exp_ratio:g}",
    description="inverted residual: 1x1 expansion (unless e1), depthwise kxk, SE, linear 1x1 projection",
))
register_op(Op(
    name="ds", token="ds", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: in_chs,
    cost=_inverted_residual_cost, module="effsearch.arch.blocks:InvertedResidual", timm=_timm_inverted_residual,
    label=lambda b: "ds", description="depthwise-separable: depthwise kxk, SE, linear 1x1 projection",
))
register_op(Op(
    name="conv", token="conv", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: out_chs,
    cost=_conv_cost, module="effsearch.arch.blocks:ConvBlock", timm=_timm_conv,
    label=lambda b: "cv", description="plain kxk convolution + BN + activation, SE on its output",
))
