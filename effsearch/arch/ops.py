"""The op registry: every block type a spec can name, declared in one entry.

A stage of a :class:`~effsearch.arch.spec.NetSpec` repeats one *op* (MBConv, depthwise-separable,
plain convolution, ResNet's blocks, ...). Everything the rest of effsearch needs to know about an op
lives in its :class:`Op` entry, so adding one is a single :func:`register_op` call (the test suite
registers one from its own file to prove it):

* **channels** - ``mid_channels(in_chs, out_chs, exp_ratio)``, the width inside a layer;
* **cost** - ``cost(in_chs, out_chs, kernel, stride, exp_ratio, se_ratio, in_size) -> (params, MACs)``
  of one layer in plain integers (fvcore's convention, see :mod:`effsearch.arch.cost`), without a
  projection shortcut (the cost model adds that, see **shortcut**);
* **module** - the ``nn.Module`` class of one layer, called as ``module(layer, drop_path=, layers=)``
  (a class or a ``"package.module:Class"`` path, so this registry does not import torch);
* **block-string token** - the bare token that names the op in a block string (``ds``, ``conv``);
  exactly one op, the default (``mbconv``), has none;
* **timm export** - ``timm(block, net_act) -> str | None``, its timm ``arch_def`` string, or ``None``
  where timm cannot express the layer (exports then say so instead of differing silently);
* **zero-init** - ``zero_init(module)``: the batch norm that ends a residual branch is set to zero
  when training starts from the identity (by default the module's ``zero_init_last()``, timm's name);
* **shortcut** - ``identity`` (added where ``skip`` and shapes allow: MBConv, ds, conv), ``projection``
  (ResNet: with ``skip``, every layer adds its input, through a 1x1 conv + BN where the stride or
  width changes) or ``none`` (never; ``skip`` is kept in the block string but changes nothing);
* **check** - ``check(block) -> (field, value, expected) | None``: what else makes a block of this op
  invalid (a one-line :class:`~effsearch.errors.SpecError` names it).

The ops built in: ``mbconv`` (MobileNetV2's inverted residual is ``mbconv`` with ``relu6`` and no
SE), ``ds``, ``conv``, ``basic`` and ``bottleneck`` (ResNet), ``sep`` (MobileNetV1).
In a search space an op without expansion is chosen by its name (``conv``, ``ds``) and one with
expansion as ``<name>_e<ratio>`` (``mbconv_e6``).
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from effsearch.arch import opcost
from effsearch.errors import SpecError
from effsearch.runtime.registry import Registry

CostFn = Callable[[int, int, int, int, float, float, int], tuple[int, int]]


SHORTCUTS = ("identity", "projection", "none")


def _zero_last(module: Any) -> None:
    module.zero_init_last()


def _no_check(block: Any) -> None:
    return None


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
    shortcut: str = "identity"
    check: Callable[[Any], tuple[str, object, str] | None] = _no_check

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
    if op.shortcut not in SHORTCUTS:
        raise SpecError(f"op {op.name!r}: shortcut {op.shortcut!r} is invalid (expected one of {', '.join(SHORTCUTS)})")
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

se_width = opcost.se_width


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


_TIMM_ACTS = {"swish": "nsw", "relu": "nre", "relu6": "nr6"}


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


def _timm_separable(block: Any, net_act: str) -> str:
    # timm's ``dsa`` (MobileNetV1's block): activation after the pointwise conv, never a shortcut.
    se = _timm_se(block, None) if block.se_ratio else None
    head = ["dsa", f"r{block.repeats}", f"k{block.kernel_size}", f"s{block.stride}"]
    return "_".join(head + _timm_tail(dataclasses.replace(block, skip=True), net_act, se))


def _no_timm(block: Any, net_act: str) -> None:
    return None  # timm's EfficientNet builder has no ResNet blocks (its ResNet is another model class)


def _check_resnet(block: Any) -> tuple[str, object, str] | None:
    if block.se_ratio:
        return "se_ratio", block.se_ratio, f"op {block.op} has no squeeze-excitation; use 0"
    if block.op == "bottleneck" and block.out_chs < block.exp_ratio:
        return "out_chs", block.out_chs, (f"a bottleneck's inner width is out_chs / exp_ratio; with exp_ratio "
                                          f"{_num(block.exp_ratio)} it needs out_chs >= {math.ceil(block.exp_ratio)}")
    return None


register_op(Op(
    name="mbconv", token=None, expands=True,
    mid_channels=lambda in_chs, out_chs, exp: max(1, round(in_chs * exp)),
    cost=opcost.inverted_residual_cost, module="effsearch.arch.blocks:InvertedResidual", timm=_timm_inverted_residual,
    label=lambda b: f"e{b.exp_ratio:g}",
    description="inverted residual: 1x1 expansion (unless e1), depthwise kxk, SE, linear 1x1 projection",
))
register_op(Op(
    name="ds", token="ds", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: in_chs,
    cost=opcost.inverted_residual_cost, module="effsearch.arch.blocks:InvertedResidual", timm=_timm_inverted_residual,
    label=lambda b: "ds", description="depthwise-separable: depthwise kxk, SE, linear 1x1 projection",
))
register_op(Op(
    name="conv", token="conv", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: out_chs,
    cost=opcost.conv_cost, module="effsearch.arch.blocks:ConvBlock", timm=_timm_conv,
    label=lambda b: "cv", description="plain kxk convolution + BN + activation, SE on its output",
))
register_op(Op(
    name="basic", token="basic", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: out_chs,
    cost=opcost.basic_cost, module="effsearch.arch.classic:BasicBlock", timm=_no_timm, shortcut="projection",
    check=_check_resnet, label=lambda b: "basic",
    description="ResNet basic block: kxk conv (stride) + BN + act, kxk conv + BN, add the shortcut, act",
))
register_op(Op(
    name="bottleneck", token="bottleneck", expands=True,
    mid_channels=lambda in_chs, out_chs, exp: opcost.bottleneck_mid(out_chs, exp),
    cost=opcost.bottleneck_cost, module="effsearch.arch.classic:Bottleneck", timm=_no_timm, shortcut="projection",
    check=_check_resnet, label=lambda b: f"bot{b.exp_ratio:g}",
    description=("ResNet v1.5 bottleneck: 1x1 to out/e + BN + act, kxk (stride) + BN + act, 1x1 to out + BN, add "
                 "the shortcut, act; e is ResNet's expansion (out = e x inner width, 4 in ResNet-50)"),
))
register_op(Op(
    name="sep", token="sep", expands=False,
    mid_channels=lambda in_chs, out_chs, exp: in_chs,
    cost=opcost.inverted_residual_cost, module="effsearch.arch.classic:SeparableConv", timm=_timm_separable,
    shortcut="none", zero_init=lambda module: None, label=lambda b: "sep",
    description="MobileNetV1 separable: depthwise kxk + BN + act, SE, 1x1 + BN + act; no shortcut",
))
