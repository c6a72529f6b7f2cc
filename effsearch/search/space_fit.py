"""Where a target sits in a search space, and the space's widths scaled so that it sits in the middle.

A space is written for one budget: ``mnasnet``'s median network costs about 366M MACs at 224 px,
which is where MnasNet and EfficientNet-B0 were searched. At 100M fewer than 1 in 500 of its
networks are within the target, so a search spends most proposals on networks it rejects untrained
and the few it trains are forced into the cheapest ops. :func:`scale_space` multiplies every base
width of the space (stem, head, each block's filters, rounded like a width multiplier) so its
networks cost less (or more) while keeping its decisions; :func:`fit_width` finds the multiplier
whose median network costs the target. :func:`coverage` measures, from uniform draws, how much of a
space a target leaves in budget, for the search's opening lines and ``run.json``.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import Any

from effsearch.errors import EffsearchError

DRAWS = 1000
"""Uniform draws for a median or a share: 0.14 ms each to count, and the share's standard error
is at most 1.6 points."""
WIDTHS = (1 / 16, 16.0)
"""The multipliers :func:`fit_width` considers."""
SPARSE = 0.05
"""Below this share of the space within the target, the opening lines suggest fitting the space."""


@dataclass(frozen=True)
class Coverage:
    """What uniform draws from a space cost against a target (MACs or params)."""

    median: float
    within_target: float  # share of draws with cost <= target
    within_limit: float | None  # share within the rejection limit (None: nothing is rejected)
    draws: int

    def as_dict(self) -> dict[str, Any]:
        return {"median": self.median, "within_target": round(self.within_target, 4),
                "within_limit": None if self.within_limit is None else round(self.within_limit, 4), "draws": self.draws}


def check_width(width: Any) -> None:
    """Refuse a width that is not ``None``, ``"auto"`` or a finite multiplier in (0, 16]."""
    if width is None or width == "auto":
        return
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not math.isfinite(width) or not 0 < width <= WIDTHS[1]:
        raise EffsearchError(f"space width {width!r} is invalid; give a multiplier above 0 and at most {WIDTHS[1]:g}, or auto")


def scale_space(space: Any, width: float) -> Any:
    """``space`` with its stem, head and every block's base filters multiplied by ``width``.

    Rounded by :func:`effsearch.arch.scaling.round_channels` (multiples of 8, never below 90%), as a
    width multiplier rounds a network's channels, so each block's own ``filters`` choices still
    multiply the scaled base. ``width`` 1 returns the space unchanged.
    """
    from effsearch.arch.scaling import round_channels

    if width == "auto" or width is None:
        raise EffsearchError(f"space width {width!r} is invalid; give a multiplier (fit_space resolves auto)")
    check_width(width)
    if width == 1:
        return space
    blocks = tuple(dataclasses.replace(b, filters=round_channels(b.filters, width)) for b in space.blocks)
    note = f"widths x{width:g}"
    return dataclasses.replace(space, stem=round_channels(space.stem, width), head=round_channels(space.head, width),
                               blocks=blocks, width=float(width),
                               description=f"{space.description} ({note})" if space.description else note)


def costs(space: Any, objective: str, *, draws: int = DRAWS, seed: int = 0) -> list[float]:
    """The cost (``macs`` or ``params``) of ``draws`` uniform draws, one uniform choice per decision."""
    from effsearch.arch.cost import count

    rng = random.Random(seed)  # the same draws every time: a fitted width is the same on resume
    return [float(getattr(count(space.to_spec({name: rng.choice(values) for name, values in space.decisions})), objective))
            for _ in range(draws)]


def coverage(space: Any, objective: str, target: float, reject_above: float | None, *, draws: int = DRAWS) -> Coverage:
    values = sorted(costs(space, objective, draws=draws))
    limit = None if reject_above is None else target * reject_above
    return Coverage(median=values[len(values) // 2], within_target=sum(v <= target for v in values) / len(values),
                    within_limit=None if limit is None else sum(v <= limit for v in values) / len(values), draws=len(values))


def fit_width(space: Any, objective: str, target: float) -> float:
    """The width multiplier (two decimals) whose scaled space's median network costs closest to ``target``.

    The median grows with the width (rounding makes it a staircase), so a bisection on the log of the
    width brackets the target; of the widths it tried, the one whose median is nearest in ratio wins.
    """
    def miss(width: float) -> float:
        median = sorted(costs(scale_space(space, width), objective))[DRAWS // 2]
        tried[width] = abs(math.log(median / target))
        return median

    tried: dict[float, float] = {}
    lo, hi = math.log(WIDTHS[0]), math.log(WIDTHS[1])
    low, high = miss(round(math.exp(lo), 2)), miss(round(math.exp(hi), 2))
    if not low <= target <= high:
        raise EffsearchError(f"no width puts the median network of space {space.name} at the target: from width "
                             f"{WIDTHS[0]:g} to {WIDTHS[1]:g} its median costs {low:.3g} to {high:.3g}; give a width "
                             "multiplier or use another space")
    while hi - lo > 0.01:
        mid = (lo + hi) / 2
        if miss(round(math.exp(mid), 2)) < target:
            lo = mid
        else:
            hi = mid
    return min(tried, key=lambda w: (tried[w], abs(math.log(w))))


def fit_space(space: Any, width: float | str | None, reward: Any) -> Any:
    """The space a search runs on: as written (``None``), scaled by ``width``, or fitted to the target (``"auto"``)."""
    if width == "auto":
        if reward.objective not in ("macs", "params"):
            raise EffsearchError("space width auto needs a MACs or params target (a latency target is measured, "
                                 "not counted); give a width multiplier instead")
        width = fit_width(space, reward.objective, reward.target)
    return space if width is None else scale_space(space, width)


def target_coverage(space: Any, reward: Any) -> Coverage | None:
    """:func:`coverage` of the reward's target; ``None`` for a measured objective (latency), which no draw can count."""
    if reward.objective not in ("macs", "params"):
        return None
    return coverage(space, reward.objective, reward.target, reward.reject_above)


def describe(space: Any, objective: str, cover: Coverage) -> str:
    """The opening line on where the target sits in the space, with a hint when it leaves little in budget."""
    from effsearch.search.objectives import get_objective

    obj = get_objective(objective)
    width = getattr(space, "width", 1.0)
    line = (f"{100 * cover.within_target:.1f}% of the space's networks cost <= the target "
            f"(median {obj.format(cover.median)} {obj.label})")
    if cover.within_limit is not None:
        line += f", {100 * cover.within_limit:.1f}% are not rejected"
    if cover.within_target < SPARSE and width == 1:
        line += "; few proposals will fit: a space width of 'auto' scales the space so the target sits at its median"
    return line


__all__ = ["Coverage", "check_width", "costs", "coverage", "describe", "fit_space", "fit_width", "scale_space", "target_coverage"]
