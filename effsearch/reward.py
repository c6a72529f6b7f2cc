"""The MnasNet reward: accuracy traded against compute, ``ACC(m) * (MACs(m) / T) ^ w``.

``w = alpha`` when the candidate fits the target ``T`` (``MACs <= T``) and ``w = beta`` when it does
not (MnasNet, Tan et al. 2019, eq. 2). Two settings come from the paper:

* soft constraint, ``alpha = beta = -0.07`` (the default): a model with twice the MACs needs about 5%
  more accuracy to score the same, on either side of the target;
* hard constraint, ``alpha = 0, beta = -1``: below the target only accuracy counts, above it the
  reward falls in proportion to the overshoot.

A candidate far outside the budget can be *rejected* before it is trained (``reject_above``: a
factor of ``T``). Rejected candidates are still recorded as trials, with a reward of 0, so the
controller learns to avoid them and users see them; training them would only spend proxy time on
networks nobody asked for.

Everything here is pure arithmetic on numbers; nothing imports torch, Optuna or Ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from effsearch.errors import EffsearchError
from effsearch.units import format_count

SOFT = (-0.07, -0.07)
HARD = (0.0, -1.0)
PRESETS = {"soft": SOFT, "hard": HARD}
DEFAULT_REJECT_ABOVE = 2.0
"""Candidates above twice the target are rejected untrained by default: under the soft reward such a
network would need about 5% more accuracy than one on target just to tie with it."""


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """How a candidate is scored: the MACs target ``T``, the exponents and the rejection rule."""

    target: float
    alpha: float = SOFT[0]
    beta: float = SOFT[1]
    reject_above: float | None = DEFAULT_REJECT_ABOVE

    def __post_init__(self) -> None:
        if isinstance(self.target, bool) or not isinstance(self.target, (int, float)) or not math.isfinite(self.target) or self.target <= 0:
            raise EffsearchError(f"reward target {self.target!r} must be a positive number of MACs, e.g. 4e8")
        for name in ("alpha", "beta"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value > 0:
                raise EffsearchError(f"reward {name} {value!r} must be a number <= 0 (soft: -0.07, hard: alpha 0, beta -1)")
        if self.reject_above is not None and (not isinstance(self.reject_above, (int, float)) or not self.reject_above > 1):
            raise EffsearchError(f"reject-above factor {self.reject_above!r} must be a number > 1 (times the target), or none")

    @classmethod
    def preset(cls, name: str, *, target: float, reject_above: float | None = DEFAULT_REJECT_ABOVE) -> RewardConfig:
        """``soft`` (alpha = beta = -0.07) or ``hard`` (alpha = 0, beta = -1)."""
        if name not in PRESETS:
            raise EffsearchError(f"unknown reward {name!r}; use one of {', '.join(PRESETS)} or give --alpha/--beta")
        alpha, beta = PRESETS[name]
        return cls(target=target, alpha=alpha, beta=beta, reject_above=reject_above)

    @property
    def name(self) -> str:
        """``soft``, ``hard`` or ``custom``: how the exponents were chosen."""
        for name, pair in PRESETS.items():
            if (self.alpha, self.beta) == pair:
                return name
        return "custom"

    def to_dict(self) -> dict[str, float | str | None]:
        return {"name": self.name, "target": self.target, "alpha": self.alpha, "beta": self.beta, "reject_above": self.reject_above}


def exponent(macs: float, config: RewardConfig) -> float:
    """``alpha`` inside the budget (``MACs <= T``), ``beta`` outside it."""
    return config.alpha if macs <= config.target else config.beta


def over_budget(macs: float, config: RewardConfig) -> bool:
    return macs > config.target


def reward(accuracy: float, macs: float, config: RewardConfig) -> float:
    """``accuracy * (macs / T) ** w`` (MnasNet eq. 2); accuracy in [0, 1], MACs > 0."""
    if not 0 <= accuracy <= 1 or not math.isfinite(accuracy):
        raise ValueError(f"accuracy {accuracy!r} is outside [0, 1]")
    if not macs > 0:
        raise ValueError(f"MACs {macs!r} must be positive")
    return float(accuracy * (macs / config.target) ** exponent(macs, config))


def rejection(macs: float, config: RewardConfig) -> str | None:
    """Why a candidate is rejected before training, or ``None`` when it is worth training."""
    if config.reject_above is not None and macs > config.reject_above * config.target:
        ratio = macs / config.target
        return (f"{format_count(macs)} MACs is {ratio:.2f}x the target {format_count(config.target)}, "
                f"above the rejection limit of {config.reject_above:g}x")
    return None
