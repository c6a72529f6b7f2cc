"""Which number of a trial the controller learns from: its value, or its first rung's.

A complete trial's value is the reward (negated for ``minimize`` studies). In a multi-fidelity
study (a successive-halving or Hyperband pruner) most trials stop at a lower rung and only a few
reach the top, so the reward is instead the trial's *first* reported intermediate value: every
trial has one, pruned or not, all were measured at the same budget, and it is there as soon as the
first rung ends, so the policy does not wait for promotions that may come much later.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState


def first_rung(study: Any, fidelity: str) -> bool:
    """Learn from each trial's first reported value? ``fidelity``: ``auto``, ``first`` or ``final``."""
    if fidelity != "auto":
        return fidelity == "first"
    from optuna.pruners import HyperbandPruner, SuccessiveHalvingPruner

    return isinstance(getattr(study, "pruner", None), (SuccessiveHalvingPruner, HyperbandPruner))


def _signed(study: Any, value: float) -> float | None:
    if not math.isfinite(value):
        return None
    return -value if study.direction == StudyDirection.MINIMIZE else value


def trial_reward(study: Any, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None, *,
                 fidelity: str, failed_reward: float | None) -> float | None:
    """The reward to learn from, or ``None`` when the trial teaches nothing."""
    if trial.intermediate_values and first_rung(study, fidelity):
        return _signed(study, float(trial.intermediate_values[min(trial.intermediate_values)]))
    if state == TrialState.COMPLETE and values:
        return _signed(study, float(values[0]))
    if state in (TrialState.FAIL, TrialState.PRUNED):
        return failed_reward
    return None
