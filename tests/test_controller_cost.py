"""The controller's screen with the reward's known cost term (``MnasSampler(reward_factor=...)``)."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import optuna

from effsearch import MnasSampler
from effsearch.controller.config import ControllerConfig
from effsearch.controller.learner import Learner
from effsearch.controller.propose import MIN_ROWS, propose

optuna.logging.set_verbosity(optuna.logging.WARNING)

SIZES = [4] * 6


def space() -> dict:
    return {f"x{i}": optuna.distributions.CategoricalDistribution(list(range(k))) for i, k in enumerate(SIZES)}


class Problem:
    """Accuracy and log-cost each a sum of one value per (decision, choice); larger choices cost more and
    are mostly more accurate, and the hard reward (``acc`` within the target, ``acc * T/cost`` above) puts
    its cliff through the middle of the space, as a MAC budget does."""

    def __init__(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.cost = [np.sort(rng.uniform(0.0, 1.0, size=k)) for k in SIZES]
        self.acc = [0.02 * c + rng.normal(0, 0.01, size=len(c)) for c in self.cost]
        every = [self.log_cost(a) for a in itertools.product(*[range(k) for k in SIZES])]
        self.target = float(np.median(every))
        self.best = max(self.reward(a) for a in itertools.product(*[range(k) for k in SIZES]))

    def log_cost(self, a) -> float:
        return float(sum(c[i] for c, i in zip(self.cost, a, strict=True)))

    def factor(self, params: dict) -> float:
        return float(min(1.0, np.exp(self.target - self.log_cost([params[f"x{i}"] for i in range(len(SIZES))]))))

    def reward(self, a) -> float:
        acc = 0.8 + sum(v[i] for v, i in zip(self.acc, a, strict=True))
        return acc * self.factor({f"x{i}": x for i, x in enumerate(a)})

    def objective(self, trial: optuna.Trial) -> float:
        return self.reward([trial.suggest_categorical(f"x{i}", list(range(k))) for i, k in enumerate(SIZES)])


def run(problem: Problem, seed: int, trials: int, **settings) -> optuna.Study:
    sampler = MnasSampler(seed=seed, search_space=space(), remeasure=0, **settings)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(problem.objective, n_trials=trials)
    return study


def test_the_cost_term_keeps_proposals_inside_the_budget_and_finds_better_networks():
    over_aware, over_blind, regret_aware, regret_blind = [], [], [], []
    for seed in range(6):
        problem = Problem(seed)
        # Both screened by a Thompson draw, as effsearch baseline runs the cost term; blind, the mean screen of the
        # plain sampler also finds these small problems' best networks, and the comparison would measure nothing.
        aware = run(problem, seed, 60, reward_factor=problem.factor, screen="draw")
        blind = run(problem, seed, 60, screen="draw")
        for study, over, regret in ((aware, over_aware, regret_aware), (blind, over_blind, regret_blind)):
            over.append(np.mean([problem.factor(t.params) < 1 for t in study.trials[MIN_ROWS:]]))
            regret.append(problem.best - max(t.value for t in study.trials))
    # Half the space is over the target; blind, the screen proposes there until the surrogate has learned the cliff.
    assert np.mean(over_aware) < 0.6 * np.mean(over_blind), (over_aware, over_blind)
    better = sum(a <= b for a, b in zip(regret_aware, regret_blind, strict=True))
    assert better >= 5 and np.median(regret_aware) < 0.5 * np.median(regret_blind), (regret_aware, regret_blind)


def test_before_the_surrogate_fits_the_screen_only_avoids_rejected_proposals():
    learner = Learner(space(), ControllerConfig(), seed=0)
    zero_first = {}

    def factor(actions) -> float:  # the first proposal of each call is "rejected"
        key = tuple(actions)
        zero_first.setdefault(key, 0.0 if not zero_first else 1.0)
        return zero_first[key]

    rows = [([0] * len(SIZES), 0.5)] * (MIN_ROWS - 1)
    actions, *_ = propose(learner, 3, {}, proposals=4, unique=True, tried=set(), rows=rows, factor=factor)
    plain, *_ = propose(learner, 3, {}, proposals=4, unique=True, tried=set(), rows=rows)
    assert factor(actions) > 0 and factor(plain) == 0.0  # the plain screen takes the first proposal
    assert actions != plain


def test_rejected_rows_are_left_out_of_the_fit_and_the_sampler_still_pickles():
    problem = Problem(1)

    def rejecting(params: dict) -> float:  # over 1.5x the target: rejected untrained, reward 0
        f = problem.factor(params)
        return 0.0 if f < 1 / 1.5 else f

    def objective(trial: optuna.Trial) -> float:
        a = [trial.suggest_categorical(f"x{i}", list(range(k))) for i, k in enumerate(SIZES)]
        return 0.0 if rejecting({f"x{i}": x for i, x in enumerate(a)}) == 0 else problem.reward(a)

    sampler = MnasSampler(seed=0, search_space=space(), remeasure=0, reward_factor=rejecting)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective, n_trials=40)
    rejected = [t.value == 0 for t in study.trials[MIN_ROWS:]]
    assert np.mean(rejected) < 0.1, rejected
    assert pickle.loads(pickle.dumps(MnasSampler(seed=0, reward_factor=Problem(0).factor))) is not None
