"""Compound scaling: the grid over (alpha, beta, gamma), its Ray Tune runner, and the scaled family.

``run_scale`` is the whole of ``effsearch scale`` as one call; the modules split it by role:
``grid`` (the coefficient grid, pure arithmetic), ``settings`` (Tune resources), ``trainable`` (one
grid point), ``ledger`` (``grid.jsonl``, ``grid.csv`` and the selection), ``tune`` (the Ray Tune
driver), ``family`` (members for each phi) and ``run`` (the entry point). Ray loads only when the
grid runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["GridConfig", "ScaleConfig", "ScaleResult", "ScaleRunConfig", "make_family", "run_grid", "run_scale"]

_LAZY = {
    "GridConfig": "effsearch.compound.grid", "ScaleConfig": "effsearch.compound.run", "ScaleResult": "effsearch.compound.run",
    "ScaleRunConfig": "effsearch.compound.run", "run_scale": "effsearch.compound.run", "make_family": "effsearch.compound.family",
    "run_grid": "effsearch.compound.tune",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'effsearch.compound' has no attribute {name!r}")
