"""Optima of the surrogate in the controller's screened proposals (``MnasSampler(optima=...)``)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.learner import TRIAL_ATTR, Learner
from effsearch.controller.propose import MIN_ROWS, _optimum, propose
from effsearch.controller.surrogate import Surrogate
from tests.test_controller_cost import SIZES, Problem, run, space


def _fitted(problem: Problem, count: int = 40, seed: int = 0) -> tuple[Surrogate, list]:
    rng = np.random.default_rng(seed)
    actions = [list(rng.integers(0, k) for k in SIZES) for _ in range(count)]
    acc = [problem.reward(a) / problem.factor(_params(a)) for a in actions]
    return Surrogate(SIZES, actions, acc), actions


def _params(actions) -> dict:
    return {f"x{i}": int(a) for i, a in enumerate(actions)}


def test_without_a_cost_the_optimum_is_each_decisions_best_choice():
    surrogate, _ = _fitted(Problem(0))
    every = [list(a) for a in itertools.product(*[range(k) for k in SIZES])]
    for seed in range(5):
        values = surrogate.draw(np.random.default_rng(seed))
        best = _optimum(surrogate, values, None)
        assert list(best) == every[int(np.argmax(surrogate.predict(every, values)))]


def test_with_a_cost_the_optimum_is_one_no_single_change_improves():
    """Accuracy times a cost factor is not additive: each decision is set in turn, from the accuracy optimum."""
    problem = Problem(1)
    surrogate, _ = _fitted(problem)

    def factor(actions) -> float:
        return problem.factor(_params(actions))

    def score(actions) -> float:
        return float(surrogate.predict([list(actions)], values)[0]) * factor(actions)

    improved = 0
    for seed in range(5):
        values = surrogate.draw(np.random.default_rng(seed))
        plain, best = _optimum(surrogate, values, None), _optimum(surrogate, values, factor, rounds=10)
        for d, k in enumerate(SIZES):
            for c in range(k):
                assert score([*best[:d], c, *best[d + 1:]]) <= score(best) + 1e-12
        assert score(best) >= score(plain)
        improved += score(best) > score(plain)
    assert improved >= 3  # the accuracy optimum is mostly over the target: the cost term moves it


def test_optima_join_only_a_screen_and_skip_what_was_tried():
    problem = Problem(2)
    learner = Learner(space(), ControllerConfig(), seed=0)
    surrogate, actions = _fitted(problem, count=MIN_ROWS * 3)
    rows = [(a, problem.reward(a)) for a in actions]
    tried = {tuple(a) for a in actions}
    single = [propose(learner, n, {}, proposals=1, unique=True, tried=tried, rows=rows, optima=4) for n in range(10)]
    assert single == [propose(learner, n, {}, proposals=1, unique=True, tried=tried, rows=rows) for n in range(10)]
    picked = [propose(learner, n, {}, proposals=2, unique=True, tried=tried, rows=rows, optima=4) for n in range(10)]
    assert all(tuple(a) not in tried for a, _, _ in picked)
    from_model = [a for a, _, near in picked if near]
    assert len(from_model) >= 5  # four optima against two policy draws: the screen mostly takes an optimum
    # An optimum is the best of a Thompson draw: under the model's mean, the picks are better than the plain screen's.
    plain = [propose(learner, n, {}, proposals=2, unique=True, tried=tried, rows=rows)[0] for n in range(10)]
    assert np.mean(surrogate.predict([a for a, _, _ in picked])) > np.mean(surrogate.predict(plain))


def test_a_search_with_optima_learns_only_from_its_policy_samples():
    """Optima were not drawn from the policy: like neighbours, they inform the surrogate and not the gradient."""
    problem = Problem(3)
    study = run(problem, 3, 40, optima=2)
    records = [t.system_attrs[TRIAL_ATTR] for t in study.trials]
    off_policy = sum(bool(r.get("local")) for r in records)
    assert off_policy >= 5
    sampler = study.sampler
    assert sampler.num_updates == (len(records) - off_policy) // sampler.config.batch_size


@pytest.mark.parametrize("bad", [-1, True, 1.5, "2"])
def test_a_bad_optima_count_is_refused(bad):
    with pytest.raises(ControllerError, match="optima"):
        ControllerConfig(optima=bad)


def test_trials_csv_says_which_trials_were_optima(tmp_path):
    """``effsearch baseline`` builds the controller with its defaults: its optima are labelled in trials.csv."""
    import pandas as pd

    from tests.search_helpers import Scorer, search

    result = search(tmp_path / "run", evaluate=Scorer(), sampler="mnas", trials=32)
    trials = pd.read_csv(tmp_path / "run" / "trials.csv").sort_values("number")
    records = {t.number: t.system_attrs.get(TRIAL_ATTR) or {} for t in result.study.trials}
    expected = ["optimum" if records[n].get("optimum") else "neighbour" if records[n].get("local") else "policy"
                for n in trials["number"]]
    assert list(trials["proposal"]) == expected
    assert "optimum" in expected and "policy" in expected
