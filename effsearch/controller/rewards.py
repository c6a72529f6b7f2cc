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
from typing import TYPE_CHECKING, Any

from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from effsearch.controller.learner import TRIAL_ATTR

if TYPE_CHECKING:
    from effsearch.controller.config import ControllerConfig
    from effsearch.controller.learner import Learner


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


def training_row(study: Any, learner: Learner, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None,
                 config: ControllerConfig) -> tuple[list[int], float, list[float]] | None:
    """``(actions, reward, logp_old)`` to learn from, or ``None`` when the trial teaches nothing."""
    reward = trial_reward(study, trial, state, values, fidelity=config.fidelity, failed_reward=config.failed_reward)
    actions = learner.actions_of(trial.params, trial.distributions) if reward is not None else None
    if actions is None:
        return None
    record = trial.system_attrs.get(TRIAL_ATTR) or {}
    logp = record.get("logp")
    if record.get("actions") != actions or not isinstance(logp, list) or len(logp) != len(actions):
        logp = [math.nan] * len(actions)  # not sampled by a policy: learn as if on-policy
    return actions, reward, logp
