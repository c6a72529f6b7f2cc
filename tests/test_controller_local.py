"""One-decision neighbours of the best trial in the controller's screened proposals (``MnasSampler(local=...)``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from effsearch.controller import propose as propose_module
from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.learner import Learner
from effsearch.controller.propose import ANCHORS, MIN_ROWS, _neighbours, anchors_of, propose
from tests.test_controller_cost import SIZES, Problem, run, space


def test_anchors_are_the_best_distinct_architectures_by_single_value():
    rows = [([0] * 6, 0.5), ([1] * 6, 0.9), ([0] * 6, 0.95), ([2] * 6, 0.7), ([3] * 6, 0.6), ([1] * 6, 0.1)]
    assert ANCHORS == ControllerConfig.anchors == 1 and anchors_of(rows, 3) == [(0,) * 6, (1,) * 6, (2,) * 6]
    assert anchors_of(rows[:2], 3) == [(1,) * 6, (0,) * 6] and anchors_of([], 3) == [] and anchors_of(rows) == [(0,) * 6]


def test_neighbours_change_one_decision_of_the_best_and_skip_what_was_taken():
    learner = Learner(space(), ControllerConfig(), seed=0)
    best = [1, 2, 0, 3, 1, 2]
    rows = [([0] * len(SIZES), 0.5), (best, 0.9), ([3] * len(SIZES), 0.7), ([2] * len(SIZES), 0.1)]
    taken = {tuple([2, *best[1:]]), tuple(best)}
    near = _neighbours(learner, 5, 1000, rows, (taken,), anchors=3)
    starts = [best, [3] * len(SIZES), [0] * len(SIZES)]  # the three best; the fourth row is no anchor
    one_step = {tuple(a) for s in starts for a in ([*s[:d], c, *s[d + 1:]] for d in range(len(SIZES))
                                                     for c in range(SIZES[d]) if c != s[d])}
    assert {tuple(a) for a, _ in near} == one_step - taken and len(near) == len(one_step - taken)
    near = _neighbours(learner, 5, 100, rows, (taken,), anchors=1)  # the best alone
    assert len(near) == sum(k - 1 for k in SIZES) - 1  # every one-decision change but the taken one
    for actions, logps in near:
        assert sum(a != b for a, b in zip(actions, best, strict=True)) == 1 and tuple(actions) not in taken
        with torch.no_grad():  # their behaviour probability is the current policy's
            expected, _ = learner.policy.evaluate(torch.tensor([actions]))
        assert np.allclose(logps, expected[0].tolist())
    assert [a for a, _ in _neighbours(learner, 5, 3, rows, (taken,))] == [a for a, _ in _neighbours(learner, 5, 3, rows, (taken,))]
    assert len(_neighbours(learner, 5, 3, rows, (taken,))) == 3


def test_neighbours_join_only_a_screen():
    learner = Learner(space(), ControllerConfig(), seed=0)
    rows = [([i % 4] * len(SIZES), 0.1 * i) for i in range(MIN_ROWS)]
    starts = anchors_of(rows)
    plain = [propose(learner, n, {}, proposals=1, unique=True, tried=set(), rows=rows, local=8)[0] for n in range(20)]
    assert plain == [propose(learner, n, {}, proposals=1, unique=True, tried=set(), rows=rows)[0] for n in range(20)]
    screened = [propose(learner, n, {}, proposals=2, unique=True, tried=set(), rows=rows, local=8)[0] for n in range(20)]
    assert sum(_steps(s, starts) == 1 for s in screened) >= 10  # 8 of 10 candidates


def test_several_anchors_only_while_the_objective_may_be_noisy(monkeypatch):
    """With ``anchors=3`` the neighbours start from the three best trials, until repeats show the objective is
    deterministic (three that returned exactly their first values); then from the best alone."""
    learner = Learner(space(), ControllerConfig(), seed=0)
    asked = []
    original = propose_module._neighbours

    def spy(learner, number, count, rows, taken, anchors):
        asked.append(anchors)
        return original(learner, number, count, rows, taken, anchors)

    monkeypatch.setattr(propose_module, "_neighbours", spy)
    rows = [([i % 4, i // 4] + [0] * (len(SIZES) - 2), 0.1 * i) for i in range(MIN_ROWS)]  # all distinct
    noisy = [*rows, (rows[1][0], 0.15), (rows[2][0], 0.2), (rows[3][0], 0.3)]  # repeats that differ
    exact = [*rows, rows[1], rows[2], rows[3]]  # three repeats, each its first value again
    for given in (rows, noisy, exact):
        propose(learner, 30, {}, proposals=2, unique=True, tried=set(), rows=given, local=2, anchors=3)
    assert asked == [3, 3, 1]


@pytest.mark.parametrize("bad", [-1, True, 1.5, "2"])
def test_a_bad_local_count_is_refused(bad):
    with pytest.raises(ControllerError, match="local"):
        ControllerConfig(local=bad)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2"])
def test_a_bad_anchor_count_is_refused(bad):
    with pytest.raises(ControllerError, match="anchors"):
        ControllerConfig(anchors=bad)


def _steps(actions, starts) -> int:
    """Decisions ``actions`` changes of the nearest of ``starts``."""
    return min(sum(a != b for a, b in zip(actions, s, strict=True)) for s in starts)


def _steps_from_the_best(study) -> list[int]:
    """For every screened trial, how many decisions it changes of the nearest of the best trials before it."""
    trials, out = study.trials, []
    names = list(trials[0].params)
    for i in range(MIN_ROWS, len(trials)):
        rows = [([t.params[n] for n in names], t.value) for t in trials[:i]]
        out.append(_steps([trials[i].params[n] for n in names], anchors_of(rows)))
    return out


def test_a_search_with_neighbours_steps_from_its_best_network():
    """Under the hard cliff the policy alone rarely proposes a one-decision change of the best trial within 60
    trials (it moves a little per update, over every decision at once); with two neighbours of the best
    trials in each screen, the surrogate picks one for about a quarter of the trials. (What that buys on tables of trained networks
    is measured in benchmarks/README.md.)"""
    for seed in range(3):
        problem = Problem(seed)
        # A Thompson screen, so the policy's own proposals are picked without a lean towards the best trial: the
        # mean screen favours whichever proposal is nearest it, and the policy's near ones would blur the count.
        local = _steps_from_the_best(run(problem, seed, 60, local=2, optima=0, screen="draw"))
        plain = _steps_from_the_best(run(problem, seed, 60, local=0, optima=0, screen="draw"))
        assert local.count(1) >= 0.15 * len(local) and plain.count(1) <= 0.05 * len(plain), (local, plain)
