"""Compound scaling: the grid over (alpha, beta, gamma), its Ray Tune runner, and the scaled family.

``run_scale`` is the whole of ``effsearch scale`` as one call; the modules split it by role:
``grid`` (the coefficient grid, pure arithmetic), ``settings`` (Tune resources), ``trainable`` (one
grid point), ``ledger`` (``grid.jsonl``, ``grid.csv`` and the selection), ``tune`` (the Ray Tune
driver), ``family`` (members for each phi) and ``run`` (the entry point). Ray loads only when the
grid runs. ``run_compare`` measures compound against single-dimension scaling at matched MACs
(``compare``: the variants, ``verdict``: mean, spread and verdict, ``compare_run``: the trainings);
``train_members`` trains the family's members to keep (``trained``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CompareConfig", "CompareResult", "GridConfig", "ScaleConfig", "ScaleResult", "ScaleRunConfig", "compare_variants",
           "make_family", "run_compare", "run_grid", "run_scale", "train_members"]

_LAZY = {
    "GridConfig": "effsearch.compound.grid", "ScaleConfig": "effsearch.compound.run", "ScaleResult": "effsearch.compound.run",
    "ScaleRunConfig": "effsearch.compound.run", "run_scale": "effsearch.compound.run", "make_family": "effsearch.compound.family",
    "run_grid": "effsearch.compound.tune", "CompareConfig": "effsearch.compound.compare_run",
    "CompareResult": "effsearch.compound.compare_run", "run_compare": "effsearch.compound.compare_run",
    "compare_variants": "effsearch.compound.compare", "train_members": "effsearch.compound.trained",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'effsearch.compound' has no attribute {name!r}")
