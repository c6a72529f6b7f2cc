"""``run_compare``: train compound and single-dimension scaling at matched MACs, over seeds; write the verdict.

The networks are :func:`~effsearch.compound.compare.compare_variants`'s: the baseline (phi 0, the
reference point), and per phi the compound member and its width-, depth- and resolution-only
matches. Each is trained for every seed with :func:`effsearch.train.Training` (the full recipe, a
test-split score at the end) as the search's proxy sees it: adapted to the data
(:func:`effsearch.train.network_for`, mode ``adapt``) at ``round(base * resolution multiplier)``
pixels. Every training has its own folder, ``OUT/compare/<variant>-phi<k>-s<seed>/``, so running the
same comparison again resumes the unfinished ones and finds the rest finished. All of them are set
up before the first trains, so a folder made with other settings is refused before anything runs.

Files, rewritten atomically after every training so a comparison in progress can be watched:

* ``compare.csv``: one row per finished training (columns :data:`COLUMNS`; ``folder`` relative to OUT);
* ``compare.json``: the settings, the variants and their MAC match, the summary per variant and
  phi (mean and sample std of test top-1 over seeds, n), and the verdicts (see :mod:`effsearch.compound.verdict`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effsearch.arch.scaling import RESOLUTION_MULTIPLE
from effsearch.arch.spec import NetSpec
from effsearch.compound.compare import Variant, check_compare_phis, compare_variants, training_folder, variant_to_dict
from effsearch.compound.family import check_coefficients
from effsearch.compound.verdict import SPREAD_RULE, overall, summarize, verdicts
from effsearch.engine.adapt import dropped_strides
from effsearch.errors import EffsearchError
from effsearch.runtime.results import atomic_write_json, atomic_write_text, check_writable

COLUMNS = ("variant", "phi", "seed", "width_mult", "depth_mult", "resolution_mult", "resolution", "train_resolution",
           "macs", "params", "macs_mismatch", "test_accuracy", "val_accuracy", "train_seconds", "train_macs", "folder")
CSV, JSON = "compare.csv", "compare.json"
OnTraining = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, kw_only=True)
class CompareConfig:
    """What to compare: the coefficients, the phis, the seeds, the rounding and the base training input.

    ``base_resolution`` is the training side of the baseline (default: the data's proxy resolution).
    """

    coefficients: tuple[float, float, float]
    phis: tuple[int, ...] = (1, 2)
    seeds: tuple[int, ...] = (0, 1, 2)
    resolution_multiple: int = RESOLUTION_MULTIPLE
    base_resolution: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficients", check_coefficients(*self.coefficients))
        object.__setattr__(self, "phis", check_compare_phis(self.phis))
        seeds = tuple(self.seeds)
        if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) < len(seeds):
            raise EffsearchError(f"seeds {list(seeds)} are invalid; give distinct whole numbers >= 0, e.g. 0, 1, 2")
        object.__setattr__(self, "seeds", seeds)
        m, b = self.resolution_multiple, self.base_resolution
        if isinstance(m, bool) or not isinstance(m, int) or m < 1:
            raise EffsearchError(f"resolution multiple {m!r} is invalid; use a whole number >= 1, e.g. 8")
        if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 4):
            raise EffsearchError(f"base resolution {b!r} is invalid; use a whole number of pixels >= 4, e.g. 28")


@dataclass(frozen=True)
class Planned:
    """One training of the plan: which variant, which seed, the network as trained, its folder and its name."""

    variant: Variant
    seed: int
    net: NetSpec
    train_resolution: int
    folder: Path
    name: str


@dataclass
class CompareResult:
    """A comparison: its folder, the variants, one row per finished training, the summary and the verdicts."""

    out: Path
    variants: list[Variant]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    overall: list[dict[str, Any]]
    planned: int
    trained: int = 0  # trained (or resumed) in this call; the rest were found finished
    document: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return len(self.rows) == self.planned


def plan(variants: Sequence[Variant], data: Any, seeds: Sequence[int], out: str | Path, *,
         base_resolution: int | None = None, folder: Callable[[Variant, int], Path] | None = None,
         name: Callable[[Variant], str] | None = None, strides_of: NetSpec | None = None) -> list[Planned]:
    """Every training, seed by seed (so an interrupted comparison holds whole seeds), each adapted to ``data``.

    ``folder(variant, seed)`` and ``name(variant)`` default to the comparison's (``compare/<variant>-phi<k>-s<seed>``).
    ``strides_of`` (the baseline): every network drops as many early strides as it does at the base
    side (:func:`~effsearch.engine.adapt.dropped_strides`), so the MACs as trained keep the deployment's
    proportions; without it
    each network is adapted at its own side, as the search's proxy adapts a lone candidate.
    """
    from effsearch.train import network_for

    base = base_resolution or data.default_resolution
    drop = None if strides_of is None else dropped_strides(strides_of, base)
    where = folder or (lambda v, s: training_folder(out, v.kind, v.phi, s))
    out_plan = []
    for seed in seeds:
        for v in variants:
            side = v.train_resolution(base)
            net = network_for(v.spec, data, resolution=side, mode="adapt", drop=drop)
            out_plan.append(Planned(v, seed, net, side, where(v, seed), name(v) if name else v.name))
    return out_plan


def train_planned(planned: Sequence[Planned], data: Any, train: Any, *, on_training: OnTraining | None = None,
                  on_row: Callable[[list[dict[str, Any]]], None] | None = None,
                  relative_to: Path | None = None) -> tuple[list[dict[str, Any]], int]:
    """Train (or resume, or find finished) every planned training; the rows and how many trained now.

    Every :class:`~effsearch.train.Training` is set up first: a folder trained with other settings is
    refused in one line before anything trains. ``on_training`` gets ``{"event": "start" | "done", ...}``;
    ``on_row`` the rows so far after each training.
    """
    from effsearch.train import Training

    trainings = [Training(p.net, data, train, p.folder, seed=p.seed, source=p.name) for p in planned]
    rows: list[dict[str, Any]] = []
    fresh = 0
    for i, (p, t) in enumerate(zip(planned, trainings, strict=True), start=1):
        event = {"index": i, "total": len(planned), "variant": p.variant.kind, "phi": p.variant.phi, "seed": p.seed,
                 "name": p.name, "folder": str(p.folder), "train_resolution": p.train_resolution}
        found = t.finished
        if not found:
            fresh += 1
            if on_training is not None:
                on_training({**event, "event": "start", "epochs_done": t.epochs_done()})
        metrics = t.run()
        rows.append(_row(p, metrics, relative_to))
        if on_row is not None:
            on_row(rows)
        if on_training is not None:
            on_training({**event, "event": "done", "found": found, "row": rows[-1]})
    return rows, fresh


def _row(p: Planned, metrics: dict[str, Any], relative_to: Path | None) -> dict[str, Any]:
    v = p.variant
    folder = p.folder
    if relative_to is not None and folder.is_relative_to(relative_to):
        folder = folder.relative_to(relative_to)
    return {
        "variant": v.kind, "phi": v.phi, "seed": p.seed, "width_mult": v.width, "depth_mult": v.depth,
        "resolution_mult": v.resolution_mult, "resolution": v.spec.resolution, "train_resolution": p.train_resolution,
        "macs": v.macs, "params": v.params, "macs_mismatch": v.mismatch, "test_accuracy": metrics.get("test_accuracy"),
        "val_accuracy": metrics.get("val_accuracy"), "train_seconds": metrics.get("train_seconds"),
        "train_macs": metrics.get("macs"), "folder": str(folder),
    }


def rows_to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] = COLUMNS) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else f"{row[k]:.6g}" if isinstance(row[k], float) else row[k])
                         for k in columns})
    return buf.getvalue()


def run_compare(baseline: NetSpec, data: Any, config: CompareConfig, train: Any = None, out: str | Path = "results/compare", *,
                on_training: OnTraining | None = None) -> CompareResult:
    """Compare compound with single-dimension scaling on ``data`` into ``out`` (see the module docstring).

    ``train`` is the :class:`~effsearch.train.TrainConfig` of every training (default ``TrainConfig()``).
    Running it again with the same arguments resumes; more seeds or phis add trainings; other
    coefficients, data or recipe on the same folder are refused in one line.
    """
    from effsearch.train import TrainConfig

    out = Path(out)
    check_writable(out)
    train = train or TrainConfig()
    variants = compare_variants(baseline, config.coefficients, config.phis, resolution_multiple=config.resolution_multiple)
    base = config.base_resolution or data.default_resolution
    planned = plan(variants, data, config.seeds, out, base_resolution=base, strides_of=baseline)
    head = compare_head(baseline, data, config, train, variants, base, len(planned))
    rows, fresh = train_planned(planned, data, train, on_training=on_training,
                                on_row=lambda rows: write_tables(out, head, rows), relative_to=out)
    document = write_tables(out, head, rows)
    return CompareResult(out=out, variants=variants, rows=rows, summary=document["summary"], verdicts=document["verdicts"],
                         overall=document["overall"], planned=len(planned), trained=fresh, document=document)


def write_tables(out: Path, head: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Write ``compare.csv`` and ``compare.json`` (``head`` from :func:`compare_head`) for ``rows``; the document."""
    atomic_write_text(out / CSV, rows_to_csv(rows))
    document = {**head, **_verdict_part(rows), "finished": len(rows), "complete": len(rows) == head["planned"]}
    atomic_write_json(out / JSON, document)
    return document


def _verdict_part(rows: list[dict[str, Any]]) -> dict[str, Any]:
    summary = summarize(rows)
    found = verdicts(summary)
    return {"summary": summary, "verdicts": found, "overall": overall(found), "spread_rule": SPREAD_RULE}


def compare_head(baseline: NetSpec, data: Any, config: CompareConfig, train: Any, variants: list[Variant], base: int,
                 planned: int) -> dict[str, Any]:
    """What ``compare.json`` says of the comparison before any training: settings, variants, how many are planned."""
    from effsearch.arch.specio import spec_to_dict

    d = data.describe()
    alpha, beta, gamma = config.coefficients
    return {
        "kind": "compare", "baseline": spec_to_dict(baseline), "coefficients": {"alpha": alpha, "beta": beta, "gamma": gamma},
        "phis": list(config.phis), "seeds": list(config.seeds), "resolution_multiple": config.resolution_multiple,
        "base_resolution": base, "network_mode": "adapt", "dropped_strides": dropped_strides(baseline, base),
        "data": {k: d.get(k) for k in ("name", "train", "val", "test", "num_classes", "image_size", "test_source")},
        "train": {k: v for k, v in train.to_dict().items() if k not in ("device", "threads", "kernels")},
        "variants": [variant_to_dict(v, base) for v in variants], "planned": planned,
    }
