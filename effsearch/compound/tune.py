"""The compound grid on Ray Tune: one trial per (alpha, beta, gamma), trained on the proxy at phi = 1.

What runs where:

* the trainable (:mod:`effsearch.compound.trainable`) is a plain function of a Tune config;
* the driver (:func:`run_grid`) owns the results folder: Tune's own state lives in ``DIR/tune``
  (``RunConfig(storage_path=DIR)``) and the ledger (:mod:`effsearch.compound.ledger`) in
  ``DIR/grid.jsonl``. Both are written on the driver, so this works the same on a local cluster and
  on a remote one (``ray_address``); the Ray session is :func:`effsearch.runtime.cluster.ray_session`.

Resuming: running again on the same folder calls ``Tuner.restore``; Tune never re-runs a finished
trial. Stopping: a requested stop (:mod:`effsearch.runtime.stop`) ends the run the way Tune's own
Ctrl-C does (unfinished points stay resumable); the result then says it is incomplete.

``scheduler="asha"`` stops poor points early: the proxy calls back after each epoch and every epoch
is reported, so ASHA compares points at equal epochs (``time_attr="epoch"``).
"""

from __future__ import annotations

import os
import signal
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effsearch.arch.scaling import RESOLUTION_MULTIPLE
from effsearch.arch.spec import NetSpec
from effsearch.compound.grid import GridPoint
from effsearch.compound.ledger import (
    GRID_COLUMNS,
    LEDGER,
    TUNE_DIR,
    append_event,
    check_folder,
    finished_points,
    finished_seeds,
    grid_budget,
    grid_rows,
    grid_settings,
    ledger_callback,
    read_ledger,
    select_best,
    write_grid_csv,
)
from effsearch.compound.plan import plan_grid
from effsearch.compound.settings import TuneSettings
from effsearch.compound.trainable import TrainFn, accepts_on_epoch, default_train_fn, epoch_budget, evaluate_point
from effsearch.engine.adapt import MIN_FEATURE, dropped_strides
from effsearch.errors import EffsearchError
from effsearch.runtime import stop
from effsearch.runtime.cluster import ray_session

if TYPE_CHECKING:
    import pandas as pd

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
           on_point: Callable[[dict], None] | None, budget: float | None = None, train: Sequence[int] | None = None):
    from ray import tune

    path = folder / TUNE_DIR
    ledger = ledger_callback(folder / LEDGER, points, epochs, on_point, budget)
    if tune.Tuner.can_restore(str(path)):
        # Finished trials are kept as they are; unfinished and errored ones run again from scratch.
        tuner = tune.Tuner.restore(str(path), trainable=trainable, resume_unfinished=True, restart_errored=True)
        _replace_callbacks(tuner, [ledger, *callbacks])
        return tuner
    return tune.Tuner(
        trainable,
        param_space={"point": tune.grid_search([p.as_dict() for p in points if train is None or p.index in train])},
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


def _resolved(proxy: Any, settings: TuneSettings) -> Any:
    """The proxy config each point trains with, made concrete (and recorded in the fingerprint)."""
    from effsearch.engine import ProxyConfig
    from effsearch.engine.device import concrete_runtime

    if not isinstance(proxy, ProxyConfig):
        return proxy
    return concrete_runtime(proxy, threads=max(1, int(settings.cpus_per_trial)),
                            device="cuda" if settings.gpus_per_trial > 0 else None)


def _stop_callback() -> Any:
    """A Tune callback that ends the run when a stop is requested, the way Tune's own Ctrl-C does.

    SIGUSR1 is Tune's "stop gracefully" signal: it saves the experiment and leaves unfinished points
    resumable. It is raised from inside Tune's loop, where Tune's handler for it is installed.
    """
    from ray.tune import Callback

    class StopOnRequest(Callback):
        def on_step_begin(self, iteration, trials, **info) -> None:
            if stop.requested() and not getattr(self, "sent", False):
                self.sent = True
                signal.raise_signal(signal.SIGUSR1)

    return StopOnRequest()


@contextmanager
def _stop_gracefully() -> Iterator[None]:
    """While our signal handlers are active (the CLI), keep Tune from replacing the Ctrl-C one."""
    if not stop.handling_signals():
        yield
        return
    old = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = old


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
    on_start: Callable[[], None] | None = None,
    seeds: int = 1,
) -> GridResult:
    """Train every grid point at phi = 1 on the proxy through Ray Tune; resumes ``folder`` if it holds this grid.

    ``data`` is a loaded :class:`effsearch.data.Dataset` and ``proxy`` a :class:`effsearch.proxy.ProxyConfig`
    (its ``resolution``, or the data's image size, is the proxy input at phi = 0). ``callbacks`` are extra
    Tune callbacks; ``on_point(record)`` is called on the driver as each point finishes; ``train_fn``
    replaces the proxy trainer (same signature, plus ``on_epoch``); ``on_start()`` once every check has
    passed, before Ray starts; ``seeds`` trains each point with seeds ``seed`` upwards and ranks points
    on their mean (FIFO only: ASHA compares points epoch by epoch within one training). Returns every
    point's row (also written to ``folder/grid.csv``) and the selection.
    """
    from ray import tune

    settings = settings or TuneSettings()
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise EffsearchError(f"the grid's seeds per point must be a whole number >= 1, not {seeds!r}")
    if seeds > 1 and settings.scheduler == "asha":
        raise EffsearchError(f"the grid trains a point's {seeds} seeds one after another, so ASHA cannot compare points "
                             "epoch by epoch; use the fifo scheduler with several seeds, or one seed with ASHA")
    folder = Path(folder).resolve()
    proxy = _resolved(proxy, settings)
    epochs = epoch_budget(proxy)
    base_res = int(getattr(proxy, "resolution", None) or data.default_resolution)
    fingerprint = grid_settings(baseline, points, proxy, seed=seed, dataset=str(getattr(data, "name", "")),
                                resolution_multiple=resolution_multiple, scheduler=settings.scheduler,
                                dropped_strides=dropped_strides(baseline, base_res, getattr(proxy, "min_feature", MIN_FEATURE)),
                                seeds=seeds)
    events = check_folder(folder, fingerprint)
    budget = grid_budget(baseline, points)
    plan = plan_grid(baseline, points, budget, base_resolution=base_res, resolution_multiple=resolution_multiple)
    if settings.scheduler == "asha" and not accepts_on_epoch(train_fn or default_train_fn()):
        warnings.warn("the proxy trainer does not report after each epoch, so ASHA can only stop points at the end "
                      "(no savings); use the fifo scheduler", stacklevel=2)
    trainable = tune.with_resources(
        tune.with_parameters(
            evaluate_point, baseline=baseline, data=data, proxy=proxy, seed=seed, base_resolution=base_res,
            resolution_multiple=resolution_multiple, known=finished_points(events),
            threads=max(1, int(settings.cpus_per_trial)), train_fn=train_fn, report_epochs=settings.scheduler == "asha",
            seeds=seeds, known_seeds=finished_seeds(events),
        ),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial},
    )
    append_event(folder / LEDGER, plan.event())
    if on_start is not None:
        on_start()
    with ray_session(num_cpus=settings.num_cpus, address=settings.ray_address, verbose=settings.verbose), \
            _quiet(settings.verbose), _stop_gracefully():
        _tuner(trainable, points, folder, settings, epochs, [*callbacks, _stop_callback()], on_point, budget, plan.train).fit()
    rows = grid_rows(points, read_ledger(folder / LEDGER), epochs, budget)
    write_grid_csv(folder, rows)
    best = select_best(rows, budget)
    complete = all(r["status"] != "pending" for r in rows)
    chosen = next((p for p in points if p.index == best), None)  # a point's index is its own, not its place in the list
    return GridResult(rows, chosen, complete, folder)
