"""Inference latency of a spec: batch 1 at the deployment resolution, on a stated device and thread count.

Timed with ``torch.utils.benchmark`` rather than a hand-written loop: its ``Timer`` warms up,
synchronises CUDA around every measurement, sets the thread count for the timed code only, and
``adaptive_autorange`` keeps taking blocks of runs until the median is stable (or a time limit is
reached), so a noisy machine costs more samples instead of a wrong number. The median per run is
the latency; the interquartile range comes with it.

Latency is machine-dependent, so every result records what it was measured on (device, processor,
thread count, torch version). The model is built fresh with PyTorch's own layers, put in eval mode
and run in channels_last under ``torch.inference_mode``, which is how a deployment runs it.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from effsearch.arch.spec import NetSpec
from effsearch.engine.memo import processor_name
from effsearch.engine.threads import default_threads
from effsearch.errors import EffsearchError

MIN_RUN_S = 0.1
MAX_RUN_S = 2.0
THRESHOLD = 0.1
"""Stop measuring once the interquartile range is within 10% of the median (torch's default)."""


def _device(name: str) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EffsearchError(f"latency device {name!r} is not available (torch sees no CUDA GPU); use cpu")
    if device.type not in ("cpu", "cuda"):
        raise EffsearchError(f"latency device {name!r} is not supported; use cpu or cuda[:N]")
    return device


def measure_latency(
    spec: NetSpec, *, resolution: int | None = None, batch_size: int = 1, threads: int | None = None,
    device: str = "cpu", channels_last: bool = True, min_run_time: float = MIN_RUN_S, max_run_time: float = MAX_RUN_S,
) -> dict[str, Any]:
    """Median inference latency of ``spec`` in milliseconds, with what it was measured on.

    ``threads`` defaults to the proxy's choice (OMP_NUM_THREADS, else the usable cores); it applies
    to the timed code only.
    """
    from torch.utils import benchmark

    from effsearch.arch.builder import build_model

    if batch_size < 1 or not 0 < min_run_time <= max_run_time:
        raise ValueError("measure_latency: batch_size must be >= 1 and 0 < min_run_time <= max_run_time")
    dev = _device(device)
    res = int(resolution or spec.resolution)
    threads = int(threads or default_threads())
    model = build_model(spec).eval().to(dev)
    x = torch.randn(batch_size, spec.in_chans, res, res, device=dev)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        model(x)  # first run: allocations and kernel selection, never timed
        timer = benchmark.Timer(stmt="model(x)", globals={"model": model, "x": x}, num_threads=threads)
        m = timer.adaptive_autorange(threshold=THRESHOLD, min_run_time=min_run_time, max_run_time=max_run_time)
    return {
        "latency_ms": round(m.median * 1e3, 4), "mean_ms": round(m.mean * 1e3, 4), "iqr_ms": round(m.iqr * 1e3, 4),
        "runs": len(m.times) * m.number_per_run, "batch_size": batch_size, "resolution": res, "threads": threads,
        "device": str(dev), "processor": processor_name() if dev.type == "cpu" else torch.cuda.get_device_name(dev),
        "cpus": os.cpu_count(), "channels_last": channels_last, "torch": torch.__version__, "method": "torch.utils.benchmark",
    }
