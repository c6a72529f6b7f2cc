"""The reward's cost term that ``effsearch baseline`` gives the controller (search.cost_term)."""

from __future__ import annotations

import pickle

import optuna
import pandas as pd
import pytest

from effsearch import MnasSampler
from effsearch.arch.cost import count
from effsearch.search.cost_term import CostTerm, cost_term
from effsearch.search.reward import RewardConfig, reward
from effsearch.search.samplers import make_sampler, register_sampler, unregister_sampler
from effsearch.search.space import load_space
from tests.search_helpers import Scorer, search

SPACE = load_space("small")  # 4,096 networks of 217M-416M MACs


def params(i: int) -> dict:
    return {name: choices[(i >> d) % len(choices)] for d, (name, choices) in enumerate(SPACE.decisions)}


@pytest.mark.parametrize("preset", ["soft", "hard"])
@pytest.mark.parametrize("objective", ["macs", "params"])
def test_the_term_is_the_reward_of_a_perfect_network_and_zero_when_rejected(preset, objective):
    costs = [getattr(count(SPACE.to_spec(params(i))), objective) for i in range(0, 4096, 97)]
    target = sorted(costs)[len(costs) // 3]
    config = RewardConfig.preset(preset, target=target, reject_above=1.1, objective=objective)
    term = cost_term(SPACE, config, objectives=1)
    values = [term(params(i)) for i in range(0, 4096, 97)]
    for cost, value in zip(costs, values, strict=True):
        assert value == (0.0 if cost > 1.1 * target else pytest.approx(reward(1.0, cost, config)))
    assert 0 < values.count(0.0) < len(values)
    term.use(RewardConfig.preset(preset, target=target, reject_above=None, objective=objective))
    assert term(params(4095)) > 0  # an auto reward's measured exponents, set once the study is open
    assert pickle.loads(pickle.dumps(term))(params(5)) == term(params(5))


def test_no_term_where_the_cost_is_measured_or_two_objectives_are_searched():
    assert cost_term(SPACE, RewardConfig(target=1.0, objective="latency_ms"), objectives=1) is None
    assert cost_term(SPACE, RewardConfig(target=3e8), objectives=2) is None
    assert isinstance(cost_term(SPACE, RewardConfig(target=3e8), objectives=1), CostTerm)


def test_a_combination_the_space_cannot_build_has_term_zero():
    class Broken:
        def to_spec(self, _):
            from effsearch.errors import EffsearchError

            raise EffsearchError("no")

    assert CostTerm(Broken(), RewardConfig(target=3e8))({}) == 0.0


def test_only_cost_aware_samplers_are_given_the_term():
    seen = {}

    def aware(*, seed, space, workers, reward_factor=None):
        seen["factor"] = reward_factor
        return optuna.samplers.RandomSampler(seed=seed)

    register_sampler("test-aware", aware, cost_aware=True)
    register_sampler("test-plain", lambda *, seed, space, workers: optuna.samplers.RandomSampler(seed=seed))
    try:
        term = cost_term(SPACE, RewardConfig(target=3e8), objectives=1)
        make_sampler("test-aware", seed=0, space=SPACE, reward_factor=term)
        assert seen["factor"] is term
        assert isinstance(make_sampler("test-plain", seed=0, space=SPACE, reward_factor=term), optuna.samplers.RandomSampler)
        assert make_sampler("mnas", seed=0, space=SPACE, reward_factor=term)._factor is term
    finally:
        unregister_sampler("test-aware")
        unregister_sampler("test-plain")


def test_the_search_gives_the_controller_the_term_and_it_proposes_fewer_rejected_networks(tmp_path):
    # T = 250M, rejected above 1.2 T = 300M: about 60% of the space, as at a tight MAC budget.
    config = RewardConfig(target=2.5e8, reject_above=1.2)
    shares = {}
    # The surrogate's optima are off in the two compared, so that the term alone makes the difference:
    # with them on, the screen soon steers clear of rejected networks even blind (measured: none after
    # trial 8 in either run of 48).
    plain = {"seed": 0, "search_space": SPACE.distributions(), "remeasure": 0, "optima": 0}
    runs = (("by name", "mnas"), ("aware", MnasSampler(**plain, reward_factor=cost_term(SPACE, config, objectives=1))),
            ("blind", MnasSampler(**plain)))
    for name, sampler in runs:
        out = tmp_path / name
        result = search(out, evaluate=Scorer(), sampler=sampler, trials=48, reward=config)
        trials = pd.read_csv(out / "trials.csv").sort_values("number")
        shares[name] = (trials["status"].iloc[8:] == "rejected").mean()
        if name == "by name":
            assert isinstance(result.study.sampler._factor, CostTerm)
    assert shares["aware"] < 0.5 * shares["blind"] and shares["by name"] < 0.5 * shares["blind"], shares
