"""What effsearch knows by name: presets, search spaces, ops, data sets, samplers, evaluators, objectives, plugins.

One place that reads every registry, so ``effsearch list`` (and a notebook) can show the choices
without provoking an "unknown name" error to see them. Installed plugins are loaded first, so their
entries show, and ``plugins`` says which loaded and which failed.

It lives in ``search``, not in the low-level ``runtime``: nearly every name listed here is one a
search accepts (its space, the ops and data set behind it, its sampler, evaluator and objective),
and ``search`` sits above ``arch``, ``data`` and ``runtime``, so every import here points down.
"""

from __future__ import annotations

from collections.abc import Callable

KINDS = ("presets", "spaces", "ops", "datasets", "samplers", "evaluators", "objectives", "plugins")


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
    from effsearch.arch.ops import OPS

    return OPS.listing()


def _datasets() -> list[tuple[str, str]]:
    from effsearch.data.formats import FORMATS

    return [(f.name, f.description + (f"; also named {', '.join(f.aliases)}" if f.aliases else "")) for f in FORMATS.values()]


def _samplers() -> list[tuple[str, str]]:
    from effsearch.search.samplers import SAMPLERS

    return SAMPLERS.listing()


def _evaluators() -> list[tuple[str, str]]:
    from effsearch.search.evaluators import EVALUATORS

    return EVALUATORS.listing()  # lazy entries (supernet) described without importing them (nor torch)


def _objectives() -> list[tuple[str, str]]:
    from effsearch.search.objectives import OBJECTIVES

    return [(o.name, o.label + (" (measured on this machine)" if o.machine_dependent else "")) for o in OBJECTIVES.values()]


def _plugins() -> list[tuple[str, str]]:
    from effsearch.runtime.plugins import load_plugins

    return [(p.name, f"{p.target}{f' (from {p.dist})' if p.dist else ''}: {p.state}") for p in load_plugins()]


_LISTERS: dict[str, Callable[[], list[tuple[str, str]]]] = {
    "presets": _presets, "spaces": _spaces, "ops": _ops, "datasets": _datasets, "samplers": _samplers,
    "evaluators": _evaluators, "objectives": _objectives, "plugins": _plugins,
}


def catalog(kind: str) -> list[tuple[str, str]]:
    """``(name, one-line description)`` of every entry of ``kind`` (one of :data:`KINDS`), plugins' included."""
    from effsearch.errors import EffsearchError
    from effsearch.runtime.plugins import load_plugins

    if kind not in _LISTERS:
        raise EffsearchError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    load_plugins()
    return _LISTERS[kind]()
