"""The screen's surrogate fitted on rank normal scores (``MnasSampler(ranks=...)``, the default)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm, rankdata

from effsearch import MnasSampler
from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.learner import Learner
from effsearch.controller.propose import MIN_ROWS, propose
from effsearch.controller.surrogate import normal_scores
from tests.test_controller_cost import Problem, run, space


@pytest.mark.parametrize("seed", range(6))
def test_normal_scores_are_the_normal_quantiles_of_average_ranks(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    values = rng.normal(size=n) if seed % 2 else rng.choice(rng.normal(size=max(1, n // 4)), size=n)  # odd: no ties
    assert np.array_equal(normal_scores(list(values)), norm.ppf((rankdata(values) - 0.5) / n))


def test_normal_scores_keep_the_order_and_give_ties_one_score():
    scores = normal_scores([3.0, -1.0, 3.0, 100.0, 0.5])
    assert scores[0] == scores[2] == 0.0 + norm.ppf(0.6)  # ranks 3 and 4 share 3.5: (3.5 - 0.5) / 5
    assert scores[1] < scores[4] < scores[0] < scores[3]
    assert scores[3] == -scores[1]  # the outlier at 100 weighs no more than the lowest value
    assert normal_scores([7.0]).tolist() == [0.0]


def _rows(problem: Problem, count: int, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    actions = [list(int(rng.integers(0, 4)) for _ in range(6)) for _ in range(count)]
    return [(a, problem.reward(a)) for a in actions]


def test_with_ranks_the_screen_sees_only_the_order_of_the_values():
    """A cliff or an outlier changes the values' scale and not their order: with ranks the same proposals are
    evaluated whatever increasing function of the reward the study reports, without ranks they are not."""
    learner = Learner(space(), ControllerConfig(), seed=0)
    rows = _rows(Problem(1), MIN_ROWS * 4)
    warped = [(a, float(np.exp(400.0 * v))) for a, v in rows]  # increasing; a few values dwarf the rest

    def picks(given, ranks: bool) -> list:
        return [propose(learner, n, {}, proposals=6, unique=True, tried=set(), rows=given, local=2, optima=2,
                        ranks=ranks)[0] for n in range(16)]

    assert picks(rows, True) == picks(warped, True)
    assert picks(rows, False) != picks(warped, False)


def test_with_a_known_cost_term_the_screen_fits_accuracy_and_ranks_change_nothing():
    problem = Problem(2)
    learner = Learner(space(), ControllerConfig(), seed=0)
    rows = _rows(problem, MIN_ROWS * 4, seed=1)

    def picks(ranks: bool) -> list:
        return [propose(learner, n, {}, proposals=6, unique=True, tried=set(), rows=rows, optima=2, ranks=ranks,
                        factor=lambda a: problem.factor({f"x{i}": int(c) for i, c in enumerate(a)}))[0]
                for n in range(12)]

    assert picks(True) == picks(False)


def test_ranks_are_the_default_and_can_be_turned_off():
    assert MnasSampler().config.ranks is True and MnasSampler(ranks=False).config.ranks is False
    problem = Problem(3)
    ranked, plain = run(problem, 0, 40), run(problem, 0, 40, ranks=False)
    assert [t.params for t in ranked.trials[:MIN_ROWS]] == [t.params for t in plain.trials[:MIN_ROWS]]
    assert [t.params for t in ranked.trials] != [t.params for t in plain.trials]  # the fitted screen differs


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_a_bad_ranks_setting_is_refused_in_one_line(bad):
    with pytest.raises(ControllerError, match="ranks") as info:
        MnasSampler(ranks=bad)
    assert "\n" not in str(info.value)
