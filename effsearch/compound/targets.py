"""Scaling to a named budget: the real-valued phi whose member is the largest network within a target.

The paper scales a baseline "to any target resource constraint" by choosing phi. Rounding makes the
cost of ``compound_scale(baseline, phi)`` a non-decreasing *step* function of phi (channels snap to
multiples of 8, repeats to whole layers, resolution to a multiple), so a target is met by the
largest network whose cost does not exceed it: a budget is a ceiling, as in the baseline search's
hard constraint. Bisection finds where the steps cross the target; the member records its own cost
and the next network's (the first one phi gives above the target), so "as close as the rounding
rules allow" is checkable: ``cost <= target < next_cost``. phi may be negative (scaling down).

MACs and params are counted (pure arithmetic, exact); latency is measured, so its bisection uses
few measurements and remembers each network's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from effsearch.arch.cost import count
from effsearch.arch.scaling import compound_scale
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import spec_to_dict
from effsearch.errors import EffsearchError

OBJECTIVES = {"macs": "MACs", "params": "params", "latency_ms": "latency"}
PHI_LIMIT = 16.0
_COUNTED_STEPS = 48  # bisection to ~1e-13 of the phi range: exact for counted costs
_MEASURED_STEPS = 12  # each step measures a network: ~12 measurements, phi to ~0.008


@dataclass(frozen=True, kw_only=True)
class Target:
    """A budget to scale to: ``objective`` (macs, params or latency_ms) and its value."""

    objective: str
    value: float

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise EffsearchError(f"scaling objective {self.objective!r} is unknown; use one of {', '.join(OBJECTIVES)}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value) \
                or self.value <= 0:
            raise EffsearchError(f"{OBJECTIVES[self.objective]} target {self.value!r} is invalid; use a positive number")

    @property
    def label(self) -> str:
        """``1.8G`` (MACs), ``5M-params``, ``20ms``: how a member made for this target is named."""
        from effsearch.units import format_count

        if self.objective == "latency_ms":
            return f"{self.value:g}ms"
        return format_count(self.value) + ("-params" if self.objective == "params" else "")


@dataclass(frozen=True)
class Fit:
    """The solved phi, its member's cost, and the next network above the target (None at the phi limit)."""

    phi: float
    cost: float
    next_phi: float | None
    next_cost: float | None

    def as_dict(self, target: Target) -> dict[str, Any]:
        return {"objective": target.objective, "value": target.value, "cost": self.cost, "ratio": self.cost / target.value,
                "next_phi": self.next_phi, "next_cost": self.next_cost}


def network_key(spec: NetSpec) -> str:
    """What makes two specs the same network (the name aside)."""
    data = spec_to_dict(spec)
    data.pop("name")
    return json.dumps(data, sort_keys=True)


def cost_function(objective: str, latency: Callable[[NetSpec], float] | None = None) -> Callable[[NetSpec], float]:
    """Spec -> its cost in ``objective``; latency needs a measuring function."""
    if objective == "macs":
        return lambda spec: float(count(spec).macs)
    if objective == "params":
        return lambda spec: float(count(spec).params)
    if latency is None:
        raise EffsearchError("a latency target needs a latency measurement (a function from a spec to milliseconds)")
    return latency


def solve_phi(baseline: NetSpec, target: Target, *, coefficients: tuple[float, float, float], resolution_multiple: int,
              latency: Callable[[NetSpec], float] | None = None, limit: float = PHI_LIMIT) -> Fit:
    """The phi of the largest network of ``baseline``'s compound family whose cost is at most ``target``."""
    alpha, beta, gamma = coefficients
    measure = cost_function(target.objective, latency)
    known: dict[str, float] = {}

    def member(phi: float) -> NetSpec:
        return compound_scale(baseline, alpha=alpha, beta=beta, gamma=gamma, phi=phi, resolution_multiple=resolution_multiple)

    def cost(phi: float) -> float:
        key = network_key(member(phi))
        if key not in known:
            known[key] = measure(member(phi))
        return known[key]

    what = OBJECTIVES[target.objective]
    if cost(-limit) > target.value:
        raise EffsearchError(f"{what} target {target.label} is below the smallest network this baseline scales to "
                             f"({_shown(cost(-limit), target)} at phi {-limit:g}: one layer per stage, the fewest channels); "
                             "raise the target or start from a smaller baseline")
    if cost(limit) <= target.value:
        raise EffsearchError(f"{what} target {target.label} is above the largest network this family reaches "
                             f"({_shown(cost(limit), target)} at phi {limit:g}); lower the target or use larger coefficients")
    lo, hi = -limit, limit
    steps = _COUNTED_STEPS if target.objective != "latency_ms" else _MEASURED_STEPS
    for _ in range(steps):
        mid = (lo + hi) / 2
        if cost(mid) <= target.value:
            lo = mid
        else:
            hi = mid
    # lo sits just below the step where the cost crosses the target, hi just above it.
    phi = _short_phi(lo, member, math.floor)
    return Fit(phi=phi, cost=cost(phi), next_phi=_short_phi(hi, member, math.ceil), next_cost=cost(hi))


def _short_phi(phi: float, member: Callable[[float], NetSpec], toward: Callable[[float], int]) -> float:
    """The shortest decimal that builds the same network as ``phi``, rounded away from the step it borders
    (so family files show 1.37, not 1.3717...)."""
    key = network_key(member(phi))
    for digits in range(1, 13):
        step = 10.0**-digits
        short = round(toward(phi / step) * step, digits)
        if network_key(member(short)) == key:
            return short
    return phi


def _shown(cost: float, target: Target) -> str:
    from effsearch.units import format_count

    return f"{cost:.3g} ms" if target.objective == "latency_ms" else format_count(cost)
