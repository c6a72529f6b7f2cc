"""Results files as typed pandas frames: :class:`RunData`, the tolerant readers, and the columns views rely on.

CSV files are the source: ``trials.csv`` and ``grid.csv`` are rewritten atomically by the search
after every trial, so reading one never sees half a file. Columns a file lacks are blank, never an
error: a folder still filling up is shown with what it has. :mod:`~effsearch.review.dashboard.data`
turns a folder into a :class:`RunData`; :mod:`~effsearch.review.dashboard.trained` does it for
``effsearch train``'s folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from effsearch.arch.spec import NetSpec
from effsearch.errors import EffsearchError

if TYPE_CHECKING:
    from effsearch.review.dashboard.trained import Trained

RESULT_FILES = (
    "run.json", "trials.csv", "pareto.csv", "baseline.yaml", "baseline.json", "retrain.csv", "grid.csv",
    "family.json", "family.yaml", "compare.csv", "compare.json", "controller.csv", "study.db",
)
NUMERIC_TRIAL_COLUMNS = (
    "number", "params", "macs", "accuracy", "reward", "rung", "train_seconds", "images_per_s", "latency_ms", "duration_s",
)
TEXT_TRIAL_COLUMNS = ("state", "status", "reason", "sampler", "proposal", "blocks", "seed_accuracies", "datetime_start", "datetime_complete")
OUTCOMES = ("ok", "over budget", "cached", "rejected", "failed", "pruned", "running")
CONTROLLER_COLUMNS = ("update", "last_trial", "loss", "entropy", "entropy_share", "reward_mean", "reward_sd", "baseline",
                      "advantage_scale")

@dataclass(frozen=True)
class RunData:
    """One results folder as frames; missing parts are ``None`` (an empty frame for trials).

    ``trained`` is set for a folder written by ``effsearch train`` (``kind == 'train'``), and only for one.
    """

    folder: Path
    name: str
    run: dict[str, Any] = field(default_factory=dict)
    trials: pd.DataFrame = field(default_factory=pd.DataFrame)
    baseline: NetSpec | None = None
    grid: pd.DataFrame | None = None
    family: dict[str, Any] | None = None
    retrain: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    trained: Trained | None = None
    compare: pd.DataFrame | None = None  # compare.csv of 'effsearch scale --compare'
    compare_info: dict[str, Any] | None = None  # its compare.json (settings, baseline, summary)
    # controller.csv of an mnas search, one row per policy update; empty for other samplers and older runs
    controller: pd.DataFrame = field(default_factory=lambda: normalize_controller(None))

    @property
    def kind(self) -> str:
        """``baseline``, ``scale`` (from run.json), or guessed from the files present."""
        if self.run.get("kind"):
            return str(self.run["kind"])
        from effsearch.runs import run_kind

        found = run_kind(self.folder)
        return found.kind if found is not None else "baseline"

    @property
    def config(self) -> dict[str, Any]:
        config = self.run.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def objective(self) -> str:
        """The cost the search rewarded: ``macs`` (default, and folders made before objectives), ``params``, ``latency_ms``."""
        return str(self.config.get("objective") or "macs")

    @property
    def target(self) -> float | None:
        """The target T of a baseline search, in its objective's unit (older folders: ``config.flops_target``)."""
        value = self.config.get("target", self.config.get("flops_target"))
        return _as_count(value) if self.objective != "latency_ms" else (float(value) if value is not None else None)

    @property
    def macs_target(self) -> float | None:
        """The MACs target, when MACs are the objective (what the MACs axes draw)."""
        return self.target if self.objective == "macs" else None

    @property
    def in_progress(self) -> bool:
        return bool(len(self.trials)) and bool((self.trials["outcome"] == "running").any())


# --- reading one folder ---------------------------------------------------------------------------


def _as_count(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        from effsearch.units import parse_count

        return parse_count(value)
    except EffsearchError:
        return None


def _read_csv(path: Path, notes: list[str]) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()  # created but no row yet: an in-progress run, not an error
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        notes.append(f"{path.name} could not be read ({str(exc).splitlines()[0]}); it is skipped")
        return None


def _read_mapping(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        notes.append(f"{path.name} could not be read ({str(exc).splitlines()[0]}); it is skipped")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path.name} is not a mapping; it is skipped")
        return None
    return data


# --- trials --------------------------------------------------------------------------------------


def _text(series: pd.Series) -> pd.Series:
    # A column with no value at all parses as float NaN; blank text is what it means.
    return series.astype(object).where(series.notna(), "").astype(str)


def as_bool(series: pd.Series) -> pd.Series:
    """True/false cells of a CSV (``True``, ``1``, ``yes``...) as booleans; anything else is false."""
    text = series.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "1.0", "yes"))


def _outcome(trials: pd.DataFrame) -> pd.Series:
    """One category per trial for plotting: ok, over budget, cached, rejected, failed, pruned, running.

    ``cached`` trials re-used the result of the same architecture evaluated earlier: they count for the
    learning curves but are not drawn again as points (pareto.csv leaves them out the same way).
    """
    state, status = trials["state"].str.upper(), trials["status"].str.lower()
    outcome = pd.Series("ok", index=trials.index, dtype=object)
    outcome[trials["over_budget"]] = "over budget"
    outcome[status == "cached"] = "cached"
    outcome[status == "rejected"] = "rejected"
    outcome[state == "PRUNED"] = "pruned"
    outcome[(state == "FAIL") | (status == "failed")] = "failed"
    outcome[state.isin(("RUNNING", "WAITING")) | status.isin(("running", "queued"))] = "running"
    # A COMPLETE trial without an accuracy cannot be drawn as a point; say so rather than call it ok.
    no_point = outcome.isin(("ok", "over budget")) & ~np.isfinite(trials["accuracy"])
    outcome[no_point & (status != "rejected")] = "failed"
    return outcome


def normalize_trials(frame: pd.DataFrame) -> pd.DataFrame:
    """trials.csv with every contract column present and typed, plus ``outcome``; columns it lacks are blank."""
    out = frame.copy()
    for col in NUMERIC_TRIAL_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
    for col in TEXT_TRIAL_COLUMNS:
        out[col] = _text(out[col]) if col in out else ""
    out["over_budget"] = as_bool(out["over_budget"]) if "over_budget" in out else False
    if out["number"].isna().all():
        out["number"] = np.arange(len(out), dtype=float)
    out["sampler"] = out["sampler"].replace("", "trials")
    out["outcome"] = _outcome(out) if len(out) else pd.Series(dtype=object)
    return out.sort_values("number", kind="stable").reset_index(drop=True)


def decision_columns(trials: pd.DataFrame) -> list[str]:
    return [c for c in trials.columns if str(c).startswith("d_")]


def points(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials that are points on the accuracy-vs-cost plane: an accuracy was measured and recorded."""
    return trials[trials["outcome"].isin(("ok", "over budget"))]


# --- controller ------------------------------------------------------------------------------------


def normalize_controller(frame: pd.DataFrame | None) -> pd.DataFrame:
    """controller.csv with every :data:`CONTROLLER_COLUMNS` column numeric, by update; ``None`` is empty.

    Rows without a ``last_trial`` cannot be placed on the trials axis and are dropped: a file damaged
    by hand or written by another version then shows what it can, never an error.
    """
    out = pd.DataFrame() if frame is None else frame.copy()
    for col in CONTROLLER_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else pd.Series(np.nan, index=out.index, dtype=float)
    out = out[np.isfinite(out["last_trial"].to_numpy(dtype=float))]
    return out.sort_values(["last_trial", "update"], kind="stable").reset_index(drop=True)


# --- grid and family ------------------------------------------------------------------------------


def normalize_grid(grid: pd.DataFrame) -> pd.DataFrame:
    out = grid.copy()
    for col in ("alpha", "beta", "gamma", "flops_ratio", "accuracy", "macs", "params", "train_seconds", "epochs"):
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
    # ok, stopped (ASHA ended it early; its accuracy counts), failed, skipped (over budget), pending (not run yet)
    out["status"] = _text(out["status"]).str.lower() if "status" in out else "ok"
    out["reason"] = _text(out["reason"]) if "reason" in out else ""
    out["selected"] = as_bool(out["selected"]) if "selected" in out else False
    if out["flops_ratio"].isna().all() and len(out):
        out["flops_ratio"] = out["alpha"] * out["beta"] ** 2 * out["gamma"] ** 2
    return out


def family_members(run: RunData) -> pd.DataFrame:
    """The family's members (phi, name, resolution, width, depth, params, macs) as a frame."""
    members = (run.family or {}).get("members") or []
    keep = ("phi", "name", "depth", "width", "resolution", "params", "macs", "latency_ms")
    frame = pd.DataFrame([{**{k: m.get(k) for k in keep}, "budget": _budget(m.get("target"))}
                          for m in members if isinstance(m, dict)])
    for col in keep:
        if col != "name":
            frame[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame else np.nan
    return frame.sort_values("phi", kind="stable").reset_index(drop=True) if len(frame) else frame


def _budget(target: Any) -> str:
    """``1.8G MACs (0.99x)``: the budget a member was solved for and how much of it the rounding used."""
    if not isinstance(target, dict) or not isinstance(target.get("value"), (int, float)):
        return ""
    from effsearch.units import format_count

    unit = {"macs": "MACs", "params": "params", "latency_ms": "ms"}.get(str(target.get("objective")), "")
    value = f"{target['value']:g}" if unit == "ms" else format_count(target["value"])
    ratio = target.get("ratio")
    return f"{value} {unit}" + (f" ({ratio:.2f}x)" if isinstance(ratio, (int, float)) else "")
