"""The best network of a study whose evaluations are noisy and repeated unequally.

``study.best_trial`` is the trial with the best single value. When an objective trains again each
time it is asked (a plain Optuna study over a noisy training), a network evaluated several times
has several chances at a lucky value, and one evaluated once keeps its lucky value: the best
single value picks luck (the winner's curse). The MNAS controller makes this worse on purpose, since
it re-measures the network it believes best.

:func:`best_network` groups a study's finished trials by network (their parameters) and takes the
network with the best posterior mean under a normal-normal model fitted to the study itself: the
noise variance pooled within the repeated networks, the spread of the networks' true values as the
means' variance less the noise's share of it (at least a tenth of it, so that no estimate is all
prior), and each network's mean blended with the mean of all networks by precision. A lucky single
value counts for part of itself, a consistent mean of many for nearly all of it. Without repeats, or
when repeats agree exactly (no noise), it is the best mean. Measured on tables of trained networks
(benchmarks/README.md, "A pick that shrinks each network's mean by its count"): it takes the
controller from 0.21 to 0.14 regret against TPE's 0.14 where the best single value left it behind.

``effsearch baseline`` does not need it: its cache answers a repeated network, and it picks among
finalists trained with the same seeds on their means (:mod:`effsearch.search.pick`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from effsearch.errors import EffsearchError

SPREAD_FLOOR = 0.1
"""The smallest share of the means' variance credited to true differences between networks."""


def posterior_means(counts: np.ndarray, means: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Each network's posterior mean from its count, mean and within-network sum of squared deviations.

    With no degrees of freedom for the noise (no repeats), zero noise, or fewer than three networks,
    the means themselves.
    """
    n, m = np.asarray(counts, float), np.asarray(means, float)
    dof = float(np.sum(n - 1))
    noise = max(float(np.sum(np.asarray(squares, float)[n > 1])), 0.0) / dof if dof > 0 else 0.0
    if noise <= 1e-12 or len(m) < 3:
        return m.copy()
    var_m = float(np.var(m, ddof=1))
    spread = max(var_m - noise * float(np.mean(1.0 / n)), SPREAD_FLOOR * var_m, 1e-12)
    return (n * m / noise + float(np.mean(m)) / spread) / (n / noise + 1.0 / spread)


@dataclasses.dataclass(frozen=True)
class NoisyBest:
    """The network a noisy study is best advised to take."""

    params: dict[str, Any]
    estimate: float  # its posterior mean value
    mean: float  # the plain mean of its values
    count: int  # how many finished trials evaluated it
    numbers: tuple[int, ...]  # those trials' numbers


def best_network(study: Any) -> NoisyBest:
    """The network of a single-objective study with the best posterior mean value (see the module)."""
    import optuna

    if len(study.directions) != 1:
        raise EffsearchError("best_network needs a single-objective study; a multi-objective study has a front, not one best")
    sign = 1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else -1.0
    groups: dict[str, list[Any]] = {}
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        if trial.value is not None and np.isfinite(trial.value):
            groups.setdefault(json.dumps(trial.params, sort_keys=True, default=str), []).append(trial)
    if not groups:
        raise EffsearchError("the study has no finished trial with a finite value; there is no network to pick yet")
    trials = list(groups.values())
    values = [np.array([sign * t.value for t in g]) for g in trials]
    counts = np.array([len(v) for v in values], float)
    means = np.array([v.mean() for v in values])
    squares = np.array([float(np.sum((v - v.mean()) ** 2)) for v in values])
    post = posterior_means(counts, means, squares)
    i = int(np.argmax(post))
    return NoisyBest(params=dict(trials[i][0].params), estimate=sign * float(post[i]), mean=sign * float(means[i]),
                     count=len(trials[i]), numbers=tuple(t.number for t in trials[i]))
