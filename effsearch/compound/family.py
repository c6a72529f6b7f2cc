"""The scaled family: one member per phi, from a baseline spec and compound coefficients.

Two rules make members. ``compound`` is the paper's formula: depth alpha^phi, width beta^phi and
resolution base * gamma^phi, rounded the official way by :func:`effsearch.arch.scaling.compound_scale`.
``official`` applies the released B0..B7 (width, depth, resolution, dropout) table instead, which
does *not* follow alpha^phi (B1 keeps width 1.0; the resolutions are hand-picked), so the two rules
can be compared on any baseline. All rounding lives in :mod:`effsearch.arch.scaling`; this module only
decides which multipliers each phi gets and describes the result. Pure: no torch, no Ray.

On disk a family is ``family.yaml`` / ``family.json`` (schema in docs/internals.md); every member
carries a full spec dict, so ``spec_from_dict(member)`` (or ``members/<name>.yaml``) loads it back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from effsearch.arch.blockstring import format_block
from effsearch.arch.cost import count
from effsearch.arch.presets import EFFICIENTNET_TABLE
from effsearch.arch.scaling import RESOLUTION_MULTIPLE, compound_multipliers, compound_scale, round_resolution, scale
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import read_structured, save_spec, spec_from_dict, spec_to_dict
from effsearch.arch.timmcompat import timm_fields
from effsearch.compound.targets import Target, network_key, solve_phi
from effsearch.errors import EffsearchError
from effsearch.runtime.results import atomic_write_json, atomic_write_text

RULES = ("compound", "official")
OFFICIAL_BASE_RESOLUTION = EFFICIENTNET_TABLE["efficientnet-b0"][2]
# The released resolutions (240, 260, 300, 380, 456, 528, 600) are multiples of 4, not of 8.
OFFICIAL_RESOLUTION_MULTIPLE = 4
MAX_PHI = 16


@dataclass(frozen=True)
class Member:
    """One network of the family, with the multipliers that made it and its cost."""

    phi: float  # whole numbers for the B1..B7-style steps; any real number when solved for a target
    name: str
    depth: float
    width: float
    resolution: int
    spec: NetSpec
    params: int
    macs: int
    latency_ms: float | None = None
    target: dict[str, Any] | None = None  # the budget this member was solved for (compound.targets.Fit.as_dict)

    @property
    def channels(self) -> list[int]:
        """Output channels of each stage (stem and head are in ``spec``)."""
        return [b.out_chs for b in self.spec.blocks]

    @property
    def repeats(self) -> list[int]:
        return [b.repeats for b in self.spec.blocks]


@dataclass(frozen=True)
class Family:
    """A baseline, the rule and coefficients that scale it, and the members for each requested phi."""

    baseline: NetSpec
    alpha: float
    beta: float
    gamma: float
    rule: str
    resolution_multiple: int
    members: tuple[Member, ...]
    warnings: tuple[str, ...] = field(default=())

    def member(self, phi: float) -> Member:
        """The member at ``phi`` (a solved phi matches to the 0.001 it is shown with)."""
        for m in self.members:
            if abs(m.phi - phi) < 5e-4:
                return m
        raise EffsearchError(f"the family has no member with phi={phi:g}; it has phi "
                             f"{', '.join(f'{m.phi:g}' for m in self.members)}")

    def __getitem__(self, phi: float) -> Member:
        return self.member(phi)

    def __iter__(self):
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)


def check_phis(phis: Iterable[float], rule: str = "compound", *, allow_empty: bool = False) -> list[float]:
    """Validated, strictly increasing phi values: real numbers from -MAX_PHI to MAX_PHI (scaling down is
    phi < 0); the official table only has the whole numbers 0..7."""
    values = list(phis)
    if not values and not allow_empty:
        raise EffsearchError("no phi values given; use e.g. 1..7")
    for phi in values:
        if isinstance(phi, bool) or not isinstance(phi, (int, float)) or not -MAX_PHI <= phi <= MAX_PHI:
            raise EffsearchError(f"phi {phi!r} is invalid; use numbers from -{MAX_PHI} to {MAX_PHI}")
    if any(b <= a for a, b in pairwise(values)):
        raise EffsearchError(f"phi values {values} must be strictly increasing, e.g. 1..7 or 1,3,5")
    top = len(EFFICIENTNET_TABLE) - 1
    if rule == "official" and any(phi != int(phi) or not 0 <= phi <= top for phi in values):
        raise EffsearchError(f"the official table has B0..B{top}; use whole phi 0..{top} with it")
    return [int(phi) if float(phi).is_integer() else float(phi) for phi in values]


def base_name(baseline: NetSpec) -> str:
    """``efficientnet-b0`` -> ``efficientnet``; other names are kept; unnamed baselines are ``net``."""
    name = baseline.name or "net"
    return name[: -len("-b0")] if name.endswith("-b0") else name


def member_name(baseline: NetSpec, phi: float, rule: str, label: str | None = None) -> str:
    """``efficientnet-phi2``, ``-b2`` (official table), ``-phi-0.5``, or ``-1.8G`` for a member solved for a target."""
    if label is not None:
        return f"{base_name(baseline)}-{label}"
    # The official rule reproduces the B-series, so its members keep the familiar B names.
    return f"{base_name(baseline)}-{'b' if rule == 'official' else 'phi'}{phi:g}"


def _official_spec(baseline: NetSpec, phi: float, multiple: int, name: str) -> tuple[NetSpec, float, float]:
    width, depth, res, dropout = EFFICIENTNET_TABLE[f"efficientnet-b{int(phi)}"]
    # The table's resolutions are for a 224 px B0; other baselines keep the same ratio.
    resolution = round_resolution(baseline.resolution * res / OFFICIAL_BASE_RESOLUTION, multiple)
    spec = scale(baseline, width=width, depth=depth, resolution=resolution, name=name)
    # Dropout is part of the released table (it grows with model size), so it travels with it.
    return spec.replace(dropout=dropout), depth, width


def _compound_spec(baseline: NetSpec, phi: float, coeffs: tuple[float, float, float], multiple: int, name: str) -> tuple[NetSpec, float, float]:
    alpha, beta, gamma = coeffs
    depth, width, _ = compound_multipliers(alpha, beta, gamma, phi)
    spec = compound_scale(baseline, alpha=alpha, beta=beta, gamma=gamma, phi=phi, resolution_multiple=multiple, name=name)
    return spec, depth, width


def make_member(
    baseline: NetSpec,
    phi: float,
    *,
    coefficients: tuple[float, float, float],
    rule: str = "compound",
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    latency: Callable[[NetSpec], float] | None = None,
    target: dict[str, Any] | None = None,
    label: str | None = None,
) -> Member:
    """The member at ``phi``; ``latency`` (spec -> milliseconds) is called only when given."""
    name = member_name(baseline, phi, rule, label)
    if rule == "official":
        spec, depth, width = _official_spec(baseline, phi, resolution_multiple, name)
    else:
        spec, depth, width = _compound_spec(baseline, phi, coefficients, resolution_multiple, name)
    cost = count(spec)
    ms = None if latency is None else float(latency(spec))
    if target is not None and target.get("objective") == "latency_ms":
        ms = float(target["cost"])  # measured while solving: the number the member was chosen by
    return Member(phi, name, depth, width, spec.resolution, spec, cost.params, cost.macs, ms, target)


def duplicate_warnings(members: Sequence[Member]) -> list[str]:
    """One warning per member that rounds to the same network as an earlier one."""
    seen: dict[str, Member] = {}
    out = []
    for m in members:
        key = network_key(m.spec)
        if key in seen:
            first = seen[key]
            out.append(
                f"phi={m.phi} ({m.name}) is the same network as phi={first.phi} ({first.name}) after rounding; "
                "its coefficients are too close to 1 for this baseline, so drop one or use larger coefficients"
            )
        else:
            seen[key] = m
    return out


def check_coefficients(alpha: float, beta: float, gamma: float) -> tuple[float, float, float]:
    for label, value in (("alpha", alpha), ("beta", beta), ("gamma", gamma)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 1:
            raise EffsearchError(f"{label} {value!r} is invalid; compound coefficients are numbers >= 1")
    return float(alpha), float(beta), float(gamma)


def make_family(
    baseline: NetSpec,
    phis: Iterable[float],
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    gamma: float = 1.0,
    rule: str = "compound",
    resolution_multiple: int | None = None,
    latency: Callable[[NetSpec], float] | None = None,
    targets: Sequence[Target] = (),
) -> Family:
    """The family of ``baseline`` for each phi, by the ``compound`` formula or the ``official`` table.

    ``resolution_multiple`` defaults to 8 for ``compound`` (the house rule) and 4 for ``official``
    (so a 224 px baseline gets exactly the released resolutions). Each of ``targets`` adds the largest
    member within that budget, at the real phi :func:`~effsearch.compound.targets.solve_phi` finds
    (a latency target measures with ``latency``).
    """
    if rule not in RULES:
        raise EffsearchError(f"family rule {rule!r} is unknown; use one of {', '.join(RULES)}")
    coeffs = check_coefficients(alpha, beta, gamma)
    if resolution_multiple is None:
        resolution_multiple = OFFICIAL_RESOLUTION_MULTIPLE if rule == "official" else RESOLUTION_MULTIPLE
    if isinstance(resolution_multiple, bool) or not isinstance(resolution_multiple, int) or resolution_multiple < 1:
        raise EffsearchError(f"resolution multiple {resolution_multiple!r} is invalid; use a whole number >= 1, e.g. 8")
    if targets and rule != "compound":
        raise EffsearchError("the official table has fixed members; scale to a target with compound coefficients")
    members = [
        make_member(baseline, phi, coefficients=coeffs, rule=rule, resolution_multiple=resolution_multiple, latency=latency)
        for phi in check_phis(phis, rule, allow_empty=bool(targets))
    ]
    for target in targets:
        fit = solve_phi(baseline, target, coefficients=coeffs, resolution_multiple=resolution_multiple, latency=latency)
        members.append(make_member(baseline, fit.phi, coefficients=coeffs, rule=rule, resolution_multiple=resolution_multiple,
                                   latency=latency if target.objective != "latency_ms" else None,
                                   target=fit.as_dict(target), label=target.label))
    members = tuple(sorted(members, key=lambda m: m.phi))
    return Family(baseline, *coeffs, rule, resolution_multiple, members, tuple(duplicate_warnings(members)))


def member_to_dict(member: Member) -> dict[str, Any]:
    out: dict[str, Any] = {
        "phi": member.phi, "name": member.name, "depth": member.depth, "width": member.width,
        "resolution": member.resolution, "params": member.params, "macs": member.macs,
    }
    if member.latency_ms is not None:
        out["latency_ms"] = member.latency_ms
    if member.target is not None:
        out["target"] = member.target
    out.update({
        "channels": member.channels, "repeats": member.repeats,
        "blocks": [format_block(b) for b in member.spec.blocks],
        **timm_fields(member.spec),  # timm_arch_def, timm_faithful, timm_differs (warns where timm differs)
        "spec": spec_to_dict(member.spec),
    })
    return out


def family_to_dict(family: Family) -> dict[str, Any]:
    """The ``family.yaml`` / ``family.json`` document (schema in docs/internals.md)."""
    return {
        "baseline": spec_to_dict(family.baseline),
        "coefficients": {"alpha": family.alpha, "beta": family.beta, "gamma": family.gamma},
        "rule": family.rule,
        "resolution_multiple": family.resolution_multiple,
        "members": [member_to_dict(m) for m in family.members],
        "warnings": list(family.warnings),
    }


def member_from_dict(data: dict[str, Any], source: str = "member") -> Member:
    spec = spec_from_dict(data.get("spec"), source=source)
    cost = count(spec)
    latency, phi = data.get("latency_ms"), float(data["phi"])
    return Member(
        int(phi) if phi.is_integer() else phi, str(data.get("name") or spec.name), float(data["depth"]),
        float(data["width"]), spec.resolution, spec, cost.params, cost.macs, None if latency is None else float(latency),
        data.get("target"),
    )


def family_from_dict(data: Any, source: str = "family") -> Family:
    """Inverse of :func:`family_to_dict`; cost is recounted from the specs rather than trusted."""
    if not isinstance(data, dict) or not isinstance(data.get("members"), list):
        raise EffsearchError(f"{source} is not a family file (expected a mapping with a 'members' list)")
    try:
        coeffs = data["coefficients"]
        members = tuple(member_from_dict(m, f"{source} member {i}") for i, m in enumerate(data["members"]))
        return Family(
            spec_from_dict(data["baseline"], source=f"{source} baseline"),
            float(coeffs["alpha"]), float(coeffs["beta"]), float(coeffs["gamma"]),
            str(data["rule"]), int(data["resolution_multiple"]), members, tuple(data.get("warnings") or ()),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise EffsearchError(f"{source} is malformed ({exc!r}); regenerate it with 'effsearch scale'") from None


def save_family(family: Family, folder: str | Path) -> list[Path]:
    """Write ``family.yaml``, ``family.json`` and one ``members/<name>.yaml`` spec per member."""
    folder = Path(folder)
    data = family_to_dict(family)
    paths = [
        atomic_write_text(folder / "family.yaml", yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120)),
        atomic_write_json(folder / "family.json", data),
    ]
    # One plain spec file per member so 'effsearch show DIR/members/NAME.yaml' and load_spec work on it.
    paths += [save_spec(m.spec, folder / "members" / f"{m.name}.yaml") for m in family.members]
    return paths


def load_family(path: str | Path) -> Family:
    """A family from ``family.json`` / ``family.yaml`` or the scale results folder holding them."""
    path = Path(path)
    if path.is_dir():
        found = [path / n for n in ("family.json", "family.yaml") if (path / n).is_file()]
        if not found:
            raise EffsearchError(f"{path} has no family.json or family.yaml; run the scale stage into it first (effsearch scale)")
        path = found[0]
    if not path.is_file():
        raise EffsearchError(f"family file {path} does not exist; give a scale results folder or its family.json")
    return family_from_dict(read_structured(path), source=str(path))


def growth(family: Family) -> list[float | None]:
    """MACs growth per step of phi from the previous member (None for the first): ~2 by design.

    With gaps (``--phi 1,3,5``) the ratio is spread evenly over the skipped steps.
    """
    out: list[float | None] = [None]
    for prev, cur in pairwise(family.members):
        step = cur.phi - prev.phi  # a member solved for a target may share its phi with another
        out.append((cur.macs / prev.macs) ** (1 / step) if step > 1e-9 else None)
    return out
