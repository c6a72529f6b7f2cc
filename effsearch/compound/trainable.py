"""The Tune trainable: one grid point scaled to phi = 1, trained on the proxy, reported epoch by epoch.

Each point scales the baseline with :func:`effsearch.arch.scaling.compound_scale` (depth alpha,
width beta, deployment resolution base * gamma) and trains it with the proxy input resized by gamma
too, so the resolution coefficient changes what the proxy sees, not only the MACs. Every point drops
the early strides the baseline drops at the base side (:func:`effsearch.engine.adapt.dropped_strides`),
not the proxy's own count at its side: at 28 px the proxy drops the stem's stride and from 37 px on
keeps it, which would train a gamma >= 1.32 point with a quarter of the spatial positions and
penalise resolution for a reason that has nothing to do with it. It reports proxy
accuracy, MACs and params (MACs at the deployment resolution, as everywhere). A plain function of a
Tune config; the proxy trainer it calls knows nothing of Ray.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import statistics
import time
from collections.abc import Callable
from typing import Any

from effsearch.arch.cost import count
from effsearch.arch.scaling import RESOLUTION_MULTIPLE, compound_scale, proxy_resolution
from effsearch.arch.spec import NetSpec
from effsearch.compound.grid import GridPoint
from effsearch.engine.adapt import MIN_FEATURE, adapt_for_proxy, dropped_strides
from effsearch.engine.threads import thread_scope
from effsearch.errors import EffsearchError

TrainFn = Callable[..., dict]
"""``train_fn(spec, data, proxy_config, *, seed, on_epoch) -> metrics``; default ``effsearch.proxy.train_and_evaluate``."""


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
    seeds: int = 1,
    known_seeds: dict[int, dict[int, dict[str, Any]]] | None = None,
) -> None:
    """Tune trainable for one grid point; ``known`` holds points finished in an earlier attempt.

    ``report_epochs`` reports every epoch (what ASHA needs); it costs one validation pass per epoch,
    so the FIFO grid does without it. With ``seeds`` > 1 the point is trained with seeds ``seed``
    upwards, one after another, and scores the mean; each seed's result is reported as it finishes
    (``seed_done``), and ``known_seeds[index]`` holds the seeds an interrupted attempt finished.
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
    min_feature = getattr(proxy, "min_feature", MIN_FEATURE)
    drop = dropped_strides(baseline, base_resolution, min_feature)
    trained = adapt_for_proxy(spec, fixed["proxy_resolution"], num_classes=data.num_classes, in_chans=data.in_chans,
                              min_feature=min_feature, drop=drop)
    if seeds <= 1:
        tune.report(_train_once(trained, data, proxy, seed, fixed, threads, tune.report, train_fn, report_epochs))
        return
    done = (known_seeds or {}).get(point["index"], {})
    tune.report(_train_seeds(trained, data, proxy, range(seed, seed + seeds), fixed, threads, tune.report, train_fn, done))


def _train_seeds(spec: NetSpec, data: Any, proxy: Any, seeds: range, fixed: dict, threads: int, report: Callable,
                 train_fn: TrainFn | None, done: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Each seed in turn (those in ``done`` are not trained again); the final result is their mean.

    A seed that fails fails the point: a mean over the seeds that happened to converge would not be
    the same measurement as the other points'.
    """
    finals = []
    for s in seeds:
        final = done.get(s)
        if final is None:
            final = _train_once(spec, data, proxy, s, fixed, threads, report, train_fn, False)
            report({**final, "final": False, "seed_done": s})
        if final.get("status") != "ok":
            return {**final, "final": True, "reason": f"seed {s}: {final.get('reason')}"}
        finals.append(final)
    accuracies = [float(f["accuracy"]) for f in finals]
    losses = [float(f["loss"]) for f in finals if isinstance(f.get("loss"), (int, float))]
    return {
        **finals[-1], "final": True, "accuracy": statistics.fmean(accuracies), "accuracy_sd": statistics.stdev(accuracies),
        "seed_accuracies": accuracies, "loss": statistics.fmean(losses) if losses else None,
        # Charged as trained: seeds an earlier attempt finished count with their own seconds.
        "train_seconds": sum(float(f.get("train_seconds") or 0.0) for f in finals),
    }


def epoch_budget(proxy: Any) -> int:
    """Whole epochs each point trains: ASHA's ``max_t`` and what makes a point ``ok`` rather than ``stopped``."""
    epochs = getattr(proxy, "epochs", None)
    if not isinstance(epochs, (int, float)) or isinstance(epochs, bool) or epochs <= 0:
        raise EffsearchError("the grid needs an epoch budget for each point (proxy epochs, e.g. 4), not only steps or seconds")
    return max(1, math.ceil(epochs - 1e-9))


def accepts_on_epoch(train_fn: Callable[..., Any]) -> bool:
    """Whether the trainer calls back after each epoch (needed for ASHA to stop points early)."""
    try:
        params = inspect.signature(train_fn).parameters
    except (TypeError, ValueError):
        return False
    return "on_epoch" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def default_train_fn() -> TrainFn:
    from effsearch.proxy import train_and_evaluate

    return train_and_evaluate


def _replay(record: dict[str, Any], fixed: dict[str, Any], report: Callable[[dict], None]) -> None:
    """Report a point finished in an earlier attempt exactly as it was, epoch by epoch, without training."""
    curve = list(record.get("curve") or [])
    for epoch, accuracy in enumerate(curve[:-1], start=1):
        report({**fixed, "epoch": epoch, "accuracy": accuracy, "final": False, "replayed": True})
    final = {k: record.get(k) for k in ("accuracy", "loss", "status", "reason", "train_seconds", "epoch", "device",
                                        "accuracy_sd", "seed_accuracies")}
    report({**fixed, **final, "final": True, "replayed": True})


def _train_once(spec: NetSpec, data: Any, proxy: Any, seed: int, fixed: dict, threads: int, report: Callable,
                train_fn: TrainFn | None, report_epochs: bool) -> dict[str, Any]:
    """Train one seed; per-epoch results go to ``report`` (with ``report_epochs``), the final one is returned."""
    train_fn = train_fn or default_train_fn()
    # Scoped, not set: a Ray worker would not care, but a caller in its own process (a test, a notebook)
    # must get its thread count back.
    with thread_scope(max(1, threads)):
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
        return {
            **fixed, "epoch": epochs, "final": True,
            # ASHA and the selection need a number: a failed point scores 0 and is never selected.
            "accuracy": float(accuracy) if ok else 0.0,
            "loss": metrics.get("loss"), "status": "ok" if ok else "failed",
            "reason": None if ok else str(metrics.get("reason") or f"no usable accuracy ({accuracy!r})"),
            # Wall time in the trainer (training and any per-epoch validation), as in the per-epoch reports,
            # so full and early-stopped points are charged alike.
            "train_seconds": time.perf_counter() - start, "device": metrics.get("device"),
        }
