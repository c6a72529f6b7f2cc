"""Search spaces: validated YAML files that turn a flat dict of categorical decisions into a NetSpec.

A space is a base network (stem, head, deployment resolution, activation) and a list of blocks, each
with base ``filters``, ``layers`` and ``stride``, plus per-block *choices* (MnasNet's factorized
hierarchical space, Tan et al. 2019, section 4.1)::

    op       conv | ds | mbconv_e<ratio>   plain conv, depthwise-separable, MBConv with expansion
                                           (any registered op: its name, or <name>_e<ratio> if it expands)
    kernel   odd kernel size               3, 5, ...
    se       SE ratio                      0 (none) or e.g. 0.25
    skip     identity | none               identity shortcut where shapes allow, or none
    filters  width multiplier              out channels = round_channels(base filters, multiplier)
    layers   depth delta                   repeats = max(1, base layers + delta)

``choices`` at the top level apply to every block; a block may override any of them with its own
``choices`` mapping. A choice list of one value fixes that field; every list of two or more values
becomes one Optuna categorical parameter named ``b<block>_<field>`` (``b1_op`` ... ``b7_layers``),
suggested in block order and, within a block, in the order of the table above.

Loading and validating the YAML files is :mod:`effsearch.search.space_file`. Built-in spaces live in
``effsearch/search_spaces/`` (package data, so they ship with an installed package); the
checkout's top-level ``search_spaces/`` is a link to that folder.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from effsearch.arch.scaling import round_channels
from effsearch.arch.spec import MAX_KERNEL, BlockSpec, NetSpec
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


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space; see the module docstring for the file format."""

    name: str
    source: str
    stem: int
    head: int
    resolution: int
    act: str
    blocks: tuple[SpaceBlock, ...]
    dropout: float = 0.2
    drop_connect: float = 0.2
    num_classes: int = 1000
    description: str = ""

    @cached_property
    def _decisions(self) -> tuple[tuple[str, tuple[Any, ...]], ...]:
        return tuple(
            (f"b{block.index}_{key}", values)
            for block in self.blocks
            for key, values in block.choices
            if len(values) > 1
        )

    @property
    def decisions(self) -> list[tuple[str, list[Any]]]:
        """Ordered ``(param_name, choices)`` pairs: one Optuna categorical parameter each."""
        return [(name, list(values)) for name, values in self._decisions]

    @cached_property
    def size(self) -> int:
        """Number of distinct architectures (NetSpecs) the space contains.

        Stage ``i``'s input width is stage ``i-1``'s output width, so distinct networks are exactly
        the product over blocks of distinct stages; decisions that collapse after rounding (16 x 0.75
        rounds back to 16) or clamping (one layer minus one is still one) are counted once.
        """
        return math.prod(len(block.variants(self.act)) for block in self.blocks)

    @property
    def num_combinations(self) -> int:
        """Number of distinct decision vectors (at least :attr:`size`)."""
        return math.prod(len(values) for _, values in self._decisions)

    def describe(self) -> str:
        """One line for logs and the CLI: name, decisions and size."""
        return (f"search space {self.name}: {len(self.blocks)} blocks, {len(self._decisions)} decisions, "
                f"{self.size:,} distinct architectures ({self.size:.3g})")

    def distributions(self) -> dict[str, Any]:
        """``{param_name: optuna.distributions.CategoricalDistribution}`` in decision order."""
        from optuna.distributions import CategoricalDistribution

        return {name: CategoricalDistribution(list(values)) for name, values in self._decisions}

    def to_spec(self, params: dict[str, Any]) -> NetSpec:
        """The network for one value per decision; keys that are not decisions are ignored."""
        blocks, prev = [], self.stem
        for block in self.blocks:
            values = {key: self._value(block, key, options, params) for key, options in block.choices}
            spec = block.resolve(values, prev, self.act)
            blocks.append(spec)
            prev = spec.out_chs
        return NetSpec(
            blocks=tuple(blocks), stem_chs=self.stem, head_chs=self.head, resolution=self.resolution,
            act=self.act, dropout=self.dropout, drop_connect=self.drop_connect, num_classes=self.num_classes,
            name=self.name,
        )

    def _value(self, block: SpaceBlock, key: str, options: tuple[Any, ...], params: dict[str, Any]) -> Any:
        if len(options) == 1:
            return options[0]
        name = f"b{block.index}_{key}"
        if name not in params:
            raise SpaceError(f"search space {self.name}: decision {name!r} is missing from the params")
        value = params[name]
        if value not in options:
            raise SpaceError(f"search space {self.name}: {name} = {value!r} is not one of {list(options)}")
        return value

    def suggest(self, trial: Any) -> NetSpec:
        """Ask ``trial`` for every decision, in order, and return the network it chose."""
        params = {name: trial.suggest_categorical(name, list(values)) for name, values in self._decisions}
        return self.to_spec(params)


def extreme_params(space: SearchSpace, *, largest: bool, cost: str = "macs") -> dict[str, Any]:
    """The decision values of the space's largest (or smallest) network by ``cost`` (macs or params).

    One greedy pass per decision, in order, with every other decision at its current value: exact
    for the width, depth, kernel, expansion and SE decisions, which each grow cost monotonically.
    Skips stay on (``identity``) in both: a residual path helps a supernet's extremes train.
    """
    from effsearch.arch.cost import count

    params = {name: values[-1 if largest else 0] for name, values in space.decisions}
    for name, values in space.decisions:
        if name.endswith("_skip"):
            params[name] = "identity" if "identity" in values else values[0]
            continue
        costs = [(getattr(count(space.to_spec({**params, name: v})), cost), i) for i, v in enumerate(values)]
        params[name] = values[(max(costs) if largest else min(costs))[1]]
    return params


from effsearch.search.space_file import available_spaces, load_space, parse_space  # noqa: E402  (loading needs the classes above)

__all__ = ["FIELDS", "SearchSpace", "SpaceBlock", "SpaceError", "available_spaces", "extreme_params", "load_space",
           "parse_space"]
