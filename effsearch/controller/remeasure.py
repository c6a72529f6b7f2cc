"""Re-measuring the incumbent: the controller's answer to noisy evaluations (intensification).

A study that evaluates every architecture once and keeps the best single value picks lucky networks
(the winner's curse): the more distinct networks are tried, the more the best value is noise. So a
share of trials (``remeasure``, every ``round(1 / share)``-th trial by number) evaluates again the
architecture the study believes best, as SMAC's intensification re-runs its incumbent:

* **Belief.** Each evaluated architecture's reward is estimated by shrinking the mean of its own
  values towards the surrogate's prediction for it (:class:`~effsearch.controller.surrogate.Surrogate`),
  weighted by how many values it has against the measurement noise: one lucky value moves the
  estimate only part of the way, four consistent ones nearly all of it.
* **Noise.** The measurement noise is the pooled spread of repeated architectures, with the
  surrogate's residual variance counted as a few repeats' worth. Until an architecture has two
  values it is not known whether there is any noise, so the first due trials re-measure; once
  ``PROBES`` repeats have returned exactly their first values (a deterministic objective, or a
  cache answering them) the study is noise-free and nothing is re-measured again.
* **Cap.** An architecture is re-measured at most ``CAP`` times in all; the next best takes over.
* **Learning.** A re-measurement feeds the surrogate and the study's values, not the policy
  gradient: it was not drawn from the policy (measured: learning from it as on-policy left the
  hard-reward tables 0.2 reward points behind at 100-200 evaluations).

The decision depends only on the trial number and the study's values, so resumed and distributed
studies make the same one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from effsearch.controller.surrogate import MIN_ROWS, Surrogate, one_hot

CAP = 8
"""Values per architecture beyond which it is not re-measured."""
PROBES = 3
"""Repeats that must agree exactly before the study counts as noise-free (a noise with a few discrete
values, such as a choice among recorded seeds, can repeat a value by chance)."""
PRIOR_DOF = 4
"""Degrees of freedom the surrogate's residual variance counts as in the noise estimate."""


def due(number: int, share: float) -> bool:
    """Whether trial ``number`` is one of the re-measuring share (never trial 0)."""
    return share > 0 and number > 0 and number % max(1, round(1 / share)) == 0


def _groups(rows: Sequence[tuple[Sequence[int], float]]) -> dict[tuple[int, ...], list[float]]:
    groups: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for actions, reward in rows:
        groups[tuple(actions)].append(float(reward))
    return groups


def repeat_spread(groups: dict[tuple[int, ...], list[float]]) -> tuple[float, int]:
    """Sum of squared deviations within repeated architectures, and its degrees of freedom."""
    repeated = [np.asarray(v) for v in groups.values() if len(v) > 1]
    # Equal values count exactly 0: the mean of three equal floats can miss them by an ulp, and a
    # deterministic study then never looked noise-free (measured: 8-9 of 100 runs on a table kept
    # re-measuring a quarter of their trials).
    squares = sum(0.0 if np.all(v == v[0]) else float(np.sum((v - v.mean()) ** 2)) for v in repeated)
    return squares, sum(len(v) - 1 for v in repeated)


def measurement_noise(groups: dict[tuple[int, ...], list[float]]) -> float | None:
    """Pooled within-architecture variance of the rewards; ``None`` before any repeat, 0 when repeats agree exactly."""
    squares, dof = repeat_spread(groups)
    return squares / dof if dof else None


def remeasure_target(rows: Sequence[tuple[Sequence[int], float]], sizes: Sequence[int], number: int,
                     share: float) -> list[int] | None:
    """What trial ``number`` evaluates again, or ``None``: not due, too few values, or nothing to learn."""
    if not due(number, share) or len(rows) < MIN_ROWS:
        return None
    return target(rows, sizes)


def _agree(squares: float, dof: int) -> bool:
    return dof >= PROBES and squares == 0.0


def deterministic(rows: Sequence[tuple[Sequence[int], float]]) -> bool:
    """Whether ``PROBES`` or more repeats have all returned exactly their architecture's first value."""
    return _agree(*repeat_spread(_groups(rows)))


def target(rows: Sequence[tuple[Sequence[int], float]], sizes: Sequence[int]) -> list[int] | None:
    """The architecture to evaluate again, or ``None`` when re-measuring would teach nothing."""
    groups = _groups(rows)
    squares, dof = repeat_spread(groups)
    if _agree(squares, dof):
        return None  # repeats agree exactly: a deterministic objective
    keys = list(groups)
    surrogate = Surrogate(sizes, [r[0] for r in rows], [r[1] for r in rows])
    spread2 = surrogate.spread**2
    residual = surrogate.noise * spread2
    # The surrogate's residual variance (an upper bound on the noise) weighs as PRIOR_DOF repeats, so
    # the first few repeats refine the noise estimate instead of setting it alone.
    noise = (squares + PRIOR_DOF * residual) / (dof + PRIOR_DOF)
    x = one_hot(keys, surrogate.sizes)
    prior_mean = surrogate.predict(keys)
    # What the model cannot explain beyond noise, plus its own uncertainty about each architecture.
    misfit = max(residual - noise, 0.25 * noise)
    prior_var = misfit + spread2 * np.einsum("ij,jk,ik->i", x, surrogate.cov, x)
    counts = np.array([len(groups[k]) for k in keys], dtype=float)
    sums = np.array([sum(groups[k]) for k in keys])
    belief = (prior_mean / prior_var + sums / noise) / (1 / prior_var + counts / noise)
    for i in np.argsort(-belief, kind="stable"):
        if counts[i] < CAP:
            return list(keys[i])
    return None
