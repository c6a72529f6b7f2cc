"""The timm hand-off: the builder arguments that rebuild a spec in timm, and whether they really do.

effsearch exports each network as a timm ``arch_def`` so a found family trains with timm's tooling.
timm's builder is not a neutral reader of those strings, so the strings alone were silently lossy:

* it rounds every output, stem and head width with ``round_chs_fn`` (multiples of 8) unless given a
  function that keeps them, and strides past ``output_stride`` (32) become dilation;
* its stem always strides by 2 (``EfficientNet.conv_stem``) and has no max pool (ResNet's);
  its batch norm defaults to eps 1e-5;
* it has no ResNet blocks (``basic``, ``bottleneck``: no timm form); ``sep`` is its ``dsa``;
* ``InvertedResidual`` makes its inner width ``make_divisible(in_chs * exp_ratio)`` (a multiple of 8,
  at least 8) where ours is ``round(in_chs * exp_ratio)``;
* its SE width is ``round(mid * se_ratio / exp_ratio)`` on *its* inner width, ours
  ``int(in_chs * se_ratio)`` (the export picks an se value that lands on ours wherever one exists);
* its plain conv block (``cn``) has no SE, and keeps a shortcut only when told ``skip``.

:func:`timm_export` gives the ``arch_def``, the keyword arguments that set everything timm lets us set
(:func:`timm_kwargs` resolves them for ``timm.models.efficientnet.EfficientNet``), and the verdict:
``differs`` lists, per block (counted from 1, as the stages of ``effsearch show``), what timm would
build differently (first what it cannot build at all: ``buildable``); an empty list means timm builds
the same network, parameter for parameter and output for output (:func:`to_timm_state_dict` moves
the weights). The verdict comes from a plain-Python mirror of timm's decoder and builder (timm 1.0),
so it needs no timm; ``tests/test_timm_builder.py`` checks it against timm's real networks in both
directions.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from effsearch.arch.blockstring import timm_arch_def
from effsearch.arch.ops import get_op, timm_divisible, timm_se_width
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.errors import SpecError

# effsearch.arch.blocks' batch norm (TensorFlow's decay 0.99, eps 1e-3); that module imports torch.
BN_EPS, BN_MOMENTUM = 1e-3, 0.01
TIMM_OUTPUT_STRIDE = 32  # timm's default; deeper networks get theirs raised so no stride turns into dilation
_KINDS = {"effsearch.arch.blocks:InvertedResidual": "ir", "effsearch.arch.blocks:ConvBlock": "cn",
          "effsearch.arch.classic:SeparableConv": "dsa"}
_KIND_NAMES = {"ir": "inverted residual", "ds": "depthwise-separable", "dsa": "separable (pointwise activation)",
               "cn": "plain conv"}
_TIMM_ACT_NAMES = {"re": "relu", "r6": "relu6", "hs": "hard_swish", "sw": "swish", "mi": "mish"}


class TimmExportWarning(UserWarning):
    """A network's timm ``arch_def`` does not rebuild it exactly (the message says where)."""


@dataclass(frozen=True)
class Layer:
    """One layer as a builder makes it: what must agree for two networks to be the same."""

    kind: str  # ir | ds | dsa | cn
    in_chs: int
    mid_chs: int
    out_chs: int
    kernel: int
    stride: int
    se_chs: int
    residual: bool
    act: str


@dataclass(frozen=True)
class TimmExport:
    """The timm form of one spec: ``arch_def``, builder keyword arguments (plain data) and the verdict."""

    arch_def: list[list[str | None]]
    kwargs: dict[str, Any]
    differs: tuple[str, ...] = field(default=())
    buildable: bool = True  # False where timm cannot build the export at all (the first reasons say why)

    @property
    def faithful(self) -> bool:
        return not self.differs


# --------------------------------------------------------------------------- our side


def _module_path(module: Any) -> str:
    return module if isinstance(module, str) else f"{module.__module__}:{module.__qualname__}"


def our_layers(block: BlockSpec) -> list[Layer] | None:
    """The layers effsearch builds for ``block``; ``None`` for an op whose module is not one of ours."""
    kind = _KINDS.get(_module_path(get_op(block.op).module))
    if kind is None:
        return None
    out = []
    for lay in block.layers():
        k = "ds" if kind == "ir" and not lay.has_expansion else kind
        out.append(Layer(k, lay.in_chs, lay.out_chs if k == "cn" else lay.mid_chs, lay.out_chs, lay.kernel_size,
                         lay.stride, lay.se_chs, lay.has_residual, lay.act))
    return out


# --------------------------------------------------------------------------- timm's side


def _decode(text: str) -> tuple[str, dict[str, str], bool | None, str | None]:
    """timm's ``_decode_block_str``: block type, numeric options, forced skip, activation override."""
    kind, *tokens = text.split("_")
    options: dict[str, str] = {}
    skip, act = None, None
    for token in tokens:
        if token in ("skip", "noskip"):
            skip = token == "skip"
        elif token.startswith("n"):
            act = _TIMM_ACT_NAMES.get(token[1:], act)  # timm ignores activations it does not know
        else:
            parts = re.split(r"(\d.*)", token)
            if len(parts) >= 2:
                options[parts[0]] = parts[1]
    return kind, options, skip, act


def timm_layers(text: str, in_chs: int, net_act: str) -> list[Layer]:
    """The layers timm's builder makes from one block string (``ir``, ``ds``, ``dsa`` or ``cn``) after ``in_chs``.

    Mirrors ``EfficientNetBuilder._make_block`` with widths kept as given: ``InvertedResidual`` (inner
    ``make_divisible(in * e)``), ``DepthwiseSeparableConv`` (inner = input; ``dsa``: an activation after
    the pointwise conv and never a shortcut) and ``ConvBnAct`` (no SE).
    """
    kind, opt, skip, act = _decode(text)
    if kind not in _KIND_NAMES:
        raise SpecError(f"timm block type {kind!r} ({text}) is not one effsearch can check")
    out_chs, stride, kernel = int(opt["c"]), int(opt["s"]), int(opt["k"])
    exp = float(opt["e"]) if kind == "ir" else 1.0
    se = float(opt.get("se", 0.0)) if kind != "cn" else 0.0  # cn's decoder never reads se
    layers = []
    for i in range(int(opt["r"])):
        chs, s = (in_chs, stride) if i == 0 else (out_chs, 1)
        mid = timm_divisible(chs * exp) if kind == "ir" else (out_chs if kind == "cn" else chs)
        se_chs = timm_se_width(mid, se, exp)
        if se and not se_chs:  # a 0-channel SE: timm's weight init divides by zero
            raise SpecError(f"timm rounds the SE of layer {i + 1} ({text}) to 0 channels and cannot build it")
        residual = s == 1 and chs == out_chs and kind != "dsa" and (skip is True if kind == "cn" else skip is not False)
        layers.append(Layer(kind, chs, mid, out_chs, kernel, s, se_chs, residual, act or net_act))
    return layers


# --------------------------------------------------------------------------- comparing


def _compare(index: int, ours: list[Layer], theirs: list[Layer]) -> list[str]:
    where = f"block {index}"
    if len(ours) != len(theirs):
        return [f"{where}: {len(ours)} layers, timm builds {len(theirs)}"]
    out: list[str] = []
    seen: set[str] = set()
    for j, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        at = where if j == 0 else f"{where} layer {j + 1}"
        for what, mine, timm in _differences(a, b):
            if what not in seen:
                seen.add(what)
                out.append(f"{at}: {what} {mine}, timm builds {timm}")
    return out


def _differences(a: Layer, b: Layer) -> list[tuple[str, object, object]]:
    if a.kind != b.kind:
        return [("layer", _KIND_NAMES[a.kind], _KIND_NAMES[b.kind])]
    found = []
    for what, name in (("inner width", "mid_chs"), ("output width", "out_chs"), ("kernel", "kernel"),
                       ("stride", "stride"), ("SE width", "se_chs"), ("activation", "act")):
        mine, timm = getattr(a, name), getattr(b, name)
        if mine != timm:
            found.append((what, mine or "none", timm or "none"))
    if a.residual != b.residual:
        found.append(("identity shortcut", "yes" if a.residual else "no", "one" if b.residual else "none"))
    return found


def _net_differences(spec: NetSpec) -> list[str]:
    out = []
    if spec.stem_stride != 2:
        out.append(f"stem stride {spec.stem_stride}, timm's stem always strides by 2")
    if spec.stem_pool:
        out.append("stem max pool, timm's EfficientNet has none")
    return out


def _block_differences(spec: NetSpec, arch_def: list[list[str | None]]) -> tuple[list[str], list[str]]:
    """(what timm cannot build at all, what it builds differently), per block."""
    fatal: list[str] = []
    out: list[str] = []
    for i, (block, stage) in enumerate(zip(spec.blocks, arch_def, strict=True), start=1):
        text = stage[0]
        if text is None:
            fatal.append(f"block {i}: {block.op}{' with SE' if block.se_ratio else ''} has no timm form")
            continue
        ours, kind = our_layers(block), text.split("_")[0]
        if ours is None or kind not in _KIND_NAMES:  # timm may build it; we cannot tell whether it is ours
            what = f"op {block.op}" if ours is None else f"timm block type {kind!r}"
            out.append(f"block {i}: {what} is not one effsearch can compare with timm")
            continue
        try:
            out += _compare(i, ours, timm_layers(text, block.in_chs, spec.act))
        except SpecError as exc:
            fatal.append(f"block {i}: {exc}")
        except (KeyError, ValueError) as exc:
            fatal.append(f"block {i}: timm cannot read {text!r} ({exc!r})")
    return fatal, out


def _output_stride(spec: NetSpec) -> int:
    return max(TIMM_OUTPUT_STRIDE, 2 * math.prod(b.stride for b in spec.blocks))


def timm_export(spec: NetSpec) -> TimmExport:
    """The ``arch_def``, the builder arguments (plain, JSON-able) and what timm cannot reproduce."""
    arch_def = timm_arch_def(spec)
    kwargs = {
        "arch_def": arch_def, "num_classes": spec.num_classes, "in_chans": spec.in_chans,
        "stem_size": spec.stem_chs, "fix_stem": True, "num_features": spec.head_chs, "round_chs_fn": "keep",
        "act_layer": spec.act, "bn_eps": BN_EPS, "bn_momentum": BN_MOMENTUM, "output_stride": _output_stride(spec),
        "drop_rate": spec.dropout, "drop_path_rate": spec.drop_connect,
    }
    if spec.stem_kernel != 3:  # timm's default; only other sizes are written, so older exports stay as they were
        kwargs["stem_kernel_size"] = spec.stem_kernel
    fatal, blocks = _block_differences(spec, arch_def)
    return TimmExport(arch_def, kwargs, tuple(fatal + _net_differences(spec) + blocks), buildable=not fatal)


def timm_fields(spec: NetSpec) -> dict[str, Any]:
    """``timm_arch_def``, ``timm_faithful``, ``timm_differs`` for a file; warns where timm differs."""
    export = timm_export(spec)
    if not export.faithful:
        name = repr(spec.name) if spec.name else "a network"
        # Issued from this line for every caller, so Python's default filter shows each message once.
        warnings.warn(f"the timm arch_def of {name} does not rebuild it: {'; '.join(export.differs)}",
                      TimmExportWarning, stacklevel=1)
    return {"timm_arch_def": export.arch_def, "timm_faithful": export.faithful, "timm_differs": list(export.differs)}


# --------------------------------------------------------------------------- with timm itself


def keep_channels(chs: int) -> int:
    """``round_chs_fn`` for timm's builder: widths stay exactly as the arch_def gives them."""
    return chs


def timm_kwargs(spec: NetSpec) -> dict[str, Any]:
    """Keyword arguments of ``timm.models.efficientnet.EfficientNet`` for ``spec`` (imports timm).

    Raises :class:`SpecError` where a block has no timm form; other differences (see
    :func:`timm_export`) still build, as the nearest network timm has.
    """
    from functools import partial

    from timm.layers import get_act_layer
    from timm.models._efficientnet_builder import decode_arch_def
    from torch import nn

    export = timm_export(spec)
    if not export.buildable:  # what makes it unbuildable is listed first
        raise SpecError(f"{spec.name or 'the network'} cannot be built by timm: {export.differs[0]}")
    kw = dict(export.kwargs)
    eps, momentum = kw.pop("bn_eps"), kw.pop("bn_momentum")
    kw.update(
        block_args=decode_arch_def(kw.pop("arch_def")), round_chs_fn=keep_channels,
        act_layer=get_act_layer(kw["act_layer"]), norm_layer=partial(nn.BatchNorm2d, eps=eps, momentum=momentum),
    )
    return kw


def build_timm(spec: NetSpec) -> Any:
    """timm's ``EfficientNet`` for ``spec`` (load our weights with :func:`to_timm_state_dict`)."""
    from timm.models.efficientnet import EfficientNet

    return EfficientNet(**timm_kwargs(spec))


def to_timm_state_dict(state_dict: Mapping[str, Any], target: Any) -> dict[str, Any]:
    """Our model's ``state_dict`` under timm's parameter names, matched in module order and checked by shape.

    ``target`` is timm's model (or its ``state_dict``). Both builders create a layer's parts in the same
    order (conv, norm, SE, ...), so a faithful export maps one to one and loads with ``strict=True``.
    """
    theirs = target.state_dict() if hasattr(target, "state_dict") else target
    if len(state_dict) != len(theirs):
        raise SpecError(f"our model has {len(state_dict)} tensors, timm's {len(theirs)}: not the same network")
    out = {}
    for (ours_key, value), (key, want) in zip(state_dict.items(), theirs.items(), strict=True):
        if tuple(value.shape) != tuple(want.shape):
            raise SpecError(f"{ours_key} {tuple(value.shape)} does not fit timm's {key} {tuple(want.shape)}")
        out[key] = value
    return out


_UNIT = re.compile(r"^(?P<layer>blocks\.\d+\.\d+\.)(?P<unit>[A-Za-z_]\w*)\.(?P<part>conv|bn)\.(?P<rest>.+)$")
_NET_UNIT = re.compile(r"^(?P<unit>stem|conv_head)\.(?P<part>conv|bn)\.(?P<rest>.+)$")
_NET_NAMES = {("stem", "conv"): "conv_stem", ("stem", "bn"): "bn1", ("conv_head", "conv"): "conv_head", ("conv_head", "bn"): "bn2"}


def timm_names(keys: list[str] | Mapping[str, Any]) -> list[str]:
    """timm's ``EfficientNet`` state-dict names for our model's ``state_dict`` keys, without importing timm.

    Ours nest each conv with its norm (``blocks.1.0.conv_dw.conv.weight``, ``.conv_dw.bn.bias``); timm keeps
    the conv's name for the conv and numbers the norms of a layer ``bn1``, ``bn2``, ... in module order
    (``blocks.1.0.conv_dw.weight``, ``blocks.1.0.bn2.bias``), and calls a depthwise-separable layer's
    projection ``conv_pw``; stem and head are ``conv_stem``/``bn1`` and
    ``conv_head``/``bn2`` at the top. SE and classifier names are shared. Checked against timm's real
    networks in ``tests/test_timm_builder.py``.
    """
    out: list[str] = []
    norms: dict[tuple[str, str], int] = {}  # (layer, unit) -> its norm's number within the layer
    first: dict[str, str] = {}  # layer -> its first conv unit
    for key in keys:
        net, m = _NET_UNIT.match(key), _UNIT.match(key)
        if net is not None:
            out.append(f"{_NET_NAMES[net['unit'], net['part']]}.{net['rest']}")
        elif m is None:
            out.append(key)
        elif m["part"] == "conv":
            first.setdefault(m["layer"], m["unit"])
            # A layer that starts at its depthwise conv is timm's DepthwiseSeparableConv, whose
            # pointwise projection is named conv_pw (an InvertedResidual's is conv_pwl).
            unit = "conv_pw" if m["unit"] == "conv_pwl" and first[m["layer"]] == "conv_dw" else m["unit"]
            out.append(f"{m['layer']}{unit}.{m['rest']}")
        else:
            layer = m["layer"]
            index = norms.setdefault((layer, m["unit"]), 1 + sum(1 for u in norms if u[0] == layer))
            out.append(f"{layer}bn{index}.{m['rest']}")
    return out


def timm_state_dict(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Our model's ``state_dict`` under timm's names (:func:`timm_names`); timm loads it with ``strict=True``
    wherever :func:`timm_export` finds the network faithful."""
    return dict(zip(timm_names(list(state_dict)), state_dict.values(), strict=True))
