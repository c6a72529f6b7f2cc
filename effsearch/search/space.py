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

What a choice value means is :mod:`effsearch.search.choices`; finding and checking the YAML files is
:mod:`effsearch.search.space_file`; this module holds the space itself and its entry points
(:func:`load_space`, :func:`parse_space`, :func:`extreme_params`). Built-in spaces live in
``effsearch/search_spaces/`` (package data, so they ship with an installed package); the
checkout's top-level ``search_spaces/`` is a link to that folder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from effsearch.arch.spec import NetSpec
from effsearch.errors import EffsearchError
from effsearch.search.choices import (  # noqa: F401  (_op, _se: the supernet reads choice values the same way)
    FIELDS,
    SKIPS,
    SpaceBlock,
    SpaceError,
    _fail,
    _op,
    _se,
)
from effsearch.search.space_file import available_spaces, read_space_file, space_fields


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
    width: float = 1.0  # the multiplier search.space_fit.scale_space applied to the file's widths

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
        scaled = f" (widths x{self.width:g})" if self.width != 1 else ""
        return (f"search space {self.name}{scaled}: {len(self.blocks)} blocks, {len(self._decisions)} decisions, "
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


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A built-in space by name (``mnasnet``, ``small``) or a user's YAML file by path, validated."""
    path, data = read_space_file(name_or_path)
    return parse_space(data, source=str(path), default_name=path.stem)


def parse_space(data: Any, *, source: str = "<dict>", default_name: str = "custom") -> SearchSpace:
    """Validate a space given as a mapping (the parsed YAML); raises :class:`SpaceError`."""
    space = SearchSpace(**space_fields(data, source=source, default_name=default_name))
    _validate_specs(space, source)
    return space


def _validate_specs(space: SearchSpace, source: str) -> None:
    """Build every stage variant once, so a space that loads can only produce valid specs."""
    for block in space.blocks:
        try:
            block.variants(space.act)
        except EffsearchError as exc:
            _fail(source, f"blocks[{block.index - 1}]", str(exc))
    try:
        space.to_spec({name: values[0] for name, values in space._decisions})
    except EffsearchError as exc:
        _fail(source, "network", str(exc))


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


__all__ = ["FIELDS", "SKIPS", "SearchSpace", "SpaceBlock", "SpaceError", "available_spaces", "extreme_params",
           "load_space", "parse_space"]
