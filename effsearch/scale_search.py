"""The compound grid on Ray Tune: one trial per (alpha, beta, gamma), trained on the proxy at phi = 1.

Each trial scales the baseline to phi = 1 with :func:`effsearch.scaling.compound_scale` (depth alpha,
width beta, deployment resolution base * gamma) and trains it on the proxy task with the proxy input
resized by gamma too, so the resolution coefficient changes what the proxy sees, not only the MACs.
It reports proxy accuracy, MACs and params (MACs at the deployment resolution, as everywhere).

What runs where:

* the trainable :func:`evaluate_point` is a plain function of a Tune config; it imports the proxy
  trainer, which itself knows nothing of Ray;
* the driver (:func:`run_grid`) owns the results folder: Tune's own state lives in ``DIR/tune``
  (``RunConfig(storage_path=DIR)``), and a small Tune callback appends every trial start, per-epoch
  result, completion and error to ``DIR/grid.jsonl``. Both are written on the driver, so this works
  the same on a local cluster and on a remote one (``ray_address``).

Resuming: running again on the same folder calls ``Tuner.restore``; Tune never re-runs a finished
trial. Should Tune's periodic snapshot lag behind (a hard kill), the points already recorded as done
in ``grid.jsonl`` are handed to the trainables, which replay them instead of training again.

``scheduler="asha"`` stops poor points early: the proxy calls back after each epoch and every epoch
is reported, so ASHA compares points at equal epochs (``time_attr="epoch"``).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effsearch.cost import count
from effsearch.errors import EffsearchError
from effsearch.grid import GridPoint
from effsearch.scaling import RESOLUTION_MULTIPLE, compound_scale, proxy_resolution
from effsearch.spec import NetSpec
from effsearch.specio import spec_to_dict

if TYPE_CHECKING:
    import pandas as pd

SCHEDULERS = ("fifo", "asha")
LEDGER = "grid.jsonl"
TUNE_DIR = "tune"
TrainFn = Callable[..., dict]
"""``train_fn(spec, data, proxy_config, *, seed, on_epoch) -> metrics``; default ``effsearch.proxy.train_and_evaluate``."""
GRID_COLUMNS = (
    "alpha", "beta", "gamma", "flops_ratio", "accuracy", "macs", "params", "status", "reason",
    "train_seconds", "selected", "index", "epochs", "resolution", "proxy_resolution", "attempts",
)


@dataclass(frozen=True, kw_only=True)
class TuneSettings:
    """Where and how the grid runs (what to search is the grid; how to train is the ProxyConfig)."""

    scheduler: str = "fifo"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    max_concurrent: int | None = None
    ray_address: str | None = None
    num_cpus: int | None = None
    grace_period: int = 1
    reduction_factor: float = 3.0
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.scheduler not in SCHEDULERS:
            raise EffsearchError(f"scheduler {self.scheduler!r} is unknown; use one of {', '.join(SCHEDULERS)}")
        if not _positive(self.cpus_per_trial):
            raise EffsearchError(f"cpus per trial {self.cpus_per_trial!r} is invalid; use a positive number")
        if not _number(self.gpus_per_trial) or self.gpus_per_trial < 0:
            raise EffsearchError(f"gpus per trial {self.gpus_per_trial!r} is invalid; use a number >= 0")
        for name, lo in (("max_failures", 0), ("grace_period", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise EffsearchError(f"{name.replace('_', ' ')} {value!r} is invalid; use a whole number >= {lo}")
        for name in ("max_concurrent", "num_cpus"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise EffsearchError(f"{name.replace('_', ' ')} {value!r} is invalid; use a whole number >= 1")
        if not _number(self.reduction_factor) or self.reduction_factor <= 1:
            raise EffsearchError(f"ASHA reduction factor {self.reduction_factor!r} is invalid; use a number > 1, e.g. 3")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: object) -> bool:
    return _number(value) and value > 0


@dataclass(frozen=True)
class GridResult:
    """The finished (or interrupted) grid: one row per point, and the selected point if any."""

    rows: list[dict[str, Any]]
    best: GridPoint | None
    complete: bool
    folder: Path

    def frame(self) -> pd.DataFrame:
        """The rows as ``grid.csv`` has them."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(GRID_COLUMNS))


# --------------------------------------------------------------------------- the trainable


def phi1_spec(baseline: NetSpec, point: GridPoint | dict, resolution_multiple: int = RESOLUTION_MULTIPLE) -> NetSpec:
    """The baseline scaled by one step of (alpha, beta, gamma): what each grid trial trains."""
    a, b, g = (point[k] if isinstance(point, dict) else getattr(point, k) for k in ("alpha", "beta", "gamma"))
    return compound_scale(baseline, alpha=a, beta=b, gamma=g, phi=1, resolution_multiple=resolution_multiple)


def evaluate_point(
    config: dict[str, Any],
    *,
    baseline: NetSpec,
    data: Any,
    proxy: Any,
    seed: int,
    base_resolution: int,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    known: dict[int, dict[str, Any]] | None = None,
    threads: int = 1,
    train_fn: TrainFn | None = None,
    report_epochs: bool = False,
) -> None:
    """Tune trainable for one grid point; ``known`` holds points finished in an earlier attempt.

    ``report_epochs`` reports every epoch (what ASHA needs); it costs one validation pass per epoch,
    so the FIFO grid does without it.
    """
    from ray import tune

    point = config["point"]
    spec = phi1_spec(baseline, point, resolution_multiple)
    cost = count(spec)
    fixed = {
        "index": point["index"], "alpha": point["alpha"], "beta": point["beta"], "gamma": point["gamma"],
        "macs": cost.macs, "params": cost.params, "resolution": spec.resolution,
        "proxy_resolution": proxy_resolution(base_resolution, point["gamma"]),
    }
    if known and point["index"] in known:
        _replay(known[point["index"]], fixed, tune.report)
        return
    _train_and_report(spec, data, proxy, seed, fixed, threads, tune.report, train_fn, report_epochs)


def epoch_budget(proxy: Any) -> int:
    """Whole epochs each point trains: ASHA's ``max_t`` and what makes a point ``ok`` rather than ``stopped``."""
    epochs = getattr(proxy, "epochs", None)
    if not isinstance(epochs, (int, float)) or isinstance(epochs, bool) or epochs <= 0:
        raise EffsearchError("the grid needs an epoch budget for each point; give --epochs (e.g. --epochs 4)")
    return max(1, math.ceil(epochs - 1e-9))


def accepts_on_epoch(train_fn: Callable[..., Any]) -> bool:
    """Whether the trainer calls back after each epoch (needed for ASHA to stop points early)."""
    try:
        params = inspect.signature(train_fn).parameters
    except (TypeError, ValueError):
        return False
    return "on_epoch" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _default_train_fn() -> TrainFn:
    from effsearch.proxy import train_and_evaluate

    return train_and_evaluate


def _replay(record: dict[str, Any], fixed: dict[str, Any], report: Callable[[dict], None]) -> None:
    """Report a point finished in an earlier attempt exactly as it was, epoch by epoch, without training."""
    curve = list(record.get("curve") or [])
    for epoch, accuracy in enumerate(curve[:-1], start=1):
        report({**fixed, "epoch": epoch, "accuracy": accuracy, "final": False, "replayed": True})
    final = {k: record.get(k) for k in ("accuracy", "loss", "status", "reason", "train_seconds", "epoch", "device")}
    report({**fixed, **final, "final": True, "replayed": True})


def _train_and_report(spec: NetSpec, data: Any, proxy: Any, seed: int, fixed: dict, threads: int, report: Callable,
                      train_fn: TrainFn | None, report_epochs: bool) -> None:
    import torch

    train_fn = train_fn or _default_train_fn()
    torch.set_num_threads(max(1, threads))
    config = dataclasses.replace(proxy, resolution=fixed["proxy_resolution"])
    epochs = epoch_budget(config)
    start = time.perf_counter()

    def on_epoch(epoch: int, metrics: dict[str, Any]) -> None:
        # The last epoch is reported once, below, with the final metrics, so 'epoch' stays monotonic.
        if epoch < epochs:
            report({**fixed, "epoch": epoch, "accuracy": float(metrics.get("accuracy") or 0.0), "final": False,
                    "train_seconds": time.perf_counter() - start})

    if report_epochs and accepts_on_epoch(train_fn):
        metrics = train_fn(spec, data, config, seed=seed, on_epoch=on_epoch)
    else:
        metrics = train_fn(spec, data, config, seed=seed)
    accuracy = metrics.get("accuracy")
    ok = metrics.get("status") == "ok" and isinstance(accuracy, (int, float)) and math.isfinite(accuracy)
    report({
        **fixed, "epoch": epochs, "final": True,
        # ASHA and the selection need a number: a failed point scores 0 and is never selected.
        "accuracy": float(accuracy) if ok else 0.0,
        "loss": metrics.get("loss"), "status": "ok" if ok else "failed",
        "reason": None if ok else str(metrics.get("reason") or f"no usable accuracy ({accuracy!r})"),
        # Wall time in the trainer (training and any per-epoch validation), as in the per-epoch reports,
        # so full and early-stopped points are charged alike.
        "train_seconds": time.perf_counter() - start, "device": metrics.get("device"),
    })


# --------------------------------------------------------------------------- the ledger (driver side)


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


def _append(path: Path, event: dict[str, Any]) -> None:
    # One short line per write with O_APPEND, flushed at once, so a kill loses at most that line.
    with path.open("a") as fh:
        fh.write(json.dumps({**event, "time": round(time.time(), 3)}, default=str) + "\n")


def finished_points(events: Sequence[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """The last ``done`` record of each point (what a resumed grid replays instead of training)."""
    return {int(e["index"]): e for e in events if e.get("event") == "done"}


def attempts(events: Sequence[dict[str, Any]]) -> dict[int, int]:
    """How many times each point's training was started (retries and resumes included)."""
    out: dict[int, int] = {}
    for e in events:
        if e.get("event") == "start":
            out[int(e["index"])] = out.get(int(e["index"]), 0) + 1
    return out


def _ledger_callback(path: Path, points: Sequence[GridPoint], epochs: int, on_point: Callable[[dict], None] | None):
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
            _append(path, {"event": "start", "index": trial.config["point"]["index"], "trial_id": trial.trial_id})

        def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
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
            _append(path, {"event": "error", "index": trial.config["point"]["index"], "trial_id": trial.trial_id, "reason": reason})
            self._refresh()

        def _done(self, trial, result: dict, status: str) -> None:
            self.closed.add(trial.trial_id)
            keep = ("index", "alpha", "beta", "gamma", "accuracy", "loss", "reason", "train_seconds", "epoch",
                    "macs", "params", "resolution", "proxy_resolution", "device", "replayed")
            record = {k: result.get(k) for k in keep}
            record.update(event="done", status=status, curve=self.curves.get(trial.trial_id, []), trial_id=trial.trial_id)
            _append(path, record)
            self._refresh()
            if self.on_point is not None:
                self.on_point(record)

        def _refresh(self) -> None:
            write_grid_csv(path.parent, grid_rows(points, read_ledger(path), epochs))

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


# --------------------------------------------------------------------------- rows and selection


def grid_rows(points: Sequence[GridPoint], events: Sequence[dict[str, Any]], epochs: int) -> list[dict[str, Any]]:
    """One ``grid.csv`` row per point; points never run are ``pending``; the selected one is marked."""
    done = finished_points(events)
    errors = {int(e["index"]): e for e in events if e.get("event") == "error"}
    tries = attempts(events)
    rows = [_row(p, done.get(p.index), errors.get(p.index), tries.get(p.index, 0), epochs) for p in points]
    best = select_best(rows)
    for row in rows:
        row["selected"] = best is not None and row["index"] == best
    return rows


def _row(point: GridPoint, done: dict | None, error: dict | None, tries: int, epochs: int) -> dict[str, Any]:
    row: dict[str, Any] = {k: None for k in GRID_COLUMNS}
    row.update(alpha=point.alpha, beta=point.beta, gamma=point.gamma, flops_ratio=round(point.flops_ratio, 6),
               index=point.index, attempts=tries, status="pending", selected=False)
    if done is not None:
        row.update({k: done.get(k) for k in ("accuracy", "macs", "params", "reason", "train_seconds", "resolution", "proxy_resolution")})
        row["epochs"] = done.get("epoch")
        status = done.get("status") or "ok"
        row["status"] = "stopped" if status == "ok" and (row["epochs"] or 0) < epochs else status
        if row["status"] == "failed":
            row["accuracy"] = None  # the 0 reported to Tune only kept ASHA comparable; it is no measurement
    elif error is not None:
        row.update(status="failed", reason=error.get("reason"))
    return row


def select_best(rows: Sequence[dict[str, Any]]) -> int | None:
    """Index of the best fully trained point: highest proxy accuracy, ties to fewer MACs, then lower index."""
    ok = [r for r in rows if r["status"] == "ok" and r["accuracy"] is not None]
    if not ok:
        return None
    return min(ok, key=lambda r: (-float(r["accuracy"]), int(r["macs"]), int(r["index"])))["index"]


def write_grid_csv(folder: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    import pandas as pd

    from effsearch.results import atomic_write_csv

    return atomic_write_csv(Path(folder) / "grid.csv", pd.DataFrame(list(rows), columns=list(GRID_COLUMNS)))


# --------------------------------------------------------------------------- the driver


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
                  resolution_multiple: int, scheduler: str) -> dict[str, Any]:
    """What makes two grid runs the same experiment (a folder is only resumed with equal settings)."""
    return {
        "baseline": spec_to_dict(baseline),
        "points": [[p.alpha, p.beta, p.gamma] for p in points],
        "proxy": _plain(proxy),
        "seed": seed,
        "dataset": dataset,
        "resolution_multiple": resolution_multiple,
        "scheduler": scheduler,
    }


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    for key in new:
        if old.get(key) != new[key]:
            if key == "points":
                return f"the grid ({len(old.get(key) or [])} points -> {len(new[key])})"
            if isinstance(new[key], dict) and isinstance(old.get(key), dict):
                inner = [k for k in new[key] if old[key].get(k) != new[key][k]]
                if inner:
                    return f"{key}.{inner[0]} ({old[key].get(inner[0])!r} -> {new[key][inner[0]]!r})"
            return f"{key} ({old.get(key)!r} -> {new[key]!r})"
    return "the settings"


def check_folder(folder: Path, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Events of an earlier run in ``folder`` (empty for a new one); refuses a folder run with other settings."""
    path = folder / LEDGER
    events = read_ledger(path)
    previous = next((e["settings"] for e in events if e.get("event") == "settings"), None)
    if previous is None:
        if (folder / TUNE_DIR).exists():
            raise EffsearchError(f"{folder / TUNE_DIR} exists but {path} does not; use a new --out folder")
        folder.mkdir(parents=True, exist_ok=True)
        _append(path, {"event": "settings", "settings": settings})
        return []
    if previous != settings:
        raise EffsearchError(
            f"{folder} holds a grid run with different settings: {_first_difference(previous, settings)}; "
            "re-run with the original options to resume it, or use a new --out folder"
        )
    return events


@contextmanager
def ray_session(settings: TuneSettings) -> Iterator[None]:
    """Use the running Ray (tests, notebooks), connect to ``ray_address``, or start a local one and stop it after."""
    import ray

    if ray.is_initialized():
        yield
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": settings.verbose, "configure_logging": False}
    if settings.ray_address:
        kwargs["address"] = settings.ray_address
    else:
        kwargs["num_cpus"] = settings.num_cpus
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = settings.ray_address or "a local cluster"
        raise EffsearchError(f"cannot start Ray on {where}: {str(exc).splitlines()[0]}; check --ray-address (e.g. ray://host:10001 or auto)") from None
    try:
        yield
    finally:
        ray.shutdown()


def _scheduler(settings: TuneSettings, epochs: int):
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if settings.scheduler == "fifo":
        return FIFOScheduler()
    # Rungs at grace * rf^k epochs; 'epoch' (not training_iteration) so replayed points count the same.
    return ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=min(settings.grace_period, epochs),
                         reduction_factor=settings.reduction_factor)


def trial_name(trial: Any) -> str:
    """``point_0007``: trial folders under ``tune/`` named by grid index."""
    return f"point_{int(trial.config['point']['index']):04d}"


def _tuner(trainable: Any, points: Sequence[GridPoint], folder: Path, settings: TuneSettings, epochs: int, callbacks: Sequence[Any],
           on_point: Callable[[dict], None] | None):
    from ray import tune

    path = folder / TUNE_DIR
    ledger = _ledger_callback(folder / LEDGER, points, epochs, on_point)
    if tune.Tuner.can_restore(str(path)):
        # Finished trials are kept as they are; unfinished and errored ones run again from scratch.
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, restart_errored=True)
        _replace_callbacks(tuner, [ledger, *callbacks])
        return tuner
    return tune.Tuner(
        trainable,
        param_space={"point": tune.grid_search([p.as_dict() for p in points])},
        tune_config=tune.TuneConfig(
            metric="accuracy", mode="max", scheduler=_scheduler(settings, epochs),
            max_concurrent_trials=settings.max_concurrent, trial_name_creator=trial_name, trial_dirname_creator=trial_name,
            # Reusing a worker between points saves seconds of actor start-up per point on small proxies.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR, storage_path=str(folder), verbose=0, callbacks=[ledger, *callbacks],
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        ),
    )


def _replace_callbacks(tuner: Any, callbacks: list[Any]) -> None:
    """Use this run's callbacks, not the ones pickled with the interrupted run.

    Tune restores callbacks from ``tuner.pkl`` and has no public way to change them
    (ray-project/ray#41364); the run config it exposes internally is the documented workaround.
    """
    internal = getattr(tuner, "_local_tuner", None)
    run_config = internal.get_run_config() if internal is not None else None
    if run_config is not None:
        run_config.callbacks = callbacks


@contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Without ``verbose``, keep Tune's tables and per-trial warnings off the console (grid.jsonl has it all)."""
    if verbose:
        yield
        return
    import logging

    old_env = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    loggers = [logging.getLogger(n) for n in ("ray.tune", "ray.train", "ray.air")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
        if old_env is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = old_env


def run_grid(
    baseline: NetSpec,
    points: Sequence[GridPoint],
    *,
    data: Any,
    proxy: Any,
    folder: str | Path,
    settings: TuneSettings | None = None,
    seed: int = 0,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    callbacks: Sequence[Any] = (),
    train_fn: TrainFn | None = None,
    on_point: Callable[[dict], None] | None = None,
) -> GridResult:
    """Train every grid point at phi = 1 on the proxy through Ray Tune; resumes ``folder`` if it holds this grid.

    ``data`` is a loaded :class:`effsearch.data.Dataset` and ``proxy`` a :class:`effsearch.proxy.ProxyConfig`
    (its ``resolution``, or the data's image size, is the proxy input at phi = 0). ``callbacks`` are extra
    Tune callbacks; ``on_point(record)`` is called on the driver as each point finishes; ``train_fn``
    replaces the proxy trainer (same signature, plus ``on_epoch``). Returns every point's row (also written to ``folder/grid.csv``) and the selection.
    """
    from ray import tune

    settings = settings or TuneSettings()
    folder = Path(folder).resolve()
    epochs = epoch_budget(proxy)
    base_res = int(getattr(proxy, "resolution", None) or data.default_resolution)
    fingerprint = grid_settings(baseline, points, proxy, seed=seed, dataset=str(getattr(data, "name", "")),
                                resolution_multiple=resolution_multiple, scheduler=settings.scheduler)
    events = check_folder(folder, fingerprint)
    if settings.scheduler == "asha" and not accepts_on_epoch(train_fn or _default_train_fn()):
        warnings.warn("the proxy trainer does not report after each epoch, so ASHA can only stop points at the end "
                      "(no savings); use --scheduler fifo", stacklevel=2)
    trainable = tune.with_resources(
        tune.with_parameters(
            evaluate_point, baseline=baseline, data=data, proxy=proxy, seed=seed, base_resolution=base_res,
            resolution_multiple=resolution_multiple, known=finished_points(events),
            threads=max(1, int(settings.cpus_per_trial)), train_fn=train_fn, report_epochs=settings.scheduler == "asha",
        ),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
    )
    with ray_session(settings), _quiet(settings.verbose):
        _tuner(trainable, points, folder, settings, epochs, callbacks, on_point).fit()
    rows = grid_rows(points, read_ledger(folder / LEDGER), epochs)
    write_grid_csv(folder, rows)
    best = select_best(rows)
    complete = all(r["status"] != "pending" for r in rows)
    return GridResult(rows, points[best] if best is not None else None, complete, folder)
