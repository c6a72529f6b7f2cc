"""Compound scaling against single-dimension scaling at the same MACs: which networks to compare.

For each phi the compound member (exactly the family's member, :func:`~effsearch.compound.family.make_member`)
is set against three networks that scale the baseline along one dimension only, each matched to
the member's MACs at deployment resolution:

* ``width``: every width times w (channels rounded to 8 as everywhere), depth and resolution kept;
* ``depth``: every stage's repeats times d (rounded up), width and resolution kept;
* ``resolution``: the input side times r, rounded to the family's resolution multiple.

Rounding makes MACs a step function of each multiplier, rising monotonically, so the match is a
bisection down to the two networks either side of the member's MACs, of which the closer is kept;
the variant records its actual MACs and the relative mismatch. Its multiplier is the shortest
decimal that still makes the same network. Pure arithmetic on specs (no torch).

Every variant trains on the data at ``round(base * resolution multiplier)`` pixels, where ``base``
is the data's proxy resolution and the multiplier is the variant's deployment side over the
baseline's (1 for width-only and depth-only). One rule for all keeps the training inputs in the
same proportion as the deployment inputs the MACs were matched at; for the compound member it is
the grid's round(base * gamma^phi) but for the rounding of the deployment side to its multiple
(at 224 px at most a pixel apart, at 32 px a few). Every variant also drops as many early strides
as the baseline drops at the base side (:func:`~effsearch.compound.compare_run.plan`), so the MACs
as trained are matched in the same proportion as the MACs at deployment.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from effsearch.arch.cost import count
from effsearch.arch.scaling import RESOLUTION_MULTIPLE, round_resolution, scale
from effsearch.arch.spec import NetSpec
from effsearch.compound.family import check_coefficients, make_member
from effsearch.errors import EffsearchError

SINGLE = ("width", "depth", "resolution")
VARIANTS = ("baseline", "compound", *SINGLE)
MAX_COMPARE_PHI = 7
"""B1..B7's span; beyond it a single dimension must grow absurdly (depth-only at phi 7 has ~100x the layers)."""
MAX_MULTIPLIER = 4096.0  # no single dimension needs more to reach phi 7's MACs; a guard against endless search
_BISECTIONS = 60


@dataclass(frozen=True)
class Variant:
    """One network of the comparison: how it scales the baseline, its deployment spec and cost.

    ``resolution_mult`` is the deployment side over the baseline's, which also scales the training
    input (see the module docstring); ``target_macs`` is the compound member's MACs at this phi (the baseline's own for phi 0).
    """

    kind: str
    phi: int
    width: float
    depth: float
    resolution_mult: float
    spec: NetSpec
    macs: int
    params: int
    target_macs: int

    @property
    def name(self) -> str:
        return f"{self.kind}-phi{self.phi}"

    @property
    def mismatch(self) -> float:
        """(MACs - target) / target: how far the match landed from the compound member."""
        return (self.macs - self.target_macs) / self.target_macs if self.target_macs else 0.0

    def train_resolution(self, base: int) -> int:
        """The training input side on data whose proxy resolution is ``base``."""
        return max(1, round(base * self.resolution_mult))


def check_compare_phis(phis: Iterable[int]) -> tuple[int, ...]:
    """Strictly increasing phi values from 1 to :data:`MAX_COMPARE_PHI` (phi 0, the baseline, is always trained)."""
    values = list(phis)
    if not values:
        raise EffsearchError("no phi values to compare; use e.g. 1,2")
    for phi in values:
        if isinstance(phi, bool) or not isinstance(phi, int):
            raise EffsearchError(f"phi {phi!r} is invalid; use whole numbers from 1 to {MAX_COMPARE_PHI}")
        if phi == 0:
            raise EffsearchError("phi 0 is the baseline itself, which every comparison trains as its reference point; "
                                 f"compare phi from 1 to {MAX_COMPARE_PHI}")
        if not 1 <= phi <= MAX_COMPARE_PHI:
            raise EffsearchError(f"phi {phi} is out of range for a comparison; use 1 to {MAX_COMPARE_PHI} (beyond it a "
                                 "single dimension grows absurdly: depth-only at phi 7 already has ~100x the layers)")
    if any(b <= a for a, b in pairwise(values)):
        raise EffsearchError(f"phi values {values} must be strictly increasing, e.g. 1,2 or 1..3")
    return tuple(values)


# --- matching one multiplier to a MAC target -------------------------------------------------------


def _macs(spec: NetSpec) -> int:
    return count(spec).macs


def match_macs(make: Callable[[float], NetSpec], target: int, *, lo: float = 1.0) -> tuple[float, NetSpec]:
    """The multiplier m >= ``lo`` whose network ``make(m)`` has the MACs closest to ``target``.

    ``make`` must be monotone in MACs (every scaling rule here is). Bisection brackets the target
    between the last network below it and the first at or above it; ties go to the smaller network.
    """
    floor_lo = lo
    if _macs(make(lo)) >= target:
        return _tidy(make, lo, make(lo), up=True)
    hi = 2.0 * lo
    while _macs(make(hi)) < target:
        if hi >= MAX_MULTIPLIER:
            return _tidy(make, hi, make(hi), up=False)  # unreachable: the largest tried, mismatch says how far
        hi = min(MAX_MULTIPLIER, 2.0 * hi)
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        if _macs(make(mid)) >= target:
            hi = mid
        else:
            lo = mid
    # Multipliers of three decimals only: round_repeats forgives float noise of 1e-9, so a bisection
    # that ends within it of a plateau's edge (2.000000001) would make a network no real multiplier
    # makes (1 repeat kept at 2, 2 grown to 5). Plateaus are wider than 0.001 (a repeat, 8 channels, 8 px).
    lo, hi = max(floor_lo, math.floor(lo * 1000) / 1000), math.ceil(hi * 1000) / 1000
    below, above = make(lo), make(hi)
    if abs(_macs(above) - target) < abs(target - _macs(below)):
        return _tidy(make, hi, above, up=True)
    return _tidy(make, lo, below, up=False)


def _tidy(make: Callable[[float], NetSpec], m: float, spec: NetSpec, *, up: bool) -> tuple[float, NetSpec]:
    """The shortest decimal multiplier that still makes ``spec``: 1.41 rather than 1.4099999.

    Bisection stops at the edge of the multiplier's plateau, so round inward (up from the lower
    edge, down from the upper one).
    """
    for digits in range(1, 9):
        step = 10.0**digits
        tidy = (math.ceil(m * step - 1e-9) if up else math.floor(m * step + 1e-9)) / step
        if tidy > 0 and make(tidy) == spec:
            return tidy, spec
    return m, spec


# --- the variants ---------------------------------------------------------------------------------


def _single(baseline: NetSpec, kind: str, phi: int, target: int, multiple: int) -> Variant:
    name = f"{baseline.name or 'net'}-{kind}-phi{phi}"
    if kind == "width":
        m, spec = match_macs(lambda w: scale(baseline, width=w, name=name), target)
        width, depth, res = m, 1.0, 1.0
    elif kind == "depth":
        m, spec = match_macs(lambda d: scale(baseline, depth=d, name=name), target)
        width, depth, res = 1.0, m, 1.0
    else:
        def at(r: float) -> NetSpec:
            return scale(baseline, resolution=round_resolution(baseline.resolution * r, multiple), name=name)

        _, spec = match_macs(at, target)
        width, depth, res = 1.0, 1.0, spec.resolution / baseline.resolution  # the rounded side is the network
    cost = count(spec)
    return Variant(kind, phi, width, depth, res, spec, cost.macs, cost.params, target)


def compare_variants(baseline: NetSpec, coefficients: Sequence[float], phis: Iterable[int], *,
                     resolution_multiple: int = RESOLUTION_MULTIPLE) -> list[Variant]:
    """The baseline (phi 0), then per phi the compound member and its width-, depth- and resolution-only matches."""
    alpha, beta, gamma = check_coefficients(*coefficients)
    m = resolution_multiple
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        raise EffsearchError(f"resolution multiple {m!r} is invalid; use a whole number >= 1, e.g. 8")
    base = count(baseline)
    out = [Variant("baseline", 0, 1.0, 1.0, 1.0, baseline, base.macs, base.params, base.macs)]
    for phi in check_compare_phis(phis):
        member = make_member(baseline, phi, coefficients=(alpha, beta, gamma), resolution_multiple=m)
        res = member.resolution / baseline.resolution
        out.append(Variant("compound", phi, member.width, member.depth, res, member.spec, member.macs, member.params,
                           member.macs))
        out += [_single(baseline, kind, phi, member.macs, m) for kind in SINGLE]
    return out


def variant_to_dict(v: Variant, base_resolution: int | None = None) -> dict[str, Any]:
    """A variant for ``compare.json``: multipliers, deployment resolution, cost, match and blocks."""
    from effsearch.arch.blockstring import format_block

    out: dict[str, Any] = {
        "variant": v.kind, "phi": v.phi, "name": v.name, "width_mult": v.width, "depth_mult": v.depth,
        "resolution_mult": v.resolution_mult, "resolution": v.spec.resolution, "macs": v.macs, "params": v.params,
        "target_macs": v.target_macs, "macs_mismatch": v.mismatch,
        "repeats": [b.repeats for b in v.spec.blocks], "blocks": [format_block(b) for b in v.spec.blocks],
    }
    if base_resolution is not None:
        out["train_resolution"] = v.train_resolution(base_resolution)
    return out


def training_folder(out: str | Path, kind: str, phi: int, seed: int) -> Path:
    """``OUT/compare/<variant>-phi<k>-s<seed>``: one training each, resumable on its own."""
    return Path(out) / "compare" / f"{kind}-phi{phi}-s{seed}"
