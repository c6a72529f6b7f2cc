"""The grid's ledger (``grid.jsonl``), its rows (``grid.csv``) and the selection, all on the driver.

A small Tune callback appends every trial start, per-epoch result, completion and error to
``DIR/grid.jsonl`` (one short line per write, so a kill loses at most that line); ``grid.csv`` is
rebuilt from it after each point. The ledger's first line is the run's settings fingerprint: a
folder is only resumed with the same settings (:func:`effsearch.runtime.fingerprint.check_same`).
Should Tune's own snapshot lag behind (a hard kill), the points recorded as done here are handed to
the trainables, which replay them instead of training again.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import spec_to_dict
from effsearch.compound.grid import GridPoint
from effsearch.compound.plan import SAME_NETWORK, GridPlan, over_budget_reason
from effsearch.errors import EffsearchError
from effsearch.runtime.fingerprint import check_same

LEDGER = "grid.jsonl"


TUNE_DIR = "tune"


GRID_COLUMNS = (
    "alpha", "beta", "gamma", "flops_ratio", "accuracy", "macs", "params", "status", "reason",
    "train_seconds", "selected", "index", "epochs", "resolution", "proxy_resolution", "attempts",
    "seeds", "accuracy_sd",
)


def read_ledger(path: str | Path) -> list[dict[str, Any]]:
    """Events of ``grid.jsonl``; a torn last line (a hard kill mid-write) is ignored."""
    path = Path(path)
    if not path.is_file():
        return []
    events = []
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def append_event(path: Path, event: dict[str, Any]) -> None:
    # One short line per write with O_APPEND, flushed at once, so a kill loses at most that line.
    with path.open("a") as fh:
        fh.write(json.dumps({**event, "time": round(time.time(), 3)}, default=str) + "\n")


def finished_points(events: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The last ``done`` record of each point (what a resumed grid replays instead of training)."""
    return {int(e["index"]): e for e in events if e.get("event") == "done"}


def finished_seeds(events: Sequence[dict[str, Any]]) -> dict[int, dict[int, dict[str, Any]]]:
    """Each point's seeds that finished well (``seed`` events), so an interrupted point resumes from the next seed."""
    out: dict[int, dict[int, dict[str, Any]]] = {}
    for e in events:
        if e.get("event") == "seed" and e.get("status") == "ok":
            out.setdefault(int(e["index"]), {})[int(e["seed"])] = e
    return out


def attempts(events: Sequence[dict[str, Any]]) -> dict[int, int]:
    """How many times each point's training was started (retries and resumes included)."""
    out: dict[int, int] = {}
    for e in events:
        if e.get("event") == "start":
            out[int(e["index"])] = out.get(int(e["index"]), 0) + 1
    return out


def ledger_callback(path: Path, points: Sequence[GridPoint], epochs: int, on_point: Callable[[dict], None] | None,
                    budget: float | None = None):
    from ray.tune import Callback

    class GridLedger(Callback):
        """Appends trial starts, completions and errors to ``grid.jsonl`` and refreshes ``grid.csv``."""

        def __init__(self) -> None:
            self.curves: dict[str, list[float]] = {}
            self.closed: set[str] = set()
            self.on_point = on_point

        def __getstate__(self) -> dict[str, Any]:
            # Tune pickles callbacks into tuner.pkl; a console-printing hook need not (or cannot) go with them.
            return {**self.__dict__, "on_point": None}

        def on_trial_start(self, iteration, trials, trial, **info) -> None:
            self.curves[trial.trial_id] = []
            self.closed.discard(trial.trial_id)
            append_event(path, {"event": "start", "index": trial.config["point"]["index"], "trial_id": trial.trial_id})

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
            if result.get("seed_done") is not None:
                # One seed of a several-seed point: kept so that a resumed grid does not train it again.
                keep = ("index", "accuracy", "loss", "status", "reason", "train_seconds", "epoch", "device")
                append_event(path, {"event": "seed", "seed": int(result["seed_done"]), "trial_id": trial.trial_id,
                                    **{k: result.get(k) for k in keep}})
                return
            curve = self.curves.setdefault(trial.trial_id, [])
            if int(result.get("epoch", 0)) <= len(curve):
                curve.clear()  # the trial restarted from scratch (a retry)
            curve.append(float(result.get("accuracy", 0.0)))
            if result.get("final"):
                self._done(trial, result, status=result.get("status") or "ok")

        def on_trial_complete(self, iteration, trials, trial, **info) -> None:
            if trial.trial_id not in self.closed and trial.last_result:
                # Stopped by the scheduler before its last epoch: keep how far it got.
                self._done(trial, trial.last_result, status="stopped")

        def on_trial_error(self, iteration, trials, trial, **info) -> None:
            reason = _error_line(trial)
            append_event(path, {"event": "error", "index": trial.config["point"]["index"], "trial_id": trial.trial_id, "reason": reason})
            self._refresh()

        def _done(self, trial, result: dict, status: str) -> None:
            self.closed.add(trial.trial_id)
            keep = ("index", "alpha", "beta", "gamma", "accuracy", "loss", "reason", "train_seconds", "epoch",
                    "macs", "params", "resolution", "proxy_resolution", "device", "replayed", "accuracy_sd", "seed_accuracies")
            record = {k: result.get(k) for k in keep}
            record.update(event="done", status=status, curve=self.curves.get(trial.trial_id, []), trial_id=trial.trial_id)
            append_event(path, record)
            self._refresh()
            if self.on_point is not None:
                self.on_point(record)

        def _refresh(self) -> None:
            write_grid_csv(path.parent, grid_rows(points, read_ledger(path), epochs, budget))

    return GridLedger()


def _error_line(trial: Any) -> str:
    """The last line of a failed trial's traceback (Tune keeps the whole of it in the trial folder)."""
    text = ""
    try:
        # The trial's local error file is written before Tune syncs it to storage, where get_error() reads.
        local = trial.error_file
        text = Path(local).read_text() if local and Path(local).is_file() else str(trial.get_error() or "")
    except Exception:
        text = ""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "trial raised an error (see tune/ for the traceback)"


def grid_rows(points: Sequence[GridPoint], events: Sequence[dict[str, Any]], epochs: int,
              budget: float | None = None) -> list[dict[str, Any]]:
    """One ``grid.csv`` row per point; points never run are ``pending``; the selected one is marked.

    The ledger's plan (:mod:`effsearch.compound.plan`) makes the points it left out ``skipped`` and
    gives a point that shares another's network that point's result. With ``budget`` (see
    :func:`select_best`), a trained point whose counted MACs are over it says so in ``reason``,
    since that is why a more accurate point was not selected. A point trained before the plan said
    to skip it (a grid begun by an earlier version) keeps its training.
    """
    done = finished_points(events)
    errors = {int(e["index"]): e for e in events if e.get("event") == "error"}
    tries = attempts(events)
    plan = GridPlan.from_events(events) or GridPlan(train=tuple(p.index for p in points))
    rows = [_row(p, done.get(p.index), errors.get(p.index), tries.get(p.index, 0), epochs) for p in points]
    by_index = {r["index"]: r for r in rows}
    for row in rows:
        i = row["index"]
        if i in done or i in errors:
            continue
        if i in plan.skipped:
            row.update({**plan.counted.get(i, {}), "status": "skipped", "reason": plan.skipped[i]})
        elif i in plan.same_as and by_index.get(plan.same_as[i], {}).get("status") != "pending":
            twin = by_index[plan.same_as[i]]
            keep = ("accuracy", "macs", "params", "status", "epochs", "resolution", "proxy_resolution", "seeds", "accuracy_sd")
            row.update({**{k: twin[k] for k in keep}, "train_seconds": 0.0, "reason": f"{SAME_NETWORK} {twin['index']} (trained once)"})
    best = select_best(rows, budget)
    for row in rows:
        row["selected"] = best is not None and row["index"] == best
        if budget and row["status"] == "ok" and row["macs"] is not None and float(row["macs"]) > budget and not row["reason"]:
            row["reason"] = over_budget_reason(float(row["macs"]), budget)
    return rows


def _row(point: GridPoint, done: dict | None, error: dict | None, tries: int, epochs: int) -> dict[str, Any]:
    row: dict[str, Any] = {k: None for k in GRID_COLUMNS}
    row.update(alpha=point.alpha, beta=point.beta, gamma=point.gamma, flops_ratio=round(point.flops_ratio, 6),
               index=point.index, attempts=tries, status="pending", selected=False)
    if done is not None:
        row.update({k: done.get(k) for k in ("accuracy", "macs", "params", "reason", "train_seconds", "resolution", "proxy_resolution",
                                             "accuracy_sd")})
        row["seeds"] = len(done.get("seed_accuracies") or ()) or 1
        row["epochs"] = done.get("epoch")
        status = done.get("status") or "ok"
        row["status"] = "stopped" if status == "ok" and (row["epochs"] or 0) < epochs else status
        if row["status"] == "failed":
            row["accuracy"] = None  # the 0 reported to Tune only kept ASHA comparable; it is no measurement
    elif error is not None:
        row.update(status="failed", reason=error.get("reason"))
    return row


def select_best(rows: Sequence[dict[str, Any]], budget: float | None = None) -> int | None:
    """Index of the best fully trained point: highest proxy accuracy, ties to fewer MACs, then lower index.

    ``budget`` caps the counted MACs a point may have (:func:`grid_budget`). The constraint on
    alpha * beta^2 * gamma^2 is on the multipliers; rounding channels and whole layers moves the
    networks' counted MACs well off it (ResNet-18 x0.25 at step 0.1: 1.81-3.00x for ratios of
    1.90-2.09), and ranked on accuracy alone the grid picks the point that rounding gave the most
    MACs. If no point is within the budget, the cheapest ones compete.
    """
    ok = [r for r in rows if r["status"] == "ok" and r["accuracy"] is not None]
    if not ok:
        return None
    counted = [r for r in ok if r["macs"] is not None] if budget else []
    if counted:
        within = [r for r in counted if float(r["macs"]) <= budget]
        cheapest = min(float(r["macs"]) for r in counted)
        ok = within or [r for r in counted if float(r["macs"]) == cheapest]
    return min(ok, key=lambda r: (-float(r["accuracy"]), int(r["macs"]), int(r["index"])))["index"]


def grid_budget(baseline: NetSpec, points: Sequence[GridPoint]) -> float:
    """The most MACs a point may count at phi = 1: the baseline's times the largest ratio the grid allows."""
    from effsearch.arch.cost import count

    return count(baseline).macs * max(p.flops_ratio for p in points) * (1 + 1e-9)


def write_grid_csv(folder: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    import pandas as pd

    from effsearch.runtime.results import atomic_write_csv

    return atomic_write_csv(Path(folder) / "grid.csv", pd.DataFrame(list(rows), columns=list(GRID_COLUMNS)))


def _plain(value: Any) -> Any:
    """JSON-safe view of settings (dataclasses, tuples, paths) for the resume check."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if value is None or isinstance(value, (bool, int, float, str)) else str(value)


def grid_settings(baseline: NetSpec, points: Sequence[GridPoint], proxy: Any, *, seed: int, dataset: str,
                  resolution_multiple: int, scheduler: str, dropped_strides: int, seeds: int = 1) -> dict[str, Any]:
    """What makes two grid runs the same experiment (a folder is only resumed with equal settings).

    ``seeds`` is recorded only when above 1, so a one-seed grid's fingerprint is what it always was.
    """
    return {
        **({"seeds": seeds} if seeds > 1 else {}),
        "dropped_strides": dropped_strides,
        "baseline": spec_to_dict(baseline),
        "points": [[p.alpha, p.beta, p.gamma] for p in points],
        "proxy": _plain(proxy),
        "seed": seed,
        "dataset": dataset,
        "resolution_multiple": resolution_multiple,
        "scheduler": scheduler,
    }


def check_folder(folder: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of an earlier run in ``folder`` (empty for a new one); refuses a folder run with other settings."""
    path = folder / LEDGER
    events = read_ledger(path)
    previous = next((e["settings"] for e in events if e.get("event") == "settings"), None)
    if previous is None:
        if (folder / TUNE_DIR).exists():
            raise EffsearchError(f"{folder / TUNE_DIR} exists but {path} does not; use a new results folder")
        folder.mkdir(parents=True, exist_ok=True)
        append_event(path, {"event": "settings", "settings": settings})
        return []
    if "points" in settings and previous.get("points") != settings["points"]:
        raise EffsearchError(f"the grid in {folder} has {len(previous.get('points') or [])} points, this run "
                             f"{len(settings['points'])} (or other ones); repeat the original grid settings to resume "
                             "it, or use another results folder")
    check_same(previous, settings, what=f"the grid in {folder}")
    return events
