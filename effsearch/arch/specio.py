"""Specs to and from YAML/JSON files, and :func:`load_spec` for presets, files and results folders.

On disk a spec is a mapping whose ``blocks`` are official block strings, so files stay readable and
diffable; the round trip is lossless.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from effsearch.arch.blockstring import format_block, parse_block
from effsearch.arch.presets import get_preset, is_preset
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.arch.timmcompat import timm_fields
from effsearch.errors import SpecError

_NET_FIELDS = (
    "name", "resolution", "stem_chs", "head_chs", "num_classes", "dropout", "drop_connect", "act",
    "stem_stride", "in_chans", "stem_kernel", "stem_pool", "channel_divisor",
)
# Written only where they differ from these defaults, so every file (and every resume record built
# from spec_to_dict) of a network without them stays as it was before they existed.
_OPTIONAL = {"stem_kernel": 3, "stem_pool": False, "channel_divisor": 8}
SPEC_FILES = ("baseline.yaml", "spec.yaml", "baseline.json")
# Written beside the spec, never read back: derived data the spec determines.
_DERIVED = ("timm_arch_def", "timm_faithful", "timm_differs", "meta", "params", "macs")


def spec_to_dict(spec: NetSpec, *, timm: bool = False) -> dict[str, Any]:
    """The file form of ``spec``; ``timm=True`` adds its timm ``arch_def`` and whether it rebuilds the spec.

    Where timm would build another network, ``timm_differs`` says how, and a
    :class:`~effsearch.arch.timmcompat.TimmExportWarning` is issued.
    """
    out: dict[str, Any] = {name: getattr(spec, name) for name in _NET_FIELDS
                           if name not in _OPTIONAL or getattr(spec, name) != _OPTIONAL[name]}
    out["blocks"] = [format_block(b) for b in spec.blocks]
    if timm:
        out.update(timm_fields(spec))
    return out


def _block_from(item: Any, index: int) -> BlockSpec:
    if isinstance(item, str):
        return parse_block(item)
    if isinstance(item, dict):
        try:
            return BlockSpec(**item)
        except TypeError as exc:
            raise SpecError(f"blocks[{index}]: {exc}") from None
    raise SpecError(f"blocks[{index}] {item!r} is invalid (expected a block string or a mapping)")


def spec_from_dict(data: Any, *, source: str = "spec") -> NetSpec:
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with 'blocks', got {type(data).__name__}")
    if "spec" in data and isinstance(data["spec"], dict):
        data = data["spec"]
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        raise SpecError(f"{source}: 'blocks' must be a non-empty list of block strings")
    unknown = set(data) - set(_NET_FIELDS) - {"blocks", *_DERIVED}
    if unknown:
        raise SpecError(f"{source}: unknown field {sorted(unknown)[0]!r} (expected {', '.join(_NET_FIELDS)}, blocks)")
    kwargs = {name: data[name] for name in _NET_FIELDS if name in data and data[name] is not None}
    try:
        return NetSpec(blocks=tuple(_block_from(b, i) for i, b in enumerate(blocks)), **kwargs)
    except SpecError as exc:
        raise SpecError(f"{source}: {exc}") from None


def dumps(spec: NetSpec, fmt: str = "yaml") -> str:
    data = spec_to_dict(spec, timm=True)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)


def save_spec(spec: NetSpec, path: str | Path) -> Path:
    """``path`` as YAML (JSON for ``.json``), written atomically: an interrupted write never leaves half a spec."""
    from effsearch.runtime.files import atomic_write_text

    path = Path(path)
    return atomic_write_text(path, dumps(spec, "json" if path.suffix == ".json" else "yaml"))


def read_structured(path: Path) -> Any:
    """Parse a YAML or JSON file with one-line errors."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SpecError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {first}") from None


def _spec_file_in(folder: Path) -> Path:
    for name in SPEC_FILES:
        if (folder / name).is_file():
            return folder / name
    raise SpecError(f"{folder} has no {' or '.join(SPEC_FILES)}; run 'effsearch baseline' there first")


def load_spec(name_or_path: str | Path) -> NetSpec:
    """A spec from a preset name (``efficientnet-b0``), a YAML/JSON file, or a results folder."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and is_preset(text):
        return get_preset(text)
    path = Path(text)
    if path.is_dir():
        path = _spec_file_in(path)
    elif not path.exists():
        if "/" not in text and "." not in text:
            return get_preset(text)  # raises the "unknown preset" message
        raise SpecError(f"spec file {path} does not exist; give a preset name, a spec file or a results folder")
    return spec_from_dict(read_structured(path), source=str(path))
