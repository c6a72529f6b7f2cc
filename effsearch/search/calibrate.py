"""``--reward-beta auto``: the reward's exponent set by MnasNet's own rule, measured on the user's data.

MnasNet chose ``w = -0.07`` because on ImageNet a network with twice the latency was about 5% more
accurate (relative): a model twice the cost should score the same when it is exactly that much
better, ``ACC * (1 + g) * 2^w = ACC``, so ``w = -log2(1 + g)``. On a small data set doubling the
cost buys far less, and the ImageNet exponent then mostly rewards being small.

Here ``g`` is measured. One reference network of the space (every decision at its middle choice,
shortcuts on) is scaled in width to half, once and twice the target cost, and each is trained like
a finalist: the evaluator at the top rung's budget, with the top rung's seeds (the same seeds for
all three: common random numbers). The slope ``s`` of ``log2 ACC`` against ``log2 COST`` (least
squares over every training) is what one doubling buys, ``1 + g = 2^s``, so ``w = -s``, kept
within ``[-1, 0]``: a larger network that trains worse does not earn a bonus for being large, and
a steeper trade than the hard constraint's is not a soft one. With the soft reward both exponents
take the measured value.

The measurement is stored in the study (``reward_calibration``), so a resumed search reuses it;
the study's fingerprint records the rule (``auto``), not the number.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from effsearch.errors import EffsearchError

STUDY_ATTR = "reward_calibration"
SIZES = (0.5, 1.0, 2.0)
"""Reference costs, as multiples of the target: one doubling either side of it."""
LIMITS = (-1.0, 0.0)


def reference_params(space: Any) -> dict[str, Any]:
    """Every decision at its middle choice; shortcuts on where the space allows them."""
    params = {}
    for name, values in space.decisions:
        params[name] = "identity" if name.endswith("_skip") and "identity" in values else values[len(values) // 2]
    return params


def width_for(spec: Any, cost: float, objective: str) -> Any:
    """``spec`` scaled in width (bisection on the multiplier) to the largest network within ``cost``."""
    from effsearch.arch.cost import count
    from effsearch.arch.scaling import scale

    def cost_of(width: float) -> float:
        return float(getattr(count(scale(spec, width=width)), objective))

    lo, hi = 0.05, 8.0
    if cost_of(lo) > cost:
        raise EffsearchError(f"the space's reference network cannot be made as small as {cost:.3g} {objective} "
                             "by width alone; give the exponent instead of auto")
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if cost_of(mid) <= cost else (lo, mid)
    return scale(spec, width=lo, name=f"{spec.name}-w{lo:.3f}")


def fit(points: list[tuple[float, float]]) -> dict[str, float]:
    """Least-squares slope of ``log2 accuracy`` on ``log2 cost`` (= ``log2(1 + g)``), and MnasNet's exponent ``-slope``."""
    usable = [(math.log2(c), math.log2(a)) for c, a in points if c > 0 and a > 0]
    if len(usable) < 2 or len({x for x, _ in usable}) < 2:
        raise EffsearchError("the reward calibration has fewer than two trained reference sizes; "
                             "give the exponent instead of auto")
    mx = math.fsum(x for x, _ in usable) / len(usable)
    my = math.fsum(y for _, y in usable) / len(usable)
    slope = math.fsum((x - mx) * (y - my) for x, y in usable) / math.fsum((x - mx) ** 2 for x, _ in usable)
    exponent = min(LIMITS[1], max(LIMITS[0], -slope))
    return {"slope": slope, "gain_per_doubling": 2 ** slope - 1, "exponent": exponent}


def calibrate(*, space: Any, reward: Any, proxy: Any, rungs: Any, seed: int,
              run: Callable[[list[tuple[Any, Any, int]]], list[dict[str, Any]]],
              note: Callable[[str], None] = lambda text: None) -> dict[str, Any]:
    """Measure the exponent. ``run`` trains ``[(spec, proxy, seed), ...]`` and returns their metrics in order."""
    from effsearch.arch.cost import count

    if reward.objective not in ("macs", "params"):
        raise EffsearchError(f"the automatic reward exponent needs an exact cost (macs or params), not {reward.objective}; "
                             "give the exponent instead")
    base = space.to_spec(reference_params(space))
    specs = [width_for(base, reward.target * size, reward.objective) for size in SIZES]
    top = rungs.budget(proxy, rungs.top)
    seeds = rungs.seeds_at(rungs.top, seed)
    note(f"calibrating the reward: a reference network at {', '.join(f'{s:g}x' for s in SIZES)} the target, "
         f"{len(seeds)} seed(s) each, at the top rung's budget")
    jobs = [(spec, top, s) for spec in specs for s in seeds]
    results = run(jobs)
    references, points = [], []
    for (spec, _, s), metrics in zip(jobs, results, strict=True):
        cost = float(getattr(count(spec), reward.objective))
        ok = metrics.get("status", "ok") == "ok" and isinstance(metrics.get("accuracy"), (int, float))
        accuracy = float(metrics["accuracy"]) if ok else None
        references.append({"cost": cost, "seed": s, "accuracy": accuracy, "blocks": spec.name})
        if accuracy:
            points.append((cost, accuracy))
    found = fit(points)
    from effsearch.search.objectives import get_objective

    note(f"doubling the {get_objective(reward.objective).label} bought {100 * found['gain_per_doubling']:+.2f}% accuracy here: "
         f"reward exponent {found['exponent']:.4f} (MnasNet's ImageNet value: -0.07)")
    return {**found, "references": references, "sizes": list(SIZES), "rule": "w = -log2(1 + gain per doubling)"}


def calibrated(reward: Any, record: dict[str, Any]) -> Any:
    """``reward`` with the measured exponent: beta, and alpha too when ``auto`` is ``both`` (the soft form)."""
    w = float(record["exponent"])
    return dataclasses.replace(reward, alpha=w if reward.auto == "both" else reward.alpha, beta=w, calibration=record)
