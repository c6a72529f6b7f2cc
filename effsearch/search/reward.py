"""The MnasNet reward: accuracy traded against a cost, ``ACC(m) * (COST(m) / T) ^ w``.

The cost is a named objective (:mod:`effsearch.search.objectives`): MACs by default, params, or
measured latency (MnasNet's own). ``w = alpha`` when the candidate fits the target ``T``
(``COST <= T``) and ``w = beta`` when it does not (MnasNet, Tan et al. 2019, eq. 2). Two settings
come from the paper:

* soft constraint, ``alpha = beta = -0.07`` (the default): a model with twice the cost needs about 5%
  more accuracy to score the same, on either side of the target;
* hard constraint, ``alpha = 0, beta = -1``: below the target only accuracy counts, above it the
  reward falls in proportion to the overshoot.

A candidate far outside the budget can be *rejected* before it is trained (``reject_above``: a
factor of ``T``). Rejected candidates are still recorded as trials, with a reward of 0, so the
controller learns to avoid them and users see them; training them would only spend proxy time on
networks nobody asked for.

Everything here is arithmetic on numbers; nothing imports torch, Optuna or Ray.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from effsearch.errors import EffsearchError

SOFT = (-0.07, -0.07)
HARD = (0.0, -1.0)
PRESETS = {"soft": SOFT, "hard": HARD}
DEFAULT_REJECT_ABOVE = 2.0
"""Candidates above twice the target are rejected untrained by default: under the soft reward such a
network would need about 5% more accuracy than one on target just to tie with it."""


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """How a candidate is scored: the objective, its target ``T``, the exponents and the rejection rule."""

    target: float
    alpha: float = SOFT[0]
    beta: float = SOFT[1]
    reject_above: float | None = DEFAULT_REJECT_ABOVE
    objective: str = "macs"
    auto: str | None = None  # "beta" or "both": measured on the data (search.calibrate); until then a placeholder
    calibration: dict[str, Any] | None = dataclasses.field(default=None, compare=False)  # what was measured

    def __post_init__(self) -> None:
        if self.auto not in (None, "beta", "both"):
            raise EffsearchError(f"reward auto {self.auto!r} is invalid; use beta, both or none")
        from effsearch.search.objectives import get_objective

        get_objective(self.objective)
        if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or not math.isfinite(self.target) or self.target <= 0:
            raise EffsearchError(f"reward target {self.target!r} must be a positive number (of {self.objective}), e.g. 4e8 MACs")
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value > 0:
                raise EffsearchError(f"reward {name} {value!r} must be a number <= 0 (soft: -0.07, hard: alpha 0, beta -1)")
        if self.reject_above is not None and (isinstance(self.reject_above, bool) or not isinstance(self.reject_above, (int, float))
                                              or not math.isfinite(self.reject_above) or not self.reject_above > 1):
            raise EffsearchError(f"reject-above factor {self.reject_above!r} must be a number > 1 (times the target), or none")

    @classmethod
    def preset(cls, name: str, *, target: float, reject_above: float | None = DEFAULT_REJECT_ABOVE,
               objective: str = "macs") -> RewardConfig:
        """``soft`` (alpha = beta = -0.07) or ``hard`` (alpha = 0, beta = -1)."""
        if name not in PRESETS:
            raise EffsearchError(f"unknown reward {name!r}; use one of {', '.join(PRESETS)}, or give the exponents alpha and beta")
        alpha, beta = PRESETS[name]
        return cls(target=target, alpha=alpha, beta=beta, reject_above=reject_above, objective=objective)

    @property
    def name(self) -> str:
        """``soft``, ``hard``, ``auto`` (measured) or ``custom``: how the exponents were chosen."""
        if self.auto:
            return "auto"
        for name, pair in PRESETS.items():
            if (self.alpha, self.beta) == pair:
                return name
        return "custom"

    @property
    def pending(self) -> bool:
        """Its exponents are still to be measured (``auto`` without a calibration)."""
        return self.auto is not None and self.calibration is None

    def fingerprint(self) -> dict[str, Any]:
        """The rule, not a measured number: a resumed ``auto`` search reuses its study's measurement."""
        alpha = "auto" if self.auto == "both" else self.alpha
        beta = "auto" if self.auto else self.beta
        return {"alpha": alpha, "beta": beta, "reject_above": self.reject_above}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "objective": self.objective, "target": self.target, "alpha": self.alpha,
                               "beta": self.beta, "reject_above": self.reject_above}
        if self.auto:
            out.update(auto=self.auto, calibration=self.calibration)
        return out


def exponent(cost: float, config: RewardConfig) -> float:
    """``alpha`` inside the budget (``COST <= T``), ``beta`` outside it."""
    return config.alpha if cost <= config.target else config.beta


def over_budget(cost: float, config: RewardConfig) -> bool:
    return cost > config.target


def reward(accuracy: float, cost: float, config: RewardConfig) -> float:
    """``accuracy * (cost / T) ** w`` (MnasNet eq. 2); accuracy in [0, 1], cost > 0."""
    if not 0 <= accuracy <= 1 or not math.isfinite(accuracy):
        raise ValueError(f"accuracy {accuracy!r} is outside [0, 1]")
    if not cost > 0:
        raise ValueError(f"cost {cost!r} must be positive")
    return float(accuracy * (cost / config.target) ** exponent(cost, config))


def rejection(cost: float, config: RewardConfig) -> str | None:
    """Why a candidate is rejected before training, or ``None`` when it is worth training."""
    if config.reject_above is not None and cost > config.reject_above * config.target:
        from effsearch.search.objectives import get_objective

        obj = get_objective(config.objective)
        return (f"{obj.format(cost)} {obj.label} is {cost / config.target:.2f}x the target {obj.format(config.target)}, "
                f"above the rejection limit of {config.reject_above:g}x")
    return None


FAR = 1.5
"""A chosen network more than this factor away from the target (either way) gets explained."""


def distance(chosen: dict[str, Any], trials: Any, config: RewardConfig) -> dict[str, Any] | None:
    """Why the chosen network is far from the target, as facts; ``None`` when it is within :data:`FAR`.

    With the soft reward a network below the target earns a bonus, ``(COST/T) ** alpha``; when
    accuracy saturates (as on the bundled digits) that bonus outweighs the accuracy a network near
    the target adds. The facts: the chosen network's ratio and bonus, and the most accurate finished
    candidate within :data:`FAR` of the target (``near``), with its accuracy and reward.
    """
    cost = chosen.get(config.objective)
    if not cost or 1 / FAR <= cost / config.target <= FAR:
        return None
    near = None
    if trials is not None and len(trials) and config.objective in trials:
        ok = trials[(trials["status"] == "ok") & trials["accuracy"].notna()]
        ratio = ok[config.objective] / config.target
        close = ok[(ratio >= 1 / FAR) & (ratio <= FAR)]
        if len(close):
            best = close.loc[close["accuracy"].idxmax()]
            near = {"number": int(best["number"]), "ratio": float(best[config.objective] / config.target),
                    "accuracy": float(best["accuracy"]), "reward": float(best["reward"])}
    ratio = cost / config.target
    return {"ratio": ratio, "factor": ratio ** exponent(cost, config), "accuracy": chosen.get("accuracy"),
            "reward": chosen.get("reward"), "near": near}
