"""Review analytics as pure functions over pandas frames: Pareto fronts, hypervolume, learning curves.

Compute first, then draw: the dashboard and the static report only render what these functions
return, so tests assert on data, never on pixels.

Conventions:

* a point is a row with a finite cost ``x`` (MACs, params or latency; lower is better) and a finite
  quality ``y`` (accuracy; higher is better). Rows missing either are not points (failed, rejected or
  still running trials) and are ignored, never treated as zero;
* row ``a`` *dominates* ``b`` when ``a.x <= b.x`` and ``a.y >= b.y`` with at least one strict. The
  Pareto front is every row no other row dominates; exact duplicates of a front point are all kept;
* the 2-D hypervolume is the area dominated by the front inside the box bounded by a reference point
  ``(x_ref, y_ref)``: cost up to ``x_ref``, quality down to ``y_ref``. The dashboard uses
  ``x_ref = 2 T`` (twice the MACs target) and ``y_ref = 0`` and divides by ``T``, so a run's value lies
  in ``[0, 2]``; see :func:`reference_point`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "OFFICIAL_EFFICIENTNET", "OfficialModel", "chosen_grid_point", "family_vs_official", "hypervolume",
    "hypervolume_over_trials", "kendall_tau", "learning_curves", "moving_average", "official_table", "pareto_front",
    "pareto_mask", "reference_point", "running_best",
]


# --- Pareto front ---------------------------------------------------------------------------------


def _points(frame: pd.DataFrame, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cost and quality as float arrays, and the mask of rows that are points (both finite)."""
    for col in (x, y):
        if col not in frame.columns:
            raise KeyError(f"column {col!r} is not in the frame (columns: {', '.join(map(str, frame.columns))})")
    xs = pd.to_numeric(frame[x], errors="coerce").to_numpy(dtype=float)
    ys = pd.to_numeric(frame[y], errors="coerce").to_numpy(dtype=float)
    return xs, ys, np.isfinite(xs) & np.isfinite(ys)


def pareto_mask(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated points among finite ``(xs, ys)`` (min x, max y). O(n log n)."""
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    mask = np.zeros(len(xs), dtype=bool)
    valid = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    if not len(valid):
        return mask
    order = valid[np.lexsort((-ys[valid], xs[valid]))]  # x ascending, then y descending
    sx, sy = xs[order], ys[order]
    # A point survives when it is the best in its x group and beats every strictly cheaper point.
    starts = np.r_[True, sx[1:] != sx[:-1]]
    group = np.cumsum(starts) - 1
    group_best = sy[starts]
    best_before = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]
    keep = (sy == group_best[group]) & (sy > best_before[group])
    mask[order[keep]] = True
    return mask


def pareto_front(frame: pd.DataFrame, x: str = "macs", y: str = "accuracy") -> pd.DataFrame:
    """The non-dominated rows of ``frame`` (max ``y``, min ``x``), sorted by ``x``; index preserved."""
    xs, ys, _ = _points(frame, x, y)
    front = frame[pareto_mask(xs, ys)]
    return front.sort_values([x, y], ascending=[True, False], kind="stable")


# --- hypervolume ----------------------------------------------------------------------------------


def _front_area(fx: np.ndarray, fy: np.ndarray, ref: tuple[float, float]) -> float:
    """Area dominated by a front sorted by x ascending (so y ascending too) up to ``ref``."""
    x_ref, y_ref = ref
    right = np.r_[fx[1:], x_ref]
    return float(np.sum((right - fx) * (fy - y_ref)))


def _inside(xs: np.ndarray, ys: np.ndarray, ref: tuple[float, float]) -> np.ndarray:
    # Only points strictly better than the reference in both objectives add area.
    return np.isfinite(xs) & np.isfinite(ys) & (xs < ref[0]) & (ys > ref[1])


def _check_ref(ref: tuple[float, float]) -> tuple[float, float]:
    x_ref, y_ref = (float(v) for v in ref)
    if not (math.isfinite(x_ref) and math.isfinite(y_ref)):
        raise ValueError(f"reference point {ref!r} must be finite")
    return x_ref, y_ref


def hypervolume(frame: pd.DataFrame, *, ref: tuple[float, float], x: str = "macs", y: str = "accuracy") -> float:
    """Area dominated by ``frame``'s points (min ``x``, max ``y``) and bounded by ``ref = (x_ref, y_ref)``."""
    ref = _check_ref(ref)
    xs, ys, _ = _points(frame, x, y)
    inside = _inside(xs, ys, ref)
    xs, ys = xs[inside], ys[inside]
    mask = pareto_mask(xs, ys)
    order = np.argsort(xs[mask], kind="stable")
    return _front_area(xs[mask][order], ys[mask][order], ref)


def reference_point(frame: pd.DataFrame, *, target: float | None = None, x: str = "macs", y_ref: float = 0.0) -> tuple[float, float]:
    """The dashboard's reference point: ``(2 * target, y_ref)``, or 1.1 x the largest cost without a target."""
    if target is not None and math.isfinite(target) and target > 0:
        return 2.0 * float(target), y_ref
    xs = pd.to_numeric(frame[x], errors="coerce") if x in frame.columns else pd.Series(dtype=float)
    largest = xs[np.isfinite(xs)].max() if len(xs) else float("nan")
    return (1.1 * float(largest) if math.isfinite(largest) and largest > 0 else 1.0), y_ref


class _IncrementalFront:
    """A 2-D front kept sorted by x (y rises with x along it), updated one point at a time."""

    def __init__(self, ref: tuple[float, float]) -> None:
        self.ref = ref
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.area = 0.0

    def add(self, x: float, y: float) -> None:
        if not (x < self.ref[0] and y > self.ref[1]):
            return
        i = bisect.bisect_left(self.xs, x)
        if (i and self.ys[i - 1] >= y) or (i < len(self.xs) and self.xs[i] == x and self.ys[i] >= y):
            return  # a cheaper-or-equal point is at least as good: the front does not change
        j = i
        while j < len(self.xs) and self.ys[j] <= y:
            j += 1  # points at least as costly and no better are now dominated
        self.xs[i:j], self.ys[i:j] = [x], [y]
        self.area = _front_area(np.asarray(self.xs), np.asarray(self.ys), self.ref)


def hypervolume_over_trials(
    frame: pd.DataFrame, *, ref: tuple[float, float], x: str = "macs", y: str = "accuracy", order: str | None = "number"
) -> pd.Series:
    """Hypervolume of the first k trials for every k, in ``order`` (trial number); index as the sorted frame.

    Incremental: a trial that does not enter the front costs O(log n), so 5,000 trials take milliseconds.
    """
    ref = _check_ref(ref)
    ordered = frame.sort_values(order, kind="stable") if order else frame
    xs, ys, _ = _points(ordered, x, y)
    front = _IncrementalFront(ref)
    values = np.empty(len(ordered))
    for k, (xk, yk) in enumerate(zip(xs, ys, strict=True)):
        if math.isfinite(xk) and math.isfinite(yk):
            front.add(float(xk), float(yk))
        values[k] = front.area
    return pd.Series(values, index=ordered.index, name="hypervolume")


# --- learning curves ------------------------------------------------------------------------------


def running_best(values: pd.Series) -> pd.Series:
    """Best value so far (maximised); NaN before the first finite value, carried over later gaps."""
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric.cummax().ffill().rename("running_best")


def moving_average(values: pd.Series, window: int = 20) -> pd.Series:
    """Mean of the last ``window`` finite values at each row (rows without a value carry the last mean)."""
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"moving-average window {window!r} must be an integer >= 1")
    numeric = pd.to_numeric(values, errors="coerce")
    finite = numeric[np.isfinite(numeric)]
    smooth = finite.rolling(window, min_periods=1).mean()
    return smooth.reindex(numeric.index).ffill().rename("moving_average")


def learning_curves(
    trials: pd.DataFrame, *, metric: str = "reward", window: int = 20, ref: tuple[float, float] | None = None,
    x: str = "macs", y: str = "accuracy",
) -> pd.DataFrame:
    """Per trial (by number): ``metric``, its running best and moving average, and the hypervolume so far."""
    ordered = trials.sort_values("number", kind="stable")
    out = pd.DataFrame({"number": ordered["number"].to_numpy()}, index=ordered.index)
    out["value"] = pd.to_numeric(ordered[metric], errors="coerce") if metric in ordered else np.nan
    out["running_best"] = running_best(out["value"])
    out["moving_average"] = moving_average(out["value"], window)
    if ref is not None and {x, y} <= set(ordered.columns):
        out["hypervolume"] = hypervolume_over_trials(ordered, ref=ref, x=x, y=y, order=None)
    else:
        out["hypervolume"] = np.nan
    return out.reset_index(drop=True)


# --- rank agreement -------------------------------------------------------------------------------


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b between two scores of the same candidates; ``None`` when it is undefined.

    Undefined means fewer than two pairs with both values finite, or one side constant (no ordering
    to agree with): a number there would read as "no agreement" when there was nothing to compare.
    """
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    from scipy.stats import kendalltau  # scipy is slow to import; only the review needs it

    tau = float(kendalltau(x, y).statistic)
    return tau if math.isfinite(tau) else None


# --- grid and family ------------------------------------------------------------------------------


def chosen_grid_point(grid: pd.DataFrame) -> pd.Series | None:
    """The selected (alpha, beta, gamma) row: the one marked ``selected``, else the most accurate one."""
    if grid is None or grid.empty:
        return None
    if "selected" in grid.columns:
        marked = grid[grid["selected"].astype(str).str.lower().isin(("true", "1", "yes"))]
        if len(marked):
            return marked.iloc[0]
    acc = pd.to_numeric(grid.get("accuracy"), errors="coerce") if "accuracy" in grid else None
    if acc is None or not np.isfinite(acc).any():
        return None
    return grid.loc[acc.idxmax()]


@dataclass(frozen=True)
class OfficialModel:
    """One published EfficientNet: paper numbers and timm's models counted with fvcore (DESIGN.md)."""

    name: str
    phi: int
    resolution: int
    width: float
    depth: float
    params_paper: float
    params_timm: float
    macs_paper: float
    macs_fvcore: float


OFFICIAL_EFFICIENTNET: tuple[OfficialModel, ...] = (
    OfficialModel("B0", 0, 224, 1.0, 1.0, 5.3e6, 5_288_548, 0.39e9, 0.399e9),
    OfficialModel("B1", 1, 240, 1.0, 1.1, 7.8e6, 7.794e6, 0.70e9, 0.709e9),
    OfficialModel("B2", 2, 260, 1.1, 1.2, 9.2e6, 9.110e6, 1.0e9, 1.021e9),
    OfficialModel("B3", 3, 300, 1.2, 1.4, 12e6, 12.233e6, 1.8e9, 1.875e9),
    OfficialModel("B4", 4, 380, 1.4, 1.8, 19e6, 19.342e6, 4.2e9, 4.493e9),
    OfficialModel("B5", 5, 456, 1.6, 2.2, 30e6, 30.390e6, 9.9e9, 10.464e9),
    OfficialModel("B6", 6, 528, 1.8, 2.6, 43e6, 43.041e6, 19e9, 19.403e9),
    OfficialModel("B7", 7, 600, 2.0, 3.1, 66e6, 66.348e6, 37e9, 38.327e9),
)


def official_table() -> pd.DataFrame:
    """The official B0..B7 numbers as a frame, one row per phi."""
    return pd.DataFrame([vars(m) for m in OFFICIAL_EFFICIENTNET])


def family_vs_official(members: pd.DataFrame) -> pd.DataFrame:
    """A family's members next to the official model of the same phi, with cost ratios (ours / paper)."""
    cols = ["phi", "name", "resolution", "width", "depth", "params", "macs", "budget"]
    ours = members[[c for c in cols if c in members.columns]].copy()
    official = official_table().rename(columns={
        "name": "official", "resolution": "official_resolution", "width": "official_width", "depth": "official_depth",
    })
    # A member solved for a budget has a real phi: it matches no official model, and the merge keys must agree.
    ours["phi"], official["phi"] = ours["phi"].astype(float), official["phi"].astype(float)
    table = ours.merge(official, on="phi", how="left")
    table["params_ratio"] = pd.to_numeric(table["params"], errors="coerce") / table["params_paper"]
    table["macs_ratio"] = pd.to_numeric(table["macs"], errors="coerce") / table["macs_paper"]
    return table.sort_values("phi", kind="stable").reset_index(drop=True)
