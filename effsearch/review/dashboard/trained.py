"""Folders written by ``effsearch train``: a trained model's record, its per-epoch history and final metrics.

A trained-model folder holds ``train.json`` (``kind: train``, the settings, ``status`` running or done),
``history.csv`` (one row per finished epoch, appended while training runs) and, once finished,
``metrics.json`` (test and validation top-1, cost, latency). It has no trials, grid or family, so the
other views skip it; the Trained view shows its table row and its curves. Like the rest of the page this
only reads: a history.csv that cannot be parsed is a note, a running training shows its epochs so far.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from effsearch.review.dashboard.frames import RunData, _read_csv, _read_mapping, normalize_trials

TRAIN_FILES = ("train.json", "history.csv", "metrics.json")
HISTORY_COLUMNS = ("epoch", "steps", "lr", "train_loss", "val_accuracy", "val_loss", "ema_val_accuracy", "ema_val_loss",
                   "seconds", "images_per_s")
_MAX_RECORD_BYTES = 1 << 20  # effsearch's train.json is a few KB; a big one is some data set's file, not ours


@dataclass(frozen=True)
class Trained:
    """One trained model: ``info`` (train.json), ``history`` (typed, one row per epoch) and ``metrics`` (or None)."""

    info: dict[str, Any] = field(default_factory=dict)
    history: pd.DataFrame = field(default_factory=lambda: normalize_history(pd.DataFrame()))
    metrics: dict[str, Any] | None = None

    @property
    def settings(self) -> dict[str, Any]:
        settings = self.info.get("settings")
        return settings if isinstance(settings, dict) else {}

    @property
    def status(self) -> str:
        """``done`` once metrics.json exists, else train.json's status (``running``)."""
        return "done" if self.metrics is not None else str(self.info.get("status") or "running")

    @property
    def has_ema(self) -> bool:
        return bool(np.isfinite(self.history["ema_val_accuracy"]).any())


def is_train_folder(path: str | Path) -> bool:
    """True when ``path`` holds an ``effsearch train`` record: train.json with ``kind: train``.

    A train.json that cannot be parsed (being replaced, or damaged) counts too: the folder is shown with
    a note rather than silently left out.
    """
    record = Path(path) / "train.json"
    try:
        if not record.is_file() or record.stat().st_size > _MAX_RECORD_BYTES:
            return False
        data = json.loads(record.read_text())
    except (OSError, ValueError):
        return record.is_file()
    return isinstance(data, dict) and data.get("kind") == "train"


def normalize_history(frame: pd.DataFrame) -> pd.DataFrame:
    """history.csv with every column present and numeric (blank where the file has none), sorted by epoch."""
    out = frame.copy()
    for col in HISTORY_COLUMNS:
        out[col] = pd.to_numeric(out[col], errors="coerce") if col in out else np.nan
    out = out[np.isfinite(out["epoch"])]
    return out.sort_values("epoch", kind="stable").reset_index(drop=True)


def load_trained(path: Path, name: str, notes: list[str]) -> RunData:
    """A trained-model folder as a RunData with ``kind == 'train'``, no trials and its :class:`Trained`."""
    info = _read_mapping(path / "train.json", notes) or {}
    raw = _read_csv(path / "history.csv", notes)
    if raw is not None and len(raw) and "epoch" not in raw.columns:
        notes.append(f"history.csv has no epoch column (columns: {', '.join(map(str, raw.columns))}); it is skipped")
        raw = None
    history = normalize_history(raw if raw is not None else pd.DataFrame())
    if raw is not None and len(history) < len(raw):
        notes.append(f"{len(raw) - len(history)} row(s) of history.csv have no epoch number; they are skipped")
    metrics = _read_mapping(path / "metrics.json", notes)
    trained = Trained(info=info, history=history, metrics=metrics)
    return RunData(folder=path, name=name, run={**info, "kind": "train"}, trials=normalize_trials(pd.DataFrame()),
                   trained=trained, notes=tuple(notes))


# --- what the Trained view shows -----------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if np.isfinite(out) else None


def _last(history: pd.DataFrame, col: str) -> float | None:
    values = history[col][np.isfinite(history[col])]
    return float(values.iloc[-1]) if len(values) else None


def _elapsed(info: dict[str, Any]) -> float | None:
    try:
        started, updated = (datetime.fromisoformat(str(info[k])) for k in ("started", "updated"))
        return max(0.0, (updated - started).total_seconds())
    except (KeyError, ValueError, TypeError):
        return None


def _dataset(settings: dict[str, Any]) -> str:
    data = settings.get("data")
    if isinstance(data, dict):
        for key in ("dataset", "name"):
            if data.get(key):
                return str(data[key])
    return str(data) if isinstance(data, str) else ""


def _total_epochs(settings: dict[str, Any]) -> float | None:
    config = settings.get("config")
    return _number((config if isinstance(config, dict) else {}).get("epochs", settings.get("epochs")))


def trained_row(run: RunData) -> dict[str, Any]:
    """One model's numbers: metrics.json when finished, else what train.json and history.csv say so far.

    While training runs, ``val_accuracy`` is the last finished epoch's (raw weights), ``epochs`` the
    epochs finished and ``train_seconds`` the time between train.json's ``started`` and ``updated``.
    """
    t = run.trained or Trained()
    m, settings = t.metrics or {}, t.settings
    return {
        "run": run.name, "name": str(m.get("name") or t.info.get("name") or run.name),
        "dataset": str(m.get("dataset") or _dataset(settings)), "status": t.status,
        "test_accuracy": _number(m.get("test_accuracy")),
        "val_accuracy": _number(m.get("val_accuracy")) if t.metrics is not None else _last(t.history, "val_accuracy"),
        "weights": str(m.get("weights") or ""), "params": _number(m.get("params")), "macs": _number(m.get("macs")),
        "resolution": _number(m.get("resolution", settings.get("resolution"))), "latency_ms": _number(m.get("latency_ms")),
        "epochs": _number(m.get("epochs")) if t.metrics is not None else float(len(t.history)),
        "total_epochs": _total_epochs(settings),
        "train_seconds": _number(m.get("train_seconds")) if t.metrics is not None else _elapsed(t.info),
        "test_split": str(m.get("test_split") or ""), "device": str(m.get("device") or ""),
    }


def trained_runs(runs: list[RunData]) -> list[tuple[int, RunData]]:
    """(position in ``runs``, run) of the trained-model folders; the position picks the run's colour."""
    return [(i, r) for i, r in enumerate(runs) if r.trained is not None]


def format_seconds(value: float | None) -> str:
    """42 -> '42s', 754 -> '12m 34s', 7384 -> '2h 03m'."""
    if value is None or not np.isfinite(value):
        return ""
    s = round(float(value))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {s % 3600 // 60:02d}m"


def trained_frame(runs: list[RunData]) -> pd.DataFrame:
    """The Trained table: one row per trained model, as display strings (page and report show the same)."""
    from effsearch.units import format_count

    def fixed(v: float | None, digits: int = 4) -> str:
        return "" if v is None else f"{v:.{digits}f}"

    rows = []
    for _, run in trained_runs(runs):
        r = trained_row(run)
        epochs = fixed(r["epochs"], 0)
        if r["status"] != "done" and r["total_epochs"] is not None:
            epochs = f"{epochs} / {r['total_epochs']:.0f}"
        rows.append({
            "model": r["run"], "name": r["name"], "dataset": r["dataset"], "status": r["status"],
            "test top-1": fixed(r["test_accuracy"]), "val top-1": fixed(r["val_accuracy"]), "weights": r["weights"],
            "params": "" if r["params"] is None else format_count(r["params"]),
            "MACs": "" if r["macs"] is None else format_count(r["macs"]), "resolution": fixed(r["resolution"], 0),
            "latency ms": fixed(r["latency_ms"], 2), "epochs": epochs, "train time": format_seconds(r["train_seconds"]),
        })
    return pd.DataFrame(rows)
