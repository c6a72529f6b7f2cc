"""Multi-fidelity runs: what each candidate scored at each rung, what each rung kept, and the pick's noise.

A search with rungs writes, per rung ``k``, the columns ``rung<k>_accuracy``, ``rung<k>_reward`` and
``rung<k>_promoted`` to trials.csv (blank where a candidate never reached the rung), and
``config.rungs`` (``count``, ``factor``, ``seeds``) and ``results.pick`` to run.json. A folder without
``rung0_accuracy`` is a single-fidelity run: every function here then finds nothing, and the views
that use them show nothing. The figure (:mod:`.rung_figures`) and the tables only render these results.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from effsearch.review.dashboard import summary
from effsearch.review.dashboard.data import RunData, as_bool

POINT_COLUMNS = ("number", "rung", "accuracy", "reward", "promoted", "macs", "last", "finalist", "chosen", "seeds")
_ACCURACY_COLUMN = re.compile(r"rung(\d+)_accuracy$")


def _setting(run: RunData, key: str) -> int | None:
    rungs = run.config.get("rungs")
    value = rungs.get(key) if isinstance(rungs, dict) else None
    return int(value) if summary.is_number(value) and value >= 1 else None


def rung_count(run: RunData) -> int:
    """How many rungs the run has: 0 without ``rung0_accuracy``; else its setting or the columns, the larger.

    The setting counts too because a rung's columns appear only once a candidate has reached it.
    """
    found = [int(m.group(1)) for c in run.trials.columns if (m := _ACCURACY_COLUMN.match(str(c)))]
    if 0 not in found:
        return 0
    return max(max(found) + 1, _setting(run, "count") or 0)


def final_seeds(run: RunData) -> int:
    """How many seeds each finalist trained with at the top rung (1 when the run does not say)."""
    return _setting(run, "seeds") or 1


def rung_label(run: RunData, k: int, *, seeds: bool = True) -> str:
    """``rung 1 (3x)``: the rung and its budget as a multiple of rung 0's (``rung 2 (9x, 2 seeds)`` at the top)."""
    factor, count = _setting(run, "factor"), final_seeds(run)
    parts = [f"{factor ** k}x"] if factor else []
    if seeds and count > 1 and k == rung_count(run) - 1:
        parts.append(f"{count} seeds")
    return f"rung {k}" + (f" ({', '.join(parts)})" if parts else "")


def chosen_trial(run: RunData) -> int | None:
    """The trial the search chose: the baseline's (as the Pareto view stars it), else the pick's best."""
    row = summary.baseline_trial(run)
    if row is not None and summary.is_number(row["number"]):
        return int(row["number"])
    best = pick(run).get("best")
    return int(best) if summary.is_number(best) else None


def _column(trials: pd.DataFrame, name: str) -> pd.Series:
    if name not in trials:
        return pd.Series(np.nan, index=trials.index, dtype=float)
    return pd.to_numeric(trials[name], errors="coerce")


def rung_points(run: RunData) -> pd.DataFrame:
    """One row per candidate and rung it trained at, by trial then rung (:data:`POINT_COLUMNS`).

    ``promoted``: it went on to the next rung; ``last``: its highest rung so far; ``finalist``: it
    reached the top rung; ``chosen``: the chosen baseline; ``seeds``: the top rung's per-seed accuracies.
    Cached trials copy another trial's rungs and trained nothing, and an interrupted trial's rungs are
    replayed by the trial that re-queued it: both are left out, so each candidate is drawn once.
    """
    count = rung_count(run)
    copies = run.trials["status"].str.lower().isin(("cached", "interrupted"))
    trials = run.trials[~copies] if count else run.trials.iloc[:0]
    parts = []
    for k in range(count):
        accuracy = _column(trials, f"rung{k}_accuracy")
        at = trials[np.isfinite(accuracy)]
        promoted = as_bool(at[f"rung{k}_promoted"]) if f"rung{k}_promoted" in at else False
        parts.append(pd.DataFrame({"number": at["number"], "rung": k, "accuracy": accuracy[at.index],
                                   "reward": _column(at, f"rung{k}_reward"), "promoted": promoted, "macs": at["macs"],
                                   "seeds": at["seed_accuracies"] if k == count - 1 else ""}))
    if not parts or not sum(len(p) for p in parts):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in POINT_COLUMNS})
    points = pd.concat(parts, ignore_index=True).sort_values(["number", "rung"], kind="stable")
    highest = points.groupby("number")["rung"].transform("max")
    points["last"] = points["rung"] == highest
    points["finalist"] = highest == count - 1
    points["chosen"] = points["number"] == chosen_trial(run)
    points["promoted"] = points["promoted"].astype(bool)
    return points[list(POINT_COLUMNS)].reset_index(drop=True)


def rung_table(run: RunData) -> pd.DataFrame:
    """Per rung: how many candidates trained there and were promoted, the best accuracy and the best reward.

    ``promoted`` is ``None`` at the top rung (nothing is above it); ``best_trial`` holds the best reward.
    """
    points, count = rung_points(run), rung_count(run)
    rows = []
    for k in range(count):
        at = points[points["rung"] == k]
        rewards = at["reward"].astype(float)
        best = at.loc[rewards.idxmax()] if rewards.notna().any() else None
        rows.append({"rung": k, "label": rung_label(run, k), "trained": len(at),
                     "promoted": int(at["promoted"].sum()) if k < count - 1 else None,
                     "best_accuracy": float(at["accuracy"].max()) if len(at) else None,
                     "best_reward": float(best["reward"]) if best is not None else None,
                     "best_trial": int(best["number"]) if best is not None else None})
    table = pd.DataFrame(rows, columns=["rung", "label", "trained", "promoted", "best_accuracy", "best_reward", "best_trial"])
    table["promoted"] = pd.Series([r["promoted"] for r in rows], dtype=object)  # None at the top, not NaN
    return table


def pick(run: RunData) -> dict[str, Any]:
    """run.json's ``results.pick`` (empty when the run recorded none: one seed, or retraining decided)."""
    results = run.run.get("results")
    found = results.get("pick") if isinstance(results, dict) else None
    return found if isinstance(found, dict) else {}


def pick_line(run: RunData) -> str | None:
    """The search's own sentence on the pick (is the runner-up within the seeds' noise?), or ``None``."""
    from effsearch.search.pick import describe

    try:  # the search's wording, so the page and the search's summary say the same
        return describe(pick(run)) or None
    except (KeyError, TypeError, ValueError):
        return None  # a pick record of another version: the table still shows the numbers
