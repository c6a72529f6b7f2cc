"""``workers="auto"``: how many candidates to train at once here, and on how many threads each, measured once.

Small proxies do not spread over threads: on two cores, one candidate on two threads keeps about
one core busy, while two candidates on one thread each keep both (benchmarks/bench_parallel.py).
Larger inputs spread better and processors differ, so the layout is measured, not assumed. Every
layout ``workers x threads`` that fills the cores (``workers`` a power of two) trains the reference
proxy (EfficientNet-B0 adapted to the run's input size and batch, random data, each worker on the
layer path it would use) with all its workers at once, so they contend for memory bandwidth as
candidates do; the layout with the most steps per second wins, and more workers must beat fewer by
:data:`MARGIN` (fewer processes hold fewer copies of the data). On a CUDA GPU the layouts are 1, 2
or 4 workers sharing it. The decision is remembered per machine, torch version, device, cores,
input size and batch (``<cache>/kernels/parallel.json``), with the figures behind it.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

VERSION = 1
MARGIN = 0.05
_WARMUP, _STEPS = 2, 5
_GPU_WORKERS = (1, 2, 4)


@dataclass(frozen=True)
class Layout:
    """Candidates trained at once (``workers``) and intra-op threads of each (``threads``), and why."""

    workers: int
    threads: int
    source: str  # measured | remembered | given | resumed
    steps_per_s: dict[str, float] = field(default_factory=dict)  # "2x1": reference steps/s of each layout measured

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads}"

    def as_dict(self) -> dict[str, Any]:
        return {"workers": self.workers, "threads": self.threads, "source": self.source,
                "steps_per_s": dict(self.steps_per_s)}


def candidates(cores: int, device: str = "cpu") -> list[tuple[int, int]]:
    """The layouts worth measuring: ``(workers, threads)`` filling ``cores``; on a GPU, a few workers sharing it."""
    if device != "cpu":
        return [(w, max(1, cores // w)) for w in _GPU_WORKERS if w <= max(1, cores)]
    out, workers = [], 1
    while workers <= cores:
        out.append((workers, cores // workers))
        workers *= 2
    if out[-1][0] != cores:
        out.append((cores, 1))
    return out


def reference_steps(threads: int, *, kernels: str, resolution: int, batch: int, device: str,
                    steps: int = _STEPS, warmup: int = _WARMUP) -> float:
    """Reference proxy steps per second on ``threads`` threads, on the layer path ``kernels`` resolves to here."""
    from effsearch.engine.kernels import resolve_kernels
    from effsearch.engine.kernels.choice import step_seconds

    path = resolve_kernels(kernels, device, threads)
    times = step_seconds(path, threads, resolution=resolution, batch=batch, steps=steps, warmup=warmup, device=device)
    return 1.0 / statistics.median(times)


def _warm(kernels: str, device: str, threads: int) -> None:
    """Load torch and settle the layer path in a worker before the timed steps start together."""
    from effsearch.engine.kernels import resolve_kernels

    resolve_kernels(kernels, device, threads)


def measure_layout(workers: int, threads: int, **reference: Any) -> float:
    """Steps per second of ``workers`` workers of ``threads`` threads training the reference proxy at once."""
    if workers == 1:
        return reference_steps(threads, **reference)
    from effsearch.runtime.pool import ProcessPool

    with ProcessPool(workers, threads=threads) as pool:
        for fn, args in ((_warm, (reference["kernels"], reference["device"], threads)), (reference_steps, (threads,))):
            tickets = [pool.submit(fn, *args, **({} if fn is _warm else reference)) for _ in range(workers)]
            results: dict[int, Any] = {}
            while len(results) < len(tickets):
                for ticket, (kind, value) in pool.wait(1.0):
                    if kind != "ok":
                        raise value
                    results[ticket] = value
    return float(sum(results.values()))


def pick(rates: dict[tuple[int, int], float]) -> tuple[int, int]:
    """The fastest layout; one with more workers must beat the best with fewer by :data:`MARGIN`."""
    best = min(rates)  # the fewest workers
    for layout in sorted(rates):
        if rates[layout] > rates[best] * (1 + MARGIN):
            best = layout
    return best


def _key(cores: int, device: str, resolution: int, batch: int, kernels: str) -> str:
    from effsearch.engine.memo import machine_key

    return f"v{VERSION}|" + machine_key(device, f"{cores} cores", f"{resolution} px", f"batch {batch}", f"kernels {kernels}")


def choose_layout(*, cores: int, device: str, resolution: int, batch: int, kernels: str = "auto",
                  on_measure: Any = None) -> Layout:
    """The remembered layout for these settings on this machine, measured now if there is none.

    ``on_measure()`` is called before a measurement (a few seconds), so a caller can say why it waits.
    """
    from effsearch.engine.memo import recall, remember

    kind = "cpu" if device == "cpu" else "cuda"
    options = candidates(cores, kind)
    if len(options) == 1:
        workers, threads = options[0]
        return Layout(workers, threads, "measured")
    key = _key(cores, kind, resolution, batch, kernels)
    record = recall("parallel", key)
    if record is not None and isinstance(record.get("workers"), int) and isinstance(record.get("threads"), int):
        return Layout(record["workers"], record["threads"], "remembered", dict(record.get("steps_per_s") or {}))
    if on_measure is not None:
        on_measure()
    reference = {"kernels": kernels, "resolution": resolution, "batch": batch, "device": device}
    rates = {(w, t): measure_layout(w, t, **reference) for w, t in options}
    workers, threads = pick(rates)
    figures = {f"{w}x{t}": round(r, 3) for (w, t), r in rates.items()}
    remember("parallel", key, {"workers": workers, "threads": threads, "steps_per_s": figures,
                               "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return Layout(workers, threads, "measured", figures)


def layout_for(proxy: Any, data: Any, *, cores: int, on_measure: Any = None) -> Layout:
    """:func:`choose_layout` for training ``proxy`` (a ProxyConfig) on ``data`` with ``cores`` cores."""
    from effsearch.engine.device import resolve_device

    device = resolve_device(proxy.device)
    resolution = proxy.resolution or getattr(data, "default_resolution", 32)
    return choose_layout(cores=cores, device="cpu" if device.type == "cpu" else str(device), resolution=resolution,
                         batch=proxy.batch_size, kernels=proxy.kernels, on_measure=on_measure)
