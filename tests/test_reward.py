"""The MnasNet reward: values from the paper's formula, presets, rejection and validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from effsearch.errors import EffsearchError
from effsearch.search.reward import RewardConfig, exponent, over_budget, rejection, reward

T = 4e8


def test_soft_reward_matches_the_paper_formula() -> None:
    cfg = RewardConfig(target=T)
    assert (cfg.alpha, cfg.beta) == (-0.07, -0.07)
    assert reward(0.75, T, cfg) == pytest.approx(0.75)
    # twice the MACs costs a factor 2^-0.07 = 0.9526, half the MACs earns 2^0.07 = 1.0497
    assert reward(0.75, 2 * T, cfg) == pytest.approx(0.75 * 2 ** -0.07)
    assert reward(0.75, T / 2, cfg) == pytest.approx(0.75 * 2 ** 0.07)


def test_soft_reward_ties_two_models_the_paper_says_are_equal() -> None:
    # MnasNet: with w = -0.07, doubling compute must buy ~5% relative accuracy to keep the same reward
    cfg = RewardConfig.preset("soft", target=T)
    small = reward(0.70, T, cfg)
    big = reward(0.70 * 2 ** 0.07, 2 * T, cfg)
    assert big == pytest.approx(small)


def test_hard_reward_ignores_macs_inside_and_divides_outside() -> None:
    cfg = RewardConfig.preset("hard", target=T)
    assert cfg.name == "hard"
    assert reward(0.8, T / 4, cfg) == pytest.approx(0.8)
    assert reward(0.8, T, cfg) == pytest.approx(0.8)  # MACs <= T is inside
    assert reward(0.8, 1.6 * T, cfg) == pytest.approx(0.8 / 1.6)
    assert exponent(T, cfg) == 0.0 and exponent(T + 1, cfg) == -1.0
    assert not over_budget(T, cfg) and over_budget(T + 1, cfg)


def test_rejection_is_configurable_and_explains_itself() -> None:
    cfg = RewardConfig(target=T, reject_above=1.5)
    assert rejection(1.5 * T, cfg) is None
    reason = rejection(1.6 * T, cfg)
    assert reason is not None and "1.60x" in reason and "1.5x" in reason
    assert rejection(100 * T, RewardConfig(target=T, reject_above=None)) is None


def test_custom_exponents_and_to_dict() -> None:
    cfg = RewardConfig(target=T, alpha=-0.05, beta=-0.5)
    assert cfg.name == "custom"
    assert cfg.to_dict() == {"name": "custom", "objective": "macs", "target": T, "alpha": -0.05, "beta": -0.5, "reject_above": 2.0}
    assert reward(0.5, 2 * T, cfg) == pytest.approx(0.5 * 2 ** -0.5)


@pytest.mark.parametrize("kwargs", [
    {"target": 0}, {"target": -1}, {"target": math.inf}, {"target": True},
    {"target": T, "alpha": 0.1}, {"target": T, "beta": math.nan}, {"target": T, "reject_above": 1.0},
    {"target": T, "reject_above": -3},
])
def test_invalid_configs_are_one_line_user_errors(kwargs: dict) -> None:
    with pytest.raises(EffsearchError) as info:
        RewardConfig(**kwargs)
    assert "\n" not in str(info.value)


def test_unknown_preset_and_positional_arguments_are_refused() -> None:
    with pytest.raises(EffsearchError, match="unknown reward 'medium'"):
        RewardConfig.preset("medium", target=T)
    with pytest.raises(TypeError):
        RewardConfig(T)  # type: ignore[misc] - keyword-only


def test_reward_refuses_impossible_inputs() -> None:
    cfg = RewardConfig(target=T)
    with pytest.raises(ValueError):
        reward(1.2, T, cfg)
    with pytest.raises(ValueError):
        reward(0.5, 0, cfg)


@given(acc=st.floats(0, 1), macs=st.floats(1e6, 1e11), alpha=st.floats(-1, 0), beta=st.floats(-1, 0))
def test_reward_is_bounded_and_monotone_in_accuracy(acc: float, macs: float, alpha: float, beta: float) -> None:
    cfg = RewardConfig(target=T, alpha=alpha, beta=beta)
    value = reward(acc, macs, cfg)
    assert value >= 0
    assert reward(min(1.0, acc + 0.1), macs, cfg) >= value
    if macs > T:  # over budget, a non-positive exponent never rewards the overshoot
        assert value <= acc + 1e-12
