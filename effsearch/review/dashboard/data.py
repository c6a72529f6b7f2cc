"""Results folders into pandas frames for the dashboard and the report; read-only, tolerant of runs in progress.

CSV files are the source: ``trials.csv`` and ``grid.csv`` are rewritten atomically by the search
after every trial, so reading one never sees half a file and never touches the Optuna storage
(``study.db`` is not opened at all, so the page cannot lock or write a running study). A folder that
is still filling up loads with what it has and a note; a folder that does not exist or holds none of
the results files is a one-line :class:`~effsearch.errors.EffsearchError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import yaml

from effsearch.arch.blockstring import parse_block
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import spec_from_dict
from effsearch.errors import EffsearchError, SpecError

if TYPE_CHECKING:
    from effsearch.review.dashboard.trained import Trained

RESULT_FILES = (
    "run.json", "trials.csv", "pareto.csv", "baseline.yaml", "baseline.json", "retrain.csv", "grid.csv",
    "family.json", "family.yaml", "compare.csv", "compare.json", "study.db",
)
NUMERIC_TRIAL_COLUMNS = (
    "number", "params", "macs", "accuracy", "reward", "train_seconds", "images_per_s", "latency_ms", "duration_s",
)
TEXT_TRIAL_COLUMNS = ("state", "status", "reason", "sampler", "blocks", "datetime_start", "datetime_complete")
OUTCOMES = ("ok", "over budget", "cached", "rejected", "failed", "pruned", "running")
DEFAULT_ROOT = Path("results")


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

    @property
    def kind(self) -> str:
        """``baseline``, ``scale`` (from run.json), or guessed from the files present."""
        if self.run.get("kind"):
            return str(self.run["kind"])
        return "scale" if self.grid is not None or self.family is not None or self.compare is not None else "baseline"

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


def _read_spec(folder: Path, notes: list[str]) -> NetSpec | None:
    for name in ("baseline.yaml", "baseline.json"):
        data = _read_mapping(folder / name, notes)
        if data is not None:
            try:
                return spec_from_dict(data, source=name)
            except SpecError as exc:
                notes.append(f"{exc}; the baseline is not shown")
    return None


def check_folder(folder: str | Path) -> Path:
    """``folder`` as a Path if it exists and holds results files, else a one-line error saying what to do."""
    from effsearch.review.dashboard.trained import is_train_folder

    path = Path(folder)
    if not path.exists():
        raise EffsearchError(f"results folder {path} does not exist; pass a folder written by 'effsearch baseline', "
                             "'effsearch scale' or 'effsearch train'")
    if not path.is_dir():
        raise EffsearchError(f"{path} is not a folder; pass a results folder written by 'effsearch baseline', "
                             "'effsearch scale' or 'effsearch train'")
    if any((path / name).is_file() for name in RESULT_FILES) or is_train_folder(path):
        return path
    if (path / "supernet.json").is_file():
        raise EffsearchError(f"{path} holds a supernet (from effsearch supernet), not a search or scaling run; pass the folder of a "
                             f"search that used it (its training history is in {path / 'supernet.json'})")
    raise EffsearchError(
        f"results folder {path} is empty (no run.json, trials.csv, grid.csv, family.json or train.json); "
        f"start a run there (effsearch baseline writes one) or pass another folder"
    )


def load_run(folder: str | Path, name: str | None = None) -> RunData:
    """Everything the dashboard shows about one results folder."""
    path = check_folder(folder)
    notes: list[str] = []
    from effsearch.review.dashboard.trained import is_train_folder, load_trained

    if is_train_folder(path):
        return load_trained(path, name or path.name, notes)
    run = _read_mapping(path / "run.json", notes) or {}
    raw = _read_csv(path / "trials.csv", notes)
    trials = normalize_trials(raw if raw is not None else pd.DataFrame())
    if raw is None and (path / "study.db").is_file():
        notes.append("no trials.csv yet: the search has started but has not finished a trial")
    family = _read_mapping(path / "family.json", notes) or _read_mapping(path / "family.yaml", notes)
    return RunData(
        folder=path, name=name or path.name, run=run, trials=trials, baseline=_read_spec(path, notes),
        grid=_read_csv(path / "grid.csv", notes), family=family, retrain=_read_csv(path / "retrain.csv", notes),
        notes=tuple(notes), compare=_read_csv(path / "compare.csv", notes),
    )


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


# --- grid and family ------------------------------------------------------------------------------


def normalize_grid(grid: pd.DataFrame) -> pd.DataFrame:
    out = grid.copy()
    for col in ("alpha", "beta", "gamma", "flops_ratio", "accuracy", "macs", "params", "train_seconds", "epochs"):
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
    # ok, stopped (ASHA ended it early; its accuracy counts), failed, pending (not run yet)
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
    frame = pd.DataFrame([{k: m.get(k) for k in keep} for m in members if isinstance(m, dict)])
    for col in keep:
        if col != "name":
            frame[col] = pd.to_numeric(frame[col], errors="coerce") if col in frame else np.nan
    return frame.sort_values("phi", kind="stable").reset_index(drop=True) if len(frame) else frame


# --- architectures --------------------------------------------------------------------------------


_SKELETON = ("resolution", "head_chs", "num_classes", "act", "stem_stride", "in_chans", "dropout", "drop_connect")


def skeleton(run: RunData) -> dict[str, Any]:
    """What every candidate of a run shares besides its blocks (head, resolution, classes, activation).

    Taken from the chosen baseline, else the family's baseline, else the run's search space; empty
    (NetSpec defaults) when none is known yet.
    """
    spec = run.baseline
    base = (run.family or {}).get("baseline")
    if spec is None and isinstance(base, dict):
        try:
            spec = spec_from_dict(base, source="family baseline")
        except SpecError:
            spec = None
    if spec is not None:
        return {name: getattr(spec, name) for name in _SKELETON}
    return _space_skeleton(run.config)


def _space_skeleton(config: dict[str, Any]) -> dict[str, Any]:
    from effsearch.search.space import load_space

    # The file the run read, else the space by name (a folder copied from another machine records
    # a path that does not exist here, but a built-in space's name still loads).
    space = None
    for name in (config.get("space_file"), config.get("space")):
        if not name:
            continue
        try:
            space = load_space(name)
            break
        except (EffsearchError, ImportError, OSError):
            continue
    if space is None:
        return {}  # a space file that moved away: fall back to the NetSpec defaults
    return {"resolution": space.resolution, "head_chs": space.head, "num_classes": space.num_classes, "act": space.act}


def trial_spec(run: RunData, blocks: str) -> NetSpec:
    """A trial's architecture from its block strings, on the run's skeleton (defaults when unknown)."""
    strings = str(blocks or "").split()
    if not strings:
        raise SpecError("this trial has no block strings (it failed before an architecture was recorded)")
    # The stem feeds the first block, so its width is that block's input width, whatever the skeleton.
    data: dict[str, Any] = {"blocks": strings, "stem_chs": parse_block(strings[0]).in_chs}
    data.update(skeleton(run))
    return spec_from_dict(data, source=f"trial blocks {blocks!r}")


# --- several folders ------------------------------------------------------------------------------
