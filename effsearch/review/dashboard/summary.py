"""What the views show about a run, computed from its frames with :mod:`effsearch.review.analysis`.

The figure builders and the page only render these results; the browser tests compare what is drawn
with the same functions.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from effsearch.arch.blockstring import format_block
from effsearch.arch.cost import count
from effsearch.review import analysis
from effsearch.review.dashboard.data import RunData, as_bool, family_members, points
from effsearch.units import format_count

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


def cost_axis(run: RunData) -> str:
    """The column the run's reward traded accuracy against (its objective): ``macs``, ``params`` or ``latency_ms``."""
    return run.objective if run.objective in AXES else "macs"


def format_target(run: RunData) -> str:
    """``400M`` for a MACs or params target, ``15ms`` for a latency target."""
    if run.target is None:
        return ""
    return f"{run.target:.3g}ms" if run.objective == "latency_ms" else format_count(run.target)


def hypervolume_reference(run: RunData) -> tuple[tuple[float, float], float]:
    """The reference point (2T, 0) on the objective's axis and the scale T the hypervolume is divided by."""
    x = cost_axis(run)
    ref = analysis.reference_point(candidates(run, x), target=run.target, x=x)
    return ref, (run.target if run.target else ref[0])


def hypervolume(run: RunData) -> float:
    ref, unit = hypervolume_reference(run)
    return analysis.hypervolume(candidates(run, cost_axis(run)), x=cost_axis(run), ref=ref) / unit


def learning(run: RunData, *, metric: str = "reward", window: int = 20) -> list[tuple[str, pd.DataFrame]]:
    """Learning curves per sampler of the run (one group when a single sampler ran it)."""
    if not len(run.trials):
        return []
    ref, unit = hypervolume_reference(run)
    groups = list(run.trials.groupby("sampler", sort=True))
    out = []
    for sampler, trials in groups:
        curves = analysis.learning_curves(trials, metric=metric, window=window, ref=ref, x=cost_axis(run))
        curves["hypervolume"] = curves["hypervolume"] / unit
        curves["cost"] = trials.sort_values("number", kind="stable")[cost_axis(run)].to_numpy()
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
        "target": run.target, "objective": run.objective,
        "target_text": f"{format_target(run)} {AXES[cost_axis(run)].split(' ')[0]}" if run.target else "",
        "samplers": ", ".join(sorted(set(trials["sampler"]))) if len(trials) else "",
        "trials": len(trials), "running": counts.get("running", 0),
        "failed": counts.get("failed", 0) + counts.get("rejected", 0), "pruned": counts.get("pruned", 0),
        "over_budget": counts.get("over budget", 0), "best_accuracy_within_budget": _best(within, "accuracy"),
        "best_reward": _best(trials[trials["outcome"] != "pruned"] if len(trials) else trials, "reward"),  # one fidelity
        "front_size": len(front(run)) if len(trials) else 0,
        "hypervolume": hypervolume(run) if len(trials) else None,
        "baseline_params": base.params if base else None, "baseline_macs": base.macs if base else None,
        "grid_points": 0 if run.grid is None else len(run.grid), "family_members": len(members),
        "notes": " · ".join(run.notes),
    }


def family_table(run: RunData) -> pd.DataFrame:
    members = family_members(run)
    return analysis.family_vs_official(members) if len(members) else pd.DataFrame()


# --- fidelity of the search's score ---------------------------------------------------------------


@dataclass(frozen=True)
class Fidelity:
    """How well the score the search ranked by predicts standalone accuracy, over the retrained candidates.

    ``points`` has ``number``, ``accuracy_short`` (the search's score: a supernet score or a short
    proxy accuracy), ``accuracy_long`` (standalone accuracy) and ``selected``, one row per ok retrain.
    """

    points: pd.DataFrame
    tau: float | None
    n: int
    evaluator: str


def evaluator(run: RunData) -> str:
    """The evaluator that scored the search's trials: ``supernet``, ``proxy`` (older folders name none)."""
    config = run.config.get("evaluator")
    name = config.get("name") if isinstance(config, dict) else config
    return str(name or _recorded_fidelity(run).get("evaluator") or "proxy")


def _recorded_fidelity(run: RunData) -> dict[str, Any]:
    results = run.run.get("results")
    found = results.get("fidelity") if isinstance(results, dict) else None
    return found if isinstance(found, dict) else {}


def fidelity(run: RunData) -> Fidelity | None:
    """Search score against standalone accuracy of the ok rows of retrain.csv; ``None`` when there are none.

    Kendall tau and n are the search's own (run.json ``results.fidelity``) when it recorded them, so the
    page agrees with the run's log; otherwise they are computed here from the same rows.
    """
    frame = run.retrain if run.retrain is not None else pd.DataFrame()
    if not len(frame) or not {"accuracy_short", "accuracy_long"} <= set(frame.columns):
        return None
    short = pd.to_numeric(frame["accuracy_short"], errors="coerce")
    long = pd.to_numeric(frame["accuracy_long"], errors="coerce")
    ok = np.isfinite(short) & np.isfinite(long)
    if "status" in frame:  # older files have no status: a row with both accuracies counts as ok
        ok &= frame["status"].astype(str).str.strip().str.lower() == "ok"
    if not ok.any():
        return None
    selected = as_bool(frame["selected"]) if "selected" in frame else pd.Series(False, index=frame.index)
    number = pd.to_numeric(frame["number"], errors="coerce") if "number" in frame else pd.Series(np.nan, index=frame.index)
    points = pd.DataFrame({"number": number, "accuracy_short": short, "accuracy_long": long, "selected": selected})[ok]
    points = points.reset_index(drop=True)
    recorded = _recorded_fidelity(run)
    if "kendall_tau" in recorded:
        tau = recorded["kendall_tau"]
        tau = float(tau) if is_number(tau) else None
        n = int(recorded["n"]) if is_number(recorded.get("n")) else len(points)
    else:
        tau, n = analysis.kendall_tau(points["accuracy_short"], points["accuracy_long"]), len(points)
    return Fidelity(points=points, tau=tau, n=n, evaluator=evaluator(run))


def is_number(value: Any) -> bool:
    """A finite real number (Python or numpy), not a bool."""
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, bool) and math.isfinite(float(value))
