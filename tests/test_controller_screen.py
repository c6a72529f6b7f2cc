"""What picks among the screened proposals (``MnasSampler(screen=...)``): the surrogate's posterior mean, the
default, or one Thompson draw."""

from __future__ import annotations

import numpy as np
import pytest

from effsearch import MnasSampler
from effsearch.controller import surrogate as surrogate_module
from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.learner import Learner
from effsearch.controller.propose import MIN_ROWS, propose
from tests.test_controller_cost import Problem, run, space


def _rows(problem: Problem, count: int) -> list:
    rng = np.random.default_rng(0)
    actions = [list(int(rng.integers(0, 4)) for _ in range(6)) for _ in range(count)]
    return [(a, problem.reward(a) + rng.normal(0.0, 0.01)) for a in actions]  # noisy, so draws spread


def _picks(screen: str, rows: list, optima: int = 0) -> list:
    learner = Learner(space(), ControllerConfig(), seed=0)
    return [propose(learner, n, {}, proposals=8, unique=True, tried=set(), rows=rows, local=2, optima=optima,
                    ranks=True, screen=screen)[0] for n in range(20)]


def test_the_mean_screen_takes_the_proposal_with_the_best_posterior_mean(monkeypatch):
    """With the mean screen no draw decides the pick: draws replaced by noise of any size change nothing (without
    optima, which are draws' optima), while the draw screen follows them."""
    rows = _rows(Problem(0), MIN_ROWS * 4)
    mean, draw = _picks("mean", rows), _picks("draw", rows)
    rng = np.random.default_rng(1)
    monkeypatch.setattr(surrogate_module.Surrogate, "draw", lambda self, _: rng.normal(0.0, 100.0, size=len(self.mean)))
    assert _picks("mean", rows) == mean
    assert _picks("draw", rows) != draw
    assert mean != draw


def test_the_mean_screen_picks_the_argmax_of_the_models_prediction(monkeypatch):
    """Each pick is the candidate the fitted model predicts best of those the screen saw."""
    rows = _rows(Problem(1), MIN_ROWS * 4)
    seen: list = []
    real = surrogate_module.Surrogate.predict

    def predict(self, actions, values=None):
        out = real(self, actions, values)
        if values is self.mean and len(actions) > 1:
            seen.append((list(map(list, actions)), out))
        return out

    monkeypatch.setattr(surrogate_module.Surrogate, "predict", predict)
    picks = _picks("mean", rows, optima=2)
    assert len(seen) == len(picks)
    for pick, (candidates, scores) in zip(picks, seen, strict=True):
        assert pick == candidates[int(np.argmax(scores))] and len(candidates) >= 8


def test_the_mean_screen_is_the_default_and_the_baseline_keeps_the_draw():
    from effsearch.search.samplers import _mnas
    from effsearch.search.space import load_space

    assert MnasSampler().config.screen == "mean" and MnasSampler(screen="draw").config.screen == "draw"
    assert _mnas(seed=0, space=load_space("small"), workers=1).config.screen == "draw"
    problem = Problem(2)
    mean, draw = run(problem, 0, 40), run(problem, 0, 40, screen="draw")
    assert [t.params for t in mean.trials[:MIN_ROWS]] == [t.params for t in draw.trials[:MIN_ROWS]]
    assert [t.params for t in mean.trials] != [t.params for t in draw.trials]


@pytest.mark.parametrize("bad", ["thompson", "", None, 1])
def test_a_bad_screen_is_refused_in_one_line(bad):
    with pytest.raises(ControllerError, match="screen") as info:
        MnasSampler(screen=bad)
    assert "\n" not in str(info.value)
