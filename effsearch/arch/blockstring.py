"""Block strings: the compact, round-trippable text form of a :class:`BlockSpec`.

The official EfficientNet form is ``r2_k3_s22_e6_i16_o24_se0.25`` (repeats, kernel, stride twice,
expansion, in/out channels, SE ratio; ``noskip`` drops the shortcut). Ops other than MBConv add
their registered token (``ds``, ``conv``, ``basic``, ``bottleneck``, ``sep``; :mod:`effsearch.arch.ops`)
and non-default activations one more (``relu``, ``relu6``), so every spec round-trips.
:func:`to_timm` emits timm's ``arch_def`` form (``ir_r2_k3_s2_e6_c24_se0.25``) for training with timm.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from effsearch.arch import ops
from effsearch.arch.spec import ACTS, BlockSpec, NetSpec
from effsearch.errors import SpecError

_TOKEN = re.compile(r"^([a-z]+?)(\d[\d.]*)$")


def _stride(text: str) -> int:
    # Official strings repeat the stride per axis ("s22"); effsearch only uses square strides.
    if len(text) == 2 and text[0] == text[1]:
        return int(text[0])
    if len(text) == 1:
        return int(text)
    raise ValueError("expected s1, s2, s11 or s22")


_KEYS: dict[str, tuple[str, Callable[[str], object]]] = {
    "r": ("repeats", int),
    "k": ("kernel_size", int),
    "s": ("stride", _stride),
    "e": ("exp_ratio", float),
    "i": ("in_chs", int),
    "o": ("out_chs", int),
    "se": ("se_ratio", float),
}
_REQUIRED = ("repeats", "kernel_size", "stride", "in_chs", "out_chs")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _parse_token(token: str, fields: dict[str, object], text: str) -> None:
    op = ops.op_for_token(token)
    if op is not None:
        fields["op"] = op.name
    elif token in ACTS:
        fields["act"] = token
    elif token in ("noskip", "skip"):
        fields["skip"] = token == "skip"
    else:
        match = _TOKEN.match(token)
        if not match or match.group(1) not in _KEYS:
            raise SpecError(f"block string {text!r}: unknown token {token!r} (expected r, k, s, e, i, o, se, noskip)")
        name, convert = _KEYS[match.group(1)]
        try:
            value = convert(match.group(2))
        except ValueError as exc:
            raise SpecError(f"block string {text!r}: {name} {match.group(2)!r} is malformed ({exc})") from None
        if isinstance(value, float) and value.is_integer() and name == "exp_ratio":
            value = int(value)
        fields[name] = value


def parse_block(text: str) -> BlockSpec:
    """Parse an official block string such as ``r1_k3_s11_e1_i32_o16_se0.25``."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"block string {text!r} is empty; expected e.g. r1_k3_s11_e1_i32_o16_se0.25")
    fields: dict[str, object] = {}
    for token in text.strip().split("_"):
        _parse_token(token, fields, text)
    missing = [name for name in _REQUIRED if name not in fields]
    if missing:
        raise SpecError(f"block string {text!r}: missing {', '.join(missing)} (e.g. r1_k3_s11_e1_i32_o16)")
    try:
        return BlockSpec(**fields)
    except SpecError as exc:
        raise SpecError(f"block string {text!r}: {str(exc).removeprefix('block: ')}") from None


def format_block(block: BlockSpec) -> str:
    """The official string of ``block``; parse_block(format_block(b)) == b."""
    token = ops.get_op(block.op).token
    parts = [] if token is None else [token]
    parts += [f"r{block.repeats}", f"k{block.kernel_size}", f"s{block.stride}{block.stride}"]
    parts += [f"e{_num(block.exp_ratio)}", f"i{block.in_chs}", f"o{block.out_chs}"]
    if block.se_ratio:
        parts.append(f"se{_num(block.se_ratio)}")
    if not block.skip:
        parts.append("noskip")
    if block.act != "swish":
        parts.append(block.act)
    return "_".join(parts)


def to_timm(block: BlockSpec, net_act: str = "swish") -> str | None:
    """timm ``arch_def`` string of one stage, as its op declares it; ``None`` where timm has no equal."""
    return ops.get_op(block.op).timm(block, net_act)


def timm_arch_def(spec: NetSpec) -> list[list[str | None]]:
    """One stage per block, as timm's ``decode_arch_def`` expects (``None`` for a stage timm cannot express)."""
    return [[to_timm(block, spec.act)] for block in spec.blocks]
