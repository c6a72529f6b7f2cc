"""Training the family's members to keep, and their test top-1 in ``family.json``.

:func:`train_members` trains each member of a family as the search's proxy sees it (adapted to the
data at ``round(base * member side / baseline side)`` pixels with the baseline's early strides
dropped, the rules of :mod:`effsearch.compound.compare` and
:func:`~effsearch.compound.compare_run.plan`) with the full recipe of :mod:`effsearch.train`, one
folder per member and seed, ``OUT/members-trained/<name>-s<seed>/``, so the same call resumes. Each member of
``family.json`` / ``family.yaml`` then carries ``trained``: the mean (and, with several seeds, the
sample std) of test top-1 and one entry per seed. A later scale run that rewrites the family without
training drops ``trained``; training again finds every folder finished and restores it in seconds.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from effsearch.compound.compare import Variant
from effsearch.compound.compare_run import OnTraining, plan, train_planned
from effsearch.compound.family import Family, Member
from effsearch.errors import EffsearchError
from effsearch.runtime.results import atomic_write_json, atomic_write_text, check_writable

FOLDER = "members-trained"


def member_variant(family: Family, member: Member) -> Variant:
    """A member as a comparison variant: its multipliers and cost, trained by the same resolution rule."""
    return Variant("member", member.phi, member.width, member.depth, member.resolution / family.baseline.resolution,
                   member.spec, member.macs, member.params, member.macs)


def train_members(family: Family, data: Any, train: Any = None, out: str | Path = "results/scale", *,
                  seeds: Sequence[int] = (0,), base_resolution: int | None = None,
                  on_training: OnTraining | None = None) -> list[dict[str, Any]]:
    """Train every member of ``family`` for each seed into ``out``/members-trained; one row per training.

    Rows carry ``name``, ``phi``, ``seed``, ``train_resolution``, ``macs`` (deployment), ``params``,
    ``test_accuracy``, ``val_accuracy``, ``train_seconds`` and ``folder`` (relative to ``out``).
    ``family.json`` and ``family.yaml`` in ``out``, when there, get each member's ``trained`` entry.
    """
    from effsearch.train import TrainConfig

    seeds = tuple(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
        raise EffsearchError(f"seeds {list(seeds)} are invalid; give distinct whole numbers >= 0, e.g. 0")
    out = Path(out)
    check_writable(out)
    by_phi = {m.phi: m for m in family.members}
    variants = [member_variant(family, m) for m in family.members]
    planned = plan(variants, data, seeds, out, base_resolution=base_resolution,
                   folder=lambda v, s: out / FOLDER / f"{by_phi[v.phi].name}-s{s}", name=lambda v: by_phi[v.phi].name,
                   strides_of=family.baseline)
    rows, _ = train_planned(planned, data, train or TrainConfig(), on_training=on_training, relative_to=out)
    for row in rows:
        row["name"] = by_phi[row["phi"]].name
    if (out / "family.json").is_file():
        record_trained(out, rows)
    return rows


def trained_entry(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One member's ``trained`` entry from its rows (one per seed)."""
    values = [float(r["test_accuracy"]) for r in rows]
    return {
        "test_accuracy": statistics.fmean(values), "test_accuracy_std": statistics.stdev(values) if len(values) > 1 else None,
        "n": len(values), "train_resolution": rows[0]["train_resolution"],
        "runs": [{"seed": r["seed"], "test_accuracy": r["test_accuracy"], "val_accuracy": r["val_accuracy"],
                  "train_seconds": r["train_seconds"], "folder": r["folder"]} for r in rows],
    }


def record_trained(folder: str | Path, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Add ``trained`` to the members of ``folder``'s family.json (and family.yaml); the new document."""
    folder = Path(folder)
    path = folder / "family.json"
    try:
        document = json.loads(path.read_text())
        members = document["members"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EffsearchError(f"{path} cannot be updated ({exc!r}); regenerate it with the scale stage") from None
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_name.setdefault(str(row["name"]), []).append(row)
    for member in members:
        if isinstance(member, dict) and member.get("name") in by_name:
            member["trained"] = trained_entry(by_name[member["name"]])
    atomic_write_json(path, document)
    if (folder / "family.yaml").is_file():
        atomic_write_text(folder / "family.yaml", yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120))
    return document
