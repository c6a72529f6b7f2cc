"""What the views show about a run, computed from its frames with :mod:`effsearch.analysis`.

The figure builders and the page only render these results; the browser tests compare what is drawn
with the same functions.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from effsearch import analysis
from effsearch.blockstring import format_block
from effsearch.cost import count
from effsearch.dashboard.data import RunData, family_members, points

AXES = {"macs": "MACs", "params": "params", "latency_ms": "latency (ms)"}


def check_axis(x: str) -> str:
    if x not in AXES:
        raise ValueError(f"x axis {x!r} is not one of {', '.join(AXES)}")
    return x


def candidates(run: RunData, x: str = "macs") -> pd.DataFrame:
    """Trials with a measured accuracy and a finite cost on axis ``x``: the points of the Pareto view."""
    pts = points(run.trials)
    return pts[np.isfinite(pts[check_axis(x)])]


def front(run: RunData, x: str = "macs") -> pd.DataFrame:
    """The run's accuracy-vs-``x`` Pareto front (over-budget candidates included, as in pareto.csv)."""
    return analysis.pareto_front(candidates(run, x), x=x, y="accuracy")


def baseline_blocks(run: RunData) -> str | None:
    return " ".join(format_block(b) for b in run.baseline.blocks) if run.baseline is not None else None


def baseline_trial(run: RunData) -> pd.Series | None:
    """The trial whose architecture is the chosen baseline (the first measured one when it was re-sampled)."""
    blocks = baseline_blocks(run)
    if blocks is None or not len(run.trials):
        return None
    same = points(run.trials)
    same = same[same["blocks"].str.strip() == blocks]
    return same.iloc[0] if len(same) else None


def hypervolume_reference(run: RunData) -> tuple[tuple[float, float], float]:
    """The reference point (2T, 0) and the scale T the hypervolume is divided by (see analysis)."""
    pts = candidates(run, "macs")
    ref = analysis.reference_point(pts, target=run.target, x="macs")
    return ref, (run.target if run.target else ref[0])


def hypervolume(run: RunData) -> float:
    ref, unit = hypervolume_reference(run)
    return analysis.hypervolume(candidates(run, "macs"), ref=ref) / unit


def learning(run: RunData, *, metric: str = "reward", window: int = 20) -> list[tuple[str, pd.DataFrame]]:
    """Learning curves per sampler of the run (one group when a single sampler ran it)."""
    if not len(run.trials):
        return []
    ref, unit = hypervolume_reference(run)
    groups = list(run.trials.groupby("sampler", sort=True))
    out = []
    for sampler, trials in groups:
        curves = analysis.learning_curves(trials, metric=metric, window=window, ref=ref)
        curves["hypervolume"] = curves["hypervolume"] / unit
        curves["macs"] = trials.sort_values("number", kind="stable")["macs"].to_numpy()
        out.append((run.name if len(groups) == 1 else f"{run.name} · {sampler}", curves))
    return out


def _best(trials: pd.DataFrame, col: str) -> float | None:
    values = pd.to_numeric(trials[col], errors="coerce") if col in trials else pd.Series(dtype=float)
    values = values[np.isfinite(values)]
    return float(values.max()) if len(values) else None


def run_summary(run: RunData) -> dict[str, Any]:
    """One row of the runs overview: what the run is, how far it got, and its headline numbers."""
    trials = run.trials
    counts = trials["outcome"].value_counts().to_dict() if len(trials) else {}
    within = points(trials)
    within = within[~within["over_budget"]]
    base = count(run.baseline) if run.baseline is not None else None
    members = family_members(run)
    return {
        "run": run.name, "kind": run.kind, "folder": str(run.folder), "command": run.run.get("command", ""),
        "target": run.target, "samplers": ", ".join(sorted(set(trials["sampler"]))) if len(trials) else "",
        "trials": len(trials), "running": counts.get("running", 0),
        "failed": counts.get("failed", 0) + counts.get("rejected", 0) + counts.get("pruned", 0),
        "over_budget": counts.get("over budget", 0), "best_accuracy_within_budget": _best(within, "accuracy"),
        "best_reward": _best(trials, "reward"), "front_size": len(front(run)) if len(trials) else 0,
        "hypervolume": hypervolume(run) if len(trials) else None,
        "baseline_params": base.params if base else None, "baseline_macs": base.macs if base else None,
        "grid_points": 0 if run.grid is None else len(run.grid), "family_members": len(members),
        "notes": " · ".join(run.notes),
    }


def family_table(run: RunData) -> pd.DataFrame:
    members = family_members(run)
    return analysis.family_vs_official(members) if len(members) else pd.DataFrame()


def is_number(value: Any) -> bool:
    """A finite real number (Python or numpy), not a bool."""
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, bool) and math.isfinite(float(value))
