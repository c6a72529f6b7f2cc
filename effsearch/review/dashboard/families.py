"""Test accuracy against MACs for each scaled family, as one tidy frame: what the Family view compares.

Each loaded scale run is one family, labelled by its baseline's name (family.json's ``baseline.name``,
else compare.json's, else run.json's ``config.baseline``, else the folder's name); two families with
the same name get their folder appended (``mobilenet-v2 (results/mbv2-scale)``), so none merges into
another. A family's points come from two sources, kept apart because their recipes may differ:

* ``trained``: the members ``effsearch scale --train`` trained (family.json's ``trained`` entries:
  the mean of test top-1 over seeds, its sample std and n);
* ``compare``: the compound line of ``effsearch scale --compare`` (compare.csv's baseline and compound
  rows, summarised over seeds as compare.json is, by :func:`effsearch.compound.verdict.summarize`).

MACs and params are the deployment network's, at each member's own resolution (the trainings ran
at smaller inputs in proportion). Damaged or partial files give what they hold plus a note; nothing
here raises. :mod:`.families_figures` draws the frame.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effsearch.compound.verdict import summarize
from effsearch.review.dashboard.data import RunData
from effsearch.units import format_count

COLUMNS = ("family", "baseline", "run", "folder", "source", "member", "phi", "resolution", "macs", "params",
           "test_accuracy", "std", "n")
SOURCES = ("trained", "compare")
_TRAINED = ("phi", "name", "resolution", "macs", "params", "test_accuracy", "std", "n")
_NUMERIC = ("phi", "seed", "macs", "test_accuracy", "macs_mismatch")


@dataclass(frozen=True)
class FamilyAccuracy:
    """``frame``: one row per point (:data:`COLUMNS`), by family, source and phi; ``notes``: what was left out and why."""

    frame: pd.DataFrame
    notes: tuple[str, ...] = ()


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


# --- the two sources --------------------------------------------------------------------------------


def _trained_entry(entry: Any) -> dict[str, Any] | None:
    """Mean, std and n of a member's ``trained`` entry; from its per-seed ``runs`` where the summary lacks them."""
    if not isinstance(entry, dict):
        return None
    runs = entry.get("runs") if isinstance(entry.get("runs"), list) else []
    seeds = [v for v in (_number(r.get("test_accuracy")) for r in runs if isinstance(r, dict)) if v is not None]
    mean = _number(entry.get("test_accuracy"))
    if mean is None:
        if not seeds:
            return None
        mean = statistics.fmean(seeds)
    std = _number(entry.get("test_accuracy_std"))
    if std is None and len(seeds) >= 2:
        std = statistics.stdev(seeds)
    n = _number(entry.get("n"))
    return {"test_accuracy": mean, "std": std, "n": n if n is not None and n >= 1 else (len(seeds) or None)}


def _members(run: RunData) -> list[dict[str, Any]]:
    members = (run.family or {}).get("members")
    return [m for m in members if isinstance(m, dict)] if isinstance(members, list) else []


def trained_members(run: RunData) -> pd.DataFrame:
    """The family's members that ``--train`` trained: phi, name, resolution, MACs, params, mean and std of test top-1, n.

    A member without a usable test accuracy or MACs count is not a point and is left out.
    """
    rows = []
    for m in _members(run):
        entry, macs = _trained_entry(m.get("trained")), _number(m.get("macs"))
        if entry is not None and macs is not None:
            rows.append({"phi": _number(m.get("phi")), "name": str(m.get("name") or ""), "resolution": _number(m.get("resolution")),
                         "macs": macs, "params": _number(m.get("params")), **entry})
    frame = pd.DataFrame(rows, columns=list(_TRAINED))
    for col in _TRAINED:
        if col != "name":
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.sort_values("phi", kind="stable").reset_index(drop=True)


def compare_rows(run: RunData) -> list[dict[str, Any]]:
    """compare.csv as typed rows; rows without a variant, phi or MACs are not points and are left out."""
    frame = run.compare
    if frame is None or not len(frame) or "variant" not in frame:
        return []
    out = frame.copy()
    for col in _NUMERIC:
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
    out = out[out["variant"].notna() & np.isfinite(out["phi"]) & np.isfinite(out["macs"])]
    rows = out.to_dict("records")
    for row in rows:
        row["variant"], row["phi"] = str(row["variant"]), int(row["phi"])
        row["seed"] = int(row["seed"]) if math.isfinite(row["seed"]) else -1
    return rows


def compound_line(run: RunData) -> pd.DataFrame:
    """compare.csv's baseline (phi 0) and compound points: the columns of :func:`trained_members` (name
    ``compound-phi1``, as the comparison names its trainings), one row per phi with a finished seed."""
    rows = [r for r in compare_rows(run) if r["variant"] in ("baseline", "compound")]
    first = {(r["variant"], r["phi"]): r for r in reversed(rows)}
    out = []
    for s in summarize(rows):
        if s["mean"] is None:
            continue
        row = first[(s["variant"], s["phi"])]
        out.append({"phi": float(s["phi"]), "name": f"{s['variant']}-phi{s['phi']}", "resolution": _number(row.get("resolution")),
                    "macs": float(s["macs"]), "params": _number(row.get("params")), "test_accuracy": s["mean"],
                    "std": s["std"], "n": s["n"]})
    frame = pd.DataFrame(out, columns=list(_TRAINED))
    for col in _TRAINED:
        if col != "name":
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame.sort_values("phi", kind="stable").reset_index(drop=True)


# --- one frame for every family --------------------------------------------------------------------


def baseline_name(run: RunData) -> str:
    """The name of the network the run scaled (``efficientnet-b0``, ``resnet-18``); the folder's name when none is recorded."""
    for doc in (run.family, run.compare_info):
        base = (doc or {}).get("baseline")
        if isinstance(base, dict) and str(base.get("name") or "").strip():
            return str(base["name"]).strip()
    source = run.config.get("baseline")
    if isinstance(source, str) and source.strip():
        return Path(source.strip()).name or source.strip()
    return run.name


def _phis(values: Sequence[Any]) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, (int, float)) else str(v) for v in values)


def _run_parts(run: RunData) -> tuple[list[tuple[str, pd.DataFrame]], list[str], list[str]]:
    """A run's (source, points) with any points; notes on what is partial; and why a source has no point."""
    parts, notes, empty = [], [], []
    members = _members(run)
    if run.family is not None:
        trained = trained_members(run)
        if len(trained):
            parts.append(("trained", trained))
            if len(trained) < len(members):
                done = set(trained["name"])
                missing = [m.get("phi") for m in members if str(m.get("name") or "") not in done]
                notes.append(f"{len(trained)} of {len(members)} members trained; φ {_phis(missing)} not drawn")
        else:
            empty.append("family.json has no trained members")
    if run.compare is not None:
        line = compound_line(run)
        if len(line):
            parts.append(("compare", line))
        else:
            empty.append("compare.csv has no finished baseline or compound training")
    for source, points in parts:
        if (points["n"].fillna(1) <= 1).all():
            notes.append(f"{'compare.csv' if source == 'compare' else 'trained members'}: one seed, so no error bars")
    return parts, notes, empty


def family_accuracy(runs: Sequence[RunData]) -> FamilyAccuracy:
    """Every scale run's trained members and compound line as one frame (see the module docstring), with notes.

    A run with a family.json or compare.csv but no point in either is left out with a note; runs with
    neither (searches, trained models) are not families and are passed over.
    """
    found, notes = [], []
    for run in runs:
        if run.family is None and run.compare is None:
            continue
        parts, run_notes, empty = _run_parts(run)
        if parts:
            found.append((run, baseline_name(run), parts, run_notes))
        else:
            notes.append(f"{run.name}: not drawn: {' and '.join(empty)} (effsearch scale --train or --compare adds them)")
    names = [name for _, name, _, _ in found]
    frames = []
    for run, name, parts, run_notes in found:
        label = f"{name} ({run.folder})" if names.count(name) > 1 else name
        notes += [f"{label}: {n}" for n in run_notes]
        for source, points in parts:
            frames.append(points.rename(columns={"name": "member"}).assign(
                family=label, baseline=name, run=run.name, folder=str(run.folder), source=source))
    frame = pd.concat(frames, ignore_index=True)[list(COLUMNS)] if frames else pd.DataFrame(columns=list(COLUMNS))
    return FamilyAccuracy(frame, tuple(notes))


def families_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as display strings, one row per point: what the view's and the report's table show."""
    def fixed(v: Any) -> str:
        return f"{float(v):.4f}" if _number(v) is not None else ""

    return pd.DataFrame({
        "family": frame["family"], "source": frame["source"].map({"trained": "trained members", "compare": "compare.csv"}),
        "member": frame["member"], "φ": frame["phi"].map(lambda v: f"{v:g}" if _number(v) is not None else ""),
        "resolution": frame["resolution"].map(lambda v: f"{v:.0f}" if _number(v) is not None else ""),
        "MACs": frame["macs"].map(lambda v: format_count(v) if _number(v) is not None else ""),
        "params": frame["params"].map(lambda v: format_count(v) if _number(v) is not None else ""),
        "test top-1": frame["test_accuracy"].map(fixed), "± std": frame["std"].map(fixed),
        "n": frame["n"].map(lambda v: f"{v:.0f}" if _number(v) is not None else ""),
    })
