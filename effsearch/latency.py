"""CPU inference latency of a spec: batch 1 at the deployment resolution, median of timed repeats.

Latency is machine-dependent, so every result records what it was measured on (processor, thread
count, torch version) next to the median. The model is built fresh, put in eval mode and run in
channels_last under ``torch.inference_mode`` after a warm-up, which is how a CPU deployment runs it.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from effsearch.spec import NetSpec

DEFAULT_REPEATS = 30
DEFAULT_WARMUP = 5


def processor_name() -> str:
    """The CPU model (``Intel(R) Xeon(R) ...``) from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def measure_latency(
    spec: NetSpec, *, resolution: int | None = None, batch_size: int = 1, repeats: int = DEFAULT_REPEATS,
    warmup: int = DEFAULT_WARMUP, threads: int | None = None, channels_last: bool = True,
) -> dict[str, Any]:
    """Median CPU inference latency of ``spec`` in milliseconds, with what it was measured on.

    ``threads`` defaults to the proxy's choice (OMP_NUM_THREADS, else the usable cores); the
    caller's torch thread setting is restored afterwards.
    """
    from effsearch.builder import build_model
    from effsearch.proxy import default_threads, thread_scope

    if repeats < 1 or warmup < 0 or batch_size < 1:
        raise ValueError("measure_latency: repeats and batch_size must be >= 1 and warmup >= 0")
    res = int(resolution or spec.resolution)
    threads = threads or default_threads()
    model = build_model(spec).eval()
    x = torch.randn(batch_size, spec.in_chans, res, res)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    times = []
    with thread_scope(threads), torch.inference_mode():
        for _ in range(warmup):
            model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - start) * 1e3)
    return {
        "latency_ms": round(statistics.median(times), 4),
        "mean_ms": round(statistics.fmean(times), 4),
        "min_ms": round(min(times), 4),
        "p90_ms": round(sorted(times)[int(0.9 * (len(times) - 1))], 4),
        "repeats": repeats, "warmup": warmup, "batch_size": batch_size, "resolution": res,
        "threads": threads, "processor": processor_name(), "cpus": os.cpu_count(),
        "channels_last": channels_last, "device": "cpu", "torch": torch.__version__,
    }
