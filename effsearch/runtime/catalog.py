"""What effsearch knows by name: presets, search spaces, ops, data sets, samplers, evaluators, objectives.

One place that reads every registry, so ``effsearch list`` (and a notebook) can show the choices
without provoking an "unknown name" error to see them. Registries a plugin extends show its entries.
"""

from __future__ import annotations

from collections.abc import Callable

KINDS = ("presets", "spaces", "ops", "datasets", "samplers", "evaluators", "objectives")


def _presets() -> list[tuple[str, str]]:
    from effsearch.arch.cost import count
    from effsearch.arch.presets import get_preset, preset_names
    from effsearch.units import format_count

    rows = []
    for name in preset_names():
        spec = get_preset(name)
        cost = count(spec)
        rows.append((name, f"{len(spec.blocks)} stages, {format_count(cost.params)} params, "
                           f"{format_count(cost.macs)} MACs at {spec.resolution} px"))
    return rows


def _spaces() -> list[tuple[str, str]]:
    from effsearch.search.space import load_space
    from effsearch.search.space_file import available_spaces

    rows = []
    for name in available_spaces():
        space = load_space(name)
        about = getattr(space, "description", "") or ""
        size = f"{space.size:,}" if space.size < 1e6 else f"{space.size:.3g}"
        rows.append((name, f"{about} ({len(space.decisions)} decisions, {size} networks)".strip()))
    return rows


def _ops() -> list[tuple[str, str]]:
    from effsearch.arch import ops

    return [(op.name, op.description) for op in ops.OPS.values()]


def _datasets() -> list[tuple[str, str]]:
    from effsearch.data.formats import DESCRIPTIONS, FORMATS

    return [(name, DESCRIPTIONS.get(name, "")) for name in FORMATS]


def _samplers() -> list[tuple[str, str]]:
    from effsearch.search.samplers import SAMPLERS

    return [(e.name, e.description) for e in SAMPLERS.values()]


def _evaluators() -> list[tuple[str, str]]:
    from effsearch.search.evaluators import EVALUATORS

    return [(e.name, e.description) for e in EVALUATORS.values()]


def _objectives() -> list[tuple[str, str]]:
    from effsearch.search.objectives import OBJECTIVES

    return [(o.name, o.label + (" (measured on this machine)" if o.machine_dependent else "")) for o in OBJECTIVES.values()]


_LISTERS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "presets": _presets, "spaces": _spaces, "ops": _ops, "datasets": _datasets, "samplers": _samplers,
    "evaluators": _evaluators, "objectives": _objectives,
}


def catalog(kind: str) -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every entry of ``kind`` (one of :data:`KINDS`)."""
    from effsearch.errors import EffsearchError

    if kind not in _LISTERS:
        raise EffsearchError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    return _LISTERS[kind]()
