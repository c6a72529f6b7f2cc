"""The compound grid: axis values, the constraint band, ordering and validation."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from effsearch.compound.grid import GridConfig, axis_values, describe, grid_points
from effsearch.errors import EffsearchError


def test_axis_values_are_exact_decimal_steps():
    assert axis_values(1.0, 1.5, 0.05) == [1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3, 1.35, 1.4, 1.45, 1.5]
    assert axis_values(1.0, 1.0, 0.1) == [1.0]
    assert axis_values(1.0, 1.25, 0.1) == [1.0, 1.1, 1.2]  # hi is not a step away: not included


def test_default_grid_matches_a_brute_force_filter():
    points = grid_points()
    alphas = [1 + i * 0.05 for i in range(21)]
    others = [1 + i * 0.05 for i in range(11)]
    expected = [
        (a, b, g) for a, b, g in itertools.product(alphas, others, others) if abs(a * b * b * g * g - 2) <= 0.1 + 1e-9
    ]
    assert [(p.alpha, p.beta, p.gamma) for p in points] == [tuple(round(v, 9) for v in e) for e in expected]
    assert len(points) == 109
    assert [p.index for p in points] == list(range(len(points)))
    assert all(abs(p.flops_ratio - 2) <= 0.1 + 1e-9 for p in points)


def test_paper_coefficients_are_on_the_default_grid():
    assert (1.2, 1.1, 1.15) in {(p.alpha, p.beta, p.gamma) for p in grid_points()}


def test_grid_is_ordered_and_reproducible():
    config = GridConfig(step=0.1, tolerance=0.2)
    first, second = grid_points(config), grid_points(config)
    assert first == second
    keys = [(p.alpha, p.beta, p.gamma) for p in first]
    assert keys == sorted(keys)


def test_ranges_tolerance_and_target_are_honoured():
    config = GridConfig(alpha_range=(1.0, 1.4), beta_range=(1.0, 1.2), gamma_range=(1.1, 1.3), step=0.1, tolerance=0.05, target=1.5)
    points = grid_points(config)
    assert points
    for p in points:
        assert 1.0 <= p.alpha <= 1.4 and 1.0 <= p.beta <= 1.2 and 1.1 <= p.gamma <= 1.3
        assert abs(p.flops_ratio - 1.5) <= 0.05 + 1e-9


@settings(max_examples=40, deadline=None)
@given(step=st.sampled_from([0.05, 0.1, 0.15, 0.25]), tol=st.floats(0.05, 0.5))
def test_every_kept_point_satisfies_the_band_and_no_candidate_is_missed(step, tol):
    config = GridConfig(step=step, tolerance=tol)
    try:
        points = grid_points(config)
    except EffsearchError:
        points = []
    kept = {(p.alpha, p.beta, p.gamma) for p in points}
    for a in axis_values(1, 2, step):
        for b in axis_values(1, 1.5, step):
            for g in axis_values(1, 1.5, step):
                assert ((a, b, g) in kept) == (abs(a * b * b * g * g - 2) <= tol + 1e-12)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": 0}, "step"),
        ({"step": -0.1}, "step"),
        ({"tolerance": -1}, "tolerance"),
        ({"alpha_range": (2.0, 1.0)}, "alpha range"),
        ({"beta_range": (0.5, 1.5)}, ">= 1"),
        ({"gamma_range": (1.0,)}, "gamma range"),
        ({"alpha_range": (1.0, float("nan"))}, "alpha range"),
        ({"step": 1e-5}, "too large"),
        ({"target": 0}, "target"),
    ],
)
def test_invalid_configs_are_one_line_errors(kwargs, message):
    with pytest.raises(EffsearchError, match=message) as info:
        grid_points(GridConfig(**kwargs))
    assert "\n" not in str(info.value)


def test_config_is_keyword_only():
    with pytest.raises(TypeError):
        GridConfig((1.0, 2.0))  # type: ignore[misc]


def test_an_empty_grid_says_how_to_widen_it():
    with pytest.raises(EffsearchError, match="larger tolerance"):
        grid_points(GridConfig(alpha_range=(1.0, 1.0), beta_range=(1.0, 1.0), gamma_range=(1.0, 1.0)))


def test_describe_is_plain_data():
    assert describe(GridConfig()) == {
        "alpha_range": [1.0, 2.0], "beta_range": [1.0, 1.5], "gamma_range": [1.0, 1.5],
        "step": 0.05, "tolerance": 0.1, "target": 2.0,
    }
