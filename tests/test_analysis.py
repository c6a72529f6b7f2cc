"""Pareto fronts, hypervolume and learning curves against brute-force references."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effsearch.arch.presets import EFFICIENTNET_TABLE
from effsearch.review import analysis

# --- brute-force references (quadratic, written independently of the module) ---------------------


def brute_front(xs: list[float], ys: list[float]) -> set[int]:
    """Indices no other point dominates (min x, max y), by checking every pair."""
    keep = set()
    for i, (xi, yi) in enumerate(zip(xs, ys, strict=True)):
        if not (math.isfinite(xi) and math.isfinite(yi)):
            continue
        dominated = any(
            xj <= xi and yj >= yi and (xj < xi or yj > yi)
            for j, (xj, yj) in enumerate(zip(xs, ys, strict=True))
            if j != i and math.isfinite(xj) and math.isfinite(yj)
        )
        if not dominated:
            keep.add(i)
    return keep


def brute_hypervolume(xs: list[float], ys: list[float], ref: tuple[float, float]) -> float:
    """Area of the union of boxes [x_i, x_ref] x [y_ref, y_i], by coordinate compression over all points."""
    pts = [(x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(x) and math.isfinite(y) and x < ref[0] and y > ref[1]]
    cuts = sorted({x for x, _ in pts} | {ref[0]})
    area = 0.0
    for left, right in itertools.pairwise(cuts):
        height = max((y - ref[1] for x, y in pts if x <= left), default=0.0)
        area += (right - left) * height
    return area


def frame_of(xs: list[float], ys: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"number": range(len(xs)), "macs": xs, "accuracy": ys})


# --- Pareto front ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_brute_force_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    # Few distinct values on a coarse grid force ties in x, in y and exact duplicates.
    xs = list(rng.integers(1, 30, n).astype(float) * 1e7)
    ys = list(rng.integers(0, 20, n) / 20)
    front = analysis.pareto_front(frame_of(xs, ys))
    assert set(front.index) == brute_front(xs, ys)
    assert list(front["macs"]) == sorted(front["macs"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1.0, 2.0, 3.0, 4.0, float("nan")]),
                          st.sampled_from([0.1, 0.5, 0.5, 0.9, float("nan")])), max_size=25))
def test_pareto_mask_property(points: list[tuple[float, float]]) -> None:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    mask = analysis.pareto_mask(np.array(xs), np.array(ys))
    assert set(np.flatnonzero(mask)) == brute_front(xs, ys)


def test_pareto_front_known_example() -> None:
    frame = pd.DataFrame({
        "number": [0, 1, 2, 3, 4, 5, 6],
        "macs": [100, 200, 200, 300, 150, 400, np.nan],
        "accuracy": [0.5, 0.7, 0.6, 0.7, 0.4, 0.9, 0.99],
    })
    front = analysis.pareto_front(frame)
    # 2 loses to 1 (same cost, less accurate); 3 ties 1 in accuracy at more cost; 6 has no cost.
    assert list(front["number"]) == [0, 1, 5]


def test_pareto_front_keeps_duplicates_and_ignores_missing() -> None:
    frame = pd.DataFrame({"macs": [1.0, 1.0, 2.0, None], "accuracy": [0.5, 0.5, None, 0.9]})
    assert list(analysis.pareto_front(frame).index) == [0, 1]
    assert analysis.pareto_front(frame.iloc[2:]).empty


def test_pareto_front_other_axes_and_unknown_column() -> None:
    frame = pd.DataFrame({"params": [5, 3, 4], "latency_ms": [1.0, 3.0, 2.0], "accuracy": [0.9, 0.8, 0.95]})
    assert list(analysis.pareto_front(frame, x="params").index) == [1, 2]
    assert list(analysis.pareto_front(frame, x="latency_ms").index) == [0, 2]
    with pytest.raises(KeyError, match="macs"):
        analysis.pareto_front(frame)


# --- hypervolume ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_hypervolume_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(0, 120))
    xs = list(rng.uniform(1e8, 9e8, n))
    ys = list(rng.uniform(-0.1, 1.0, n))  # some below the reference accuracy
    ref = (8e8, 0.0)  # some points beyond the reference cost
    expected = brute_hypervolume(xs, ys, ref)
    assert analysis.hypervolume(frame_of(xs, ys), ref=ref) == pytest.approx(expected, rel=1e-12, abs=1e-6)


def test_hypervolume_known_values() -> None:
    frame = frame_of([1.0, 2.0, 3.0], [0.5, 0.8, 0.7])
    # boxes: [1,4]x[0,.5] plus [2,4]x[.5,.8]; the third point is dominated.
    assert analysis.hypervolume(frame, ref=(4.0, 0.0)) == pytest.approx(3 * 0.5 + 2 * 0.3)
    assert analysis.hypervolume(frame, ref=(1.0, 0.0)) == 0.0
    assert analysis.hypervolume(frame.iloc[:0], ref=(4.0, 0.0)) == 0.0
    with pytest.raises(ValueError, match="finite"):
        analysis.hypervolume(frame, ref=(float("inf"), 0.0))


@pytest.mark.parametrize("seed", range(10))
def test_hypervolume_over_trials_matches_recomputation(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n = 150
    xs = list(rng.integers(1, 40, n).astype(float))
    ys = list(rng.integers(0, 10, n) / 10)
    xs[3], ys[7] = float("nan"), float("nan")  # failed trials keep the running value
    frame = frame_of(xs, ys).sample(frac=1.0, random_state=seed)  # rows out of trial order
    ref = (35.0, 0.05)
    series = analysis.hypervolume_over_trials(frame, ref=ref)
    numbers = frame.loc[series.index, "number"].tolist()
    assert numbers == sorted(numbers)
    for k in range(n):
        assert series.iloc[k] == pytest.approx(brute_hypervolume(xs[: k + 1], ys[: k + 1], ref), abs=1e-9)
    assert series.is_monotonic_increasing


def test_reference_point() -> None:
    frame = frame_of([1e8, 3e8], [0.5, 0.6])
    assert analysis.reference_point(frame, target=4e8) == (8e8, 0.0)
    assert analysis.reference_point(frame) == (pytest.approx(3.3e8), 0.0)
    assert analysis.reference_point(frame_of([], [])) == (1.0, 0.0)


# --- learning curves ------------------------------------------------------------------------------


def test_running_best_and_moving_average() -> None:
    values = pd.Series([np.nan, 0.2, 0.1, np.nan, 0.5, 0.3])
    assert analysis.running_best(values).tolist()[1:] == [0.2, 0.2, 0.2, 0.5, 0.5]
    assert math.isnan(analysis.running_best(values).iloc[0])
    avg = analysis.moving_average(values, window=2).tolist()
    assert math.isnan(avg[0])
    assert avg[1:] == pytest.approx([0.2, 0.15, 0.15, 0.3, 0.4])
    with pytest.raises(ValueError, match="window"):
        analysis.moving_average(values, window=0)


def test_learning_curves_columns_and_order() -> None:
    trials = pd.DataFrame({
        "number": [2, 0, 1], "reward": [0.3, 0.1, np.nan], "macs": [2.0, 1.0, 3.0], "accuracy": [0.6, 0.5, np.nan],
    })
    curves = analysis.learning_curves(trials, ref=(4.0, 0.0), window=5)
    assert curves["number"].tolist() == [0, 1, 2]
    assert curves["running_best"].tolist() == [0.1, 0.1, 0.3]
    assert curves["hypervolume"].tolist() == pytest.approx([1.5, 1.5, 1.5 + 2 * 0.1])
    assert analysis.learning_curves(trials)["hypervolume"].isna().all()


# --- grid and family ------------------------------------------------------------------------------


def test_chosen_grid_point_prefers_the_selected_flag() -> None:
    grid = pd.DataFrame({"alpha": [1.2, 1.1], "accuracy": [0.9, 0.8], "selected": [False, True]})
    assert analysis.chosen_grid_point(grid)["alpha"] == 1.1
    assert analysis.chosen_grid_point(grid.drop(columns="selected"))["alpha"] == 1.2
    assert analysis.chosen_grid_point(grid.iloc[:0]) is None
    assert analysis.chosen_grid_point(pd.DataFrame({"alpha": [1.0], "accuracy": [np.nan]})) is None


def test_official_table_agrees_with_presets() -> None:
    table = analysis.official_table()
    assert table["phi"].tolist() == list(range(8))
    for row, (name, (width, depth, resolution, _)) in zip(table.itertuples(), EFFICIENTNET_TABLE.items(), strict=True):
        assert name.endswith(row.name.lower())
        assert (row.width, row.depth, row.resolution) == (width, depth, resolution)
    assert table["macs_paper"].is_monotonic_increasing and table["params_paper"].is_monotonic_increasing


def test_family_vs_official_ratios() -> None:
    members = pd.DataFrame({"phi": [1, 0], "name": ["x1", "x0"], "params": [7.8e6, 2.65e6], "macs": [1.4e9, 0.39e9]})
    table = analysis.family_vs_official(members)
    assert table["phi"].tolist() == [0, 1]
    assert table["official"].tolist() == ["B0", "B1"]
    assert table["params_ratio"].tolist() == pytest.approx([0.5, 1.0])
    assert table["macs_ratio"].tolist() == pytest.approx([1.0, 2.0])
