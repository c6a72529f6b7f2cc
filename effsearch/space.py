"""Search spaces: validated YAML files that turn a flat dict of categorical decisions into a NetSpec.

A space is a base network (stem, head, deployment resolution, activation) and a list of blocks, each
with base ``filters``, ``layers`` and ``stride``, plus per-block *choices* (MnasNet's factorized
hierarchical space, Tan et al. 2019, section 4.1)::

    op       conv | ds | mbconv_e<ratio>   plain conv, depthwise-separable, MBConv with expansion
    kernel   odd kernel size               3, 5, ...
    se       SE ratio                      0 (none) or e.g. 0.25
    skip     identity | none               identity shortcut where shapes allow, or none
    filters  width multiplier              out channels = round_channels(base filters, multiplier)
    layers   depth delta                   repeats = max(1, base layers + delta)

``choices`` at the top level apply to every block; a block may override any of them with its own
``choices`` mapping. A choice list of one value fixes that field; every list of two or more values
becomes one Optuna categorical parameter named ``b<block>_<field>`` (``b1_op`` ... ``b7_layers``),
suggested in block order and, within a block, in the order of the table above.

Built-in spaces live beside this module in ``effsearch/search_spaces/`` (package data, so they ship
with an installed package); the checkout's top-level ``search_spaces/`` is a link to that folder.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from effsearch.errors import EffsearchError
from effsearch.scaling import round_channels
from effsearch.spec import ACTS, MAX_KERNEL, BlockSpec, NetSpec

FIELDS = ("op", "kernel", "se", "skip", "filters", "layers")
"""Per-block decision fields, in the order they are suggested."""
SKIPS = {"identity": True, "none": False}
_MBCONV = re.compile(r"^mbconv_e(\d+(?:\.\d+)?)$")
_TOP_KEYS = ("name", "description", "network", "choices", "blocks")
_NETWORK_REQUIRED = ("stem", "head", "resolution", "act")
_NETWORK_OPTIONAL = ("dropout", "drop_connect", "num_classes")
_BLOCK_KEYS = ("filters", "layers", "stride", "choices")
PACKAGE_DIR = "search_spaces"


class SpaceError(EffsearchError):
    """A search space file or a set of decisions is invalid."""


def _fail(source: str, where: str, message: str) -> None:
    raise SpaceError(f"search space {source}: {where}: {message}")


# -- per-field value parsers: a choice value -> the BlockSpec fields it sets --------------------

def _op(value: object) -> dict[str, Any]:
    if value in ("conv", "ds"):
        return {"op": value, "exp_ratio": 1}
    match = _MBCONV.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("unknown op (expected conv, ds or mbconv_e<ratio>, e.g. mbconv_e6)")
    ratio = float(match.group(1))
    return {"op": "mbconv", "exp_ratio": int(ratio) if ratio.is_integer() else ratio}


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


# -- loading and validation ----------------------------------------------------------------------

def available_spaces() -> list[str]:
    """Names of the built-in spaces (``load_space(name)`` accepts them)."""
    folder = resources.files("effsearch") / PACKAGE_DIR
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def _locate(name_or_path: str | Path) -> Path:
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text:
        raise SpaceError(f"search space file {text} does not exist; give a YAML file or one of {', '.join(available_spaces())}")
    builtin = resources.files("effsearch") / PACKAGE_DIR / f"{text}.yaml"
    if not builtin.is_file():
        raise SpaceError(f"unknown search space {text!r}; use one of {', '.join(available_spaces())} or a path to a YAML file")
    return Path(str(builtin))


def load_space(name_or_path: str | Path) -> SearchSpace:
    """A built-in space by name (``mnasnet``, ``small``) or a user's YAML file by path, validated."""
    path = _locate(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "YAML"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpaceError(f"search space {path}: {where}: corrupt YAML ({problem}); fix the file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpaceError(f"search space {path}: cannot be read ({exc})") from None
    return parse_space(data, source=str(path), default_name=path.stem)


def parse_space(data: Any, *, source: str = "<dict>", default_name: str = "custom") -> SearchSpace:
    """Validate a space given as a mapping (the parsed YAML); raises :class:`SpaceError`."""
    if not isinstance(data, dict):
        _fail(source, "top level", f"expected a mapping with {', '.join(_TOP_KEYS[2:])}, got {type(data).__name__}")
    _unknown(source, "top level", data, _TOP_KEYS)
    for key in ("network", "choices", "blocks"):
        if key not in data:
            _fail(source, key, "missing (see search_spaces/mnasnet.yaml for the format)")
    network = _parse_network(data["network"], source)
    defaults = _parse_choices(data["choices"], source, "choices")
    blocks = _parse_blocks(data["blocks"], defaults, source)
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        _fail(source, "name", f"{name!r} is invalid (expected a non-empty string)")
    description = data.get("description") or ""
    space = SearchSpace(name=name, source=source, blocks=blocks, description=str(description).strip(), **network)
    _validate_specs(space, source)
    return space


def _unknown(source: str, where: str, data: dict, allowed: tuple[str, ...]) -> None:
    unknown = [key for key in data if key not in allowed]
    if unknown:
        _fail(source, where, f"unknown key {unknown[0]!r} (expected {', '.join(allowed)})")


def _int(source: str, where: str, value: Any, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        _fail(source, where, f"{value!r} is invalid (expected an integer >= {lo})")
    return value


def _parse_network(data: Any, source: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        _fail(source, "network", f"expected a mapping with {', '.join(_NETWORK_REQUIRED)}")
    _unknown(source, "network", data, _NETWORK_REQUIRED + _NETWORK_OPTIONAL)
    for key in _NETWORK_REQUIRED:
        if key not in data:
            _fail(source, f"network.{key}", f"missing (the network needs {', '.join(_NETWORK_REQUIRED)})")
    out = {key: _int(source, f"network.{key}", data[key], lo) for key, lo in (("stem", 1), ("head", 1), ("resolution", 8))}
    if data["act"] not in ACTS:
        _fail(source, "network.act", f"{data['act']!r} is invalid (expected one of {', '.join(ACTS)})")
    out["act"] = data["act"]
    for key in ("dropout", "drop_connect"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                _fail(source, f"network.{key}", f"{value!r} is invalid (expected a number in [0, 1))")
            out[key] = float(value)
    if "num_classes" in data:
        out["num_classes"] = _int(source, "network.num_classes", data["num_classes"], 1)
    return out


def _parse_choices(data: Any, source: str, where: str) -> dict[str, tuple[Any, ...]]:
    if not isinstance(data, dict):
        _fail(source, where, f"expected a mapping of {', '.join(FIELDS)} to lists of choices")
    _unknown(source, where, data, FIELDS)
    out: dict[str, tuple[Any, ...]] = {}
    for key, values in data.items():
        if not isinstance(values, list):
            values = [values]  # a bare scalar fixes the field
        if not values:
            _fail(source, f"{where}.{key}", "empty choice list (give at least one value)")
        for value in values:
            _check_value(source, f"{where}.{key}", key, value)
        if len(set(map(repr, values))) != len(values):
            _fail(source, f"{where}.{key}", f"{values!r} lists a value twice")
        out[key] = tuple(values)
    return out


def _check_value(source: str, where: str, key: str, value: Any) -> None:
    if value is not None and not isinstance(value, (bool, int, float, str)):
        _fail(source, where, f"{value!r} is not a scalar (choices must be numbers or strings)")
    check = _PARSERS.get(key) or {"filters": _positive, "layers": _delta}[key]
    try:
        check(value)
    except ValueError as exc:
        _fail(source, where, f"{value!r}: {exc}")


def _parse_blocks(data: Any, defaults: dict[str, tuple[Any, ...]], source: str) -> tuple[SpaceBlock, ...]:
    if not isinstance(data, list) or not data:
        _fail(source, "blocks", "expected a non-empty list of {filters, layers, stride} mappings")
    blocks = []
    for i, item in enumerate(data):
        where = f"blocks[{i}]"
        if not isinstance(item, dict):
            _fail(source, where, f"expected a mapping with filters, layers, stride, got {item!r}")
        _unknown(source, where, item, _BLOCK_KEYS)
        for key in ("filters", "layers", "stride"):
            if key not in item:
                _fail(source, f"{where}.{key}", "missing (every block needs filters, layers and stride)")
        if item["stride"] not in (1, 2) or isinstance(item["stride"], bool):
            _fail(source, f"{where}.stride", f"{item['stride']!r} is invalid (expected 1 or 2)")
        own = _parse_choices(item.get("choices", {}), source, f"{where}.choices")
        merged = {**defaults, **own}
        missing = [key for key in FIELDS if key not in merged]
        if missing:
            _fail(source, f"choices.{missing[0]}", f"missing for block {i + 1} (give it at the top level or in the block)")
        blocks.append(SpaceBlock(
            index=i + 1, filters=_int(source, f"{where}.filters", item["filters"], 1),
            layers=_int(source, f"{where}.layers", item["layers"], 1), stride=item["stride"],
            choices=tuple((key, merged[key]) for key in FIELDS),
        ))
    return tuple(blocks)


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

