"""The compound-coefficient grid: every (alpha, beta, gamma) whose compute ratio is close to 2.

EfficientNet's step two fixes phi = 1 and searches depth (alpha), width (beta) and resolution (gamma)
coefficients under ``alpha * beta^2 * gamma^2 ~ 2``, so each step of phi doubles the MACs. The paper
never said which grid it used; here it is explicit and configurable: each axis runs from ``lo`` to
``hi`` in ``step`` increments, and a point is kept when ``|alpha * beta^2 * gamma^2 - target|`` is at
most ``tolerance``. Pure arithmetic, no Ray or torch: :mod:`effsearch.compound.tune` runs the points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from effsearch.arch.scaling import flops_ratio
from effsearch.errors import EffsearchError

# Axis values are rounded to this many decimals so 1.0 + 3 * 0.05 prints (and compares) as 1.15.
_DECIMALS = 10
MAX_POINTS = 100_000


@dataclass(frozen=True, kw_only=True)
class GridConfig:
    """What the grid spans: a closed range per coefficient, the step, and the constraint band."""

    alpha_range: tuple[float, float] = (1.0, 2.0)
    beta_range: tuple[float, float] = (1.0, 1.5)
    gamma_range: tuple[float, float] = (1.0, 1.5)
    step: float = 0.05
    tolerance: float = 0.1
    target: float = 2.0

    def __post_init__(self) -> None:
        for name in ("alpha_range", "beta_range", "gamma_range"):
            object.__setattr__(self, name, _check_range(name, getattr(self, name)))
        _check_positive("step", self.step)
        _check_positive("target", self.target)
        if not _is_number(self.tolerance) or self.tolerance < 0:
            raise EffsearchError(f"grid tolerance {self.tolerance!r} is invalid; use a number >= 0, e.g. 0.1")
        # Counted, not built: a tiny step would build billions of values before the check could refuse them.
        size = math.prod(math.floor((hi - lo) / self.step + 1e-9) + 1
                         for lo, hi in (self.alpha_range, self.beta_range, self.gamma_range))
        if size > MAX_POINTS:
            raise EffsearchError(f"grid of {size:.3g} candidate points is too large (max {MAX_POINTS}); use a larger grid step or narrower ranges")


@dataclass(frozen=True)
class GridPoint:
    """One (alpha, beta, gamma) candidate; ``index`` is its position in the grid (stable across runs)."""

    index: int
    alpha: float
    beta: float
    gamma: float

    @property
    def flops_ratio(self) -> float:
        return flops_ratio(self.alpha, self.beta, self.gamma)

    def as_dict(self) -> dict[str, float | int]:
        return {"index": self.index, "alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive(name: str, value: object) -> None:
    if not _is_number(value) or value <= 0:
        raise EffsearchError(f"grid {name} {value!r} is invalid; use a positive number")


def _check_range(name: str, value: object) -> tuple[float, float]:
    label = name.replace("_range", "")
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(_is_number(v) for v in value):
        raise EffsearchError(f"{label} range {value!r} is invalid; give two numbers LO,HI, e.g. 1,2")
    lo, hi = float(value[0]), float(value[1])
    if lo <= 0 or hi < lo:
        raise EffsearchError(f"{label} range {lo:g},{hi:g} is invalid; need 0 < LO <= HI")
    if lo < 1:
        # Below 1 the coefficient shrinks that dimension as phi grows, which compound scaling never wants.
        raise EffsearchError(f"{label} range starts at {lo:g}; coefficients must be >= 1 (1 means 'do not scale')")
    return lo, hi


def axis_values(lo: float, hi: float, step: float) -> list[float]:
    """``lo, lo + step, ...`` up to ``hi`` inclusive (a float-noise-safe ``arange``)."""
    count = math.floor((hi - lo) / step + 1e-9) + 1
    return [round(lo + i * step, _DECIMALS) for i in range(count)]


def grid_points(config: GridConfig | None = None) -> list[GridPoint]:
    """All grid points on the constraint band, ordered by (alpha, beta, gamma) and numbered from 0.

    Raises :class:`EffsearchError` when no point satisfies the constraint, since an empty grid is
    always a configuration mistake.
    """
    config = config or GridConfig()
    kept = [
        (a, b, g)
        for a in axis_values(*config.alpha_range, config.step)
        for b in axis_values(*config.beta_range, config.step)
        for g in axis_values(*config.gamma_range, config.step)
        if abs(flops_ratio(a, b, g) - config.target) <= config.tolerance + 1e-12
    ]
    if not kept:
        raise EffsearchError(
            f"no (alpha, beta, gamma) in the ranges has alpha*beta^2*gamma^2 within {config.tolerance:g} of "
            f"{config.target:g}; widen the ranges, use a smaller grid step or a larger tolerance"
        )
    return [GridPoint(i, a, b, g) for i, (a, b, g) in enumerate(kept)]


def describe(config: GridConfig) -> dict[str, object]:
    """The grid settings as plain data (for ``run.json`` and for checking a resumed folder)."""
    return {
        "alpha_range": list(config.alpha_range),
        "beta_range": list(config.beta_range),
        "gamma_range": list(config.gamma_range),
        "step": config.step,
        "tolerance": config.tolerance,
        "target": config.target,
    }
