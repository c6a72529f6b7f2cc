"""A search space's choice fields: what each value means, and one block's choices (:class:`SpaceBlock`).

The file format and the decision names are described in :mod:`effsearch.search.space`; these are the
pieces both the space and its file loader (:mod:`effsearch.search.space_file`) build on.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any

from effsearch.arch.scaling import round_channels
from effsearch.arch.spec import MAX_KERNEL, BlockSpec
from effsearch.errors import EffsearchError

FIELDS = ("op", "kernel", "se", "skip", "filters", "layers")
"""Per-block decision fields, in the order they are suggested."""


SKIPS = {"identity": True, "none": False}
_OP = re.compile(r"^([a-z][a-z0-9]*)(?:_e(\d+(?:\.\d+)?))?$")


class SpaceError(EffsearchError):
    """A search space file or a set of decisions is invalid."""


def _fail(source: str, where: str, message: str) -> None:
    raise SpaceError(f"search space {source}: {where}: {message}")


# -- per-field value parsers: a choice value -> the BlockSpec fields it sets --------------------

def _op(value: object) -> dict[str, Any]:
    """``conv`` / ``ds`` (an op without expansion) or ``mbconv_e6`` (an expanding op and its ratio)."""
    from effsearch.arch.ops import get_op, op_names

    match = _OP.match(value) if isinstance(value, str) else None
    if not match or match.group(1) not in op_names():
        names = ", ".join(n + ("_e<ratio>" if get_op(n).expands else "") for n in op_names())
        raise ValueError(f"unknown op (expected one of {names}, e.g. mbconv_e6)")
    op, ratio = get_op(match.group(1)), match.group(2)
    if op.expands and ratio is None:
        raise ValueError(f"op {op.name} needs an expansion ratio, e.g. {op.name}_e6")
    if not op.expands and ratio is not None:
        raise ValueError(f"op {op.name} has no expansion; write {op.name}")
    if ratio is None:
        return {"op": op.name, "exp_ratio": 1}
    r = float(ratio)
    return {"op": op.name, "exp_ratio": int(r) if r.is_integer() else r}


def _kernel(value: object) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, int) or value % 2 == 0 or not 1 <= value <= MAX_KERNEL:
        raise ValueError(f"expected an odd kernel size from 1 to {MAX_KERNEL}, e.g. 3 or 5")
    return {"kernel_size": value}


def _se(value: object) -> dict[str, Any]:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError("expected an SE ratio in [0, 1], e.g. 0 or 0.25")
    return {"se_ratio": float(value)}


def _skip(value: object) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"skip": value}
    if value not in SKIPS:
        raise ValueError("expected identity or none")
    return {"skip": SKIPS[value]}


def _positive(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError("expected a positive width multiplier, e.g. 0.75, 1.0 or 1.25")
    return float(value)


def _delta(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("expected an integer layer delta, e.g. -1, 0 or 1")
    return value


_PARSERS = {"op": _op, "kernel": _kernel, "se": _se, "skip": _skip}


@dataclass(frozen=True)
class SpaceBlock:
    """One block of the space: its MobileNetV2-relative base and its choice lists per field."""

    index: int
    filters: int
    layers: int
    stride: int
    choices: tuple[tuple[str, tuple[Any, ...]], ...]

    def choice_map(self) -> dict[str, tuple[Any, ...]]:
        return dict(self.choices)

    def resolve(self, values: dict[str, Any], in_chs: int, act: str) -> BlockSpec:
        """The stage for one value per field (values already validated against the choice lists)."""
        fields: dict[str, Any] = {}
        for key, parse in _PARSERS.items():
            fields.update(parse(values[key]))
        return BlockSpec(
            **fields,
            repeats=max(1, self.layers + _delta(values["layers"])),
            stride=self.stride,
            in_chs=in_chs,
            out_chs=round_channels(self.filters, _positive(values["filters"])),
            act=act,
        )

    def variants(self, act: str) -> set[BlockSpec]:
        """Every distinct stage this block can become (input width left out: it is the previous block's)."""
        keys = [key for key, _ in self.choices]
        out = set()
        for combo in itertools.product(*(values for _, values in self.choices)):
            out.add(self.resolve(dict(zip(keys, combo, strict=True)), 1, act))
        return out
