"""Search space files: find a built-in space or a user's YAML file, and validate it field by field.

:func:`space_fields` returns the keyword arguments of a :class:`~effsearch.search.space.SearchSpace`;
``effsearch.search.space.load_space`` builds the space from them and checks every network it holds.

The format is described in :mod:`effsearch.search.space` (and ``search_spaces/mnasnet.yaml``).
Every error is one line naming the file, where in it, and what was expected.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from effsearch.arch.spec import ACTS
from effsearch.search.choices import _PARSERS, FIELDS, SpaceBlock, SpaceError, _delta, _fail, _positive

_TOP_KEYS = ("name", "description", "network", "choices", "blocks")


_NETWORK_REQUIRED = ("stem", "head", "resolution", "act")


_NETWORK_OPTIONAL = ("dropout", "drop_connect", "num_classes")


_BLOCK_KEYS = ("filters", "layers", "stride", "choices")


PACKAGE_DIR = "search_spaces"


def available_spaces() -> list[str]:
    """Names of the built-in spaces (``load_space(name)`` accepts them)."""
    folder = resources.files("effsearch") / PACKAGE_DIR
    return sorted(item.name.removesuffix(".yaml") for item in folder.iterdir() if item.name.endswith(".yaml"))


def is_builtin(path: str | Path) -> bool:
    """Whether ``path`` is one of the built-in space files shipped with effsearch."""
    folder = Path(str(resources.files("effsearch") / PACKAGE_DIR)).resolve()
    return Path(path).resolve().parent == folder


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


def read_space_file(name_or_path: str | Path) -> tuple[Path, Any]:
    """The file a space name or path stands for, and its parsed YAML (not validated yet)."""
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
    return path, data


def space_fields(data: Any, *, source: str = "<dict>", default_name: str = "custom") -> dict[str, Any]:
    """The validated fields of a space given as a mapping (the parsed YAML); raises :class:`SpaceError`."""
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
    return {"name": name, "source": source, "blocks": blocks, "description": str(description).strip(), **network}


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

