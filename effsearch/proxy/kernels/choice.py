"""``kernels="auto"``: measure which layer path trains fastest here, once, and remember it.

The gains of the fast paths depend on the processor (2.7x against a plain loop on one two-core
Xeon, 2.0x on another with AMX; benchmarks/README.md), so the default is measured rather than
assumed: a few training steps of an EfficientNet-B0 proxy (16 px, batch 32, random data) per
available path, interleaved over rounds so a busy machine slows all paths alike, at the thread
count the trainer will use. The fastest median wins; a path must beat ``torch`` by 3% to be chosen
over it (ties go to the simplest). The decision is stored in ``<cache>/kernels/choice.json``, keyed
by processor, instruction sets, torch version, thread count and this file's measurement version,
with the timings behind it, so every later run on the machine uses the same path.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

VERSION = 1
MARGIN = 0.03
_ROUNDS, _WARMUP, _STEPS, _BATCH, _RESOLUTION = 2, 1, 3, 32, 16


def _key(threads: int) -> str:
    from effsearch.proxy.kernels.bn_act import _cpu_flags
    from effsearch.proxy.latency import processor_name

    flags = hashlib.sha256(_cpu_flags().encode()).hexdigest()[:12]
    return f"v{VERSION}|{processor_name()}|{platform.machine()}|{flags}|torch {torch.__version__}|{threads} threads"


def _path() -> Path:
    from effsearch.proxy.kernels.bn_act import cache_dir

    return cache_dir() / "choice.json"


def _read() -> dict[str, Any]:
    try:
        data = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(key: str, record: dict[str, Any]) -> None:
    path = _path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**_read(), key: record}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(path)
    except OSError:
        pass  # an unwritable cache only means measuring again next time


def _step_seconds(path: str, threads: int) -> list[float]:
    """Seconds per training step of the reference proxy on ``path``, one sample per timed step."""
    from effsearch.arch.presets import get_preset
    from effsearch.proxy.adapt import adapt_for_proxy
    from effsearch.proxy.config import ProxyConfig
    from effsearch.proxy.device import thread_scope
    from effsearch.proxy.trainer import prepare_model

    spec = adapt_for_proxy(get_preset("efficientnet-b0"), _RESOLUTION, num_classes=10, in_chans=1)
    config = ProxyConfig()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(_BATCH, 1, _RESOLUTION, _RESOLUTION, generator=gen).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (_BATCH,), generator=gen)
    times = []
    with thread_scope(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = prepare_model(spec, config, torch.device("cpu"), path).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for i in range(_WARMUP + _STEPS):
            start = time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if i >= _WARMUP:
                times.append(time.perf_counter() - start)
    return times


def measure(threads: int, paths: list[str] | None = None) -> dict[str, float]:
    """Median seconds per step of each path (interleaved rounds)."""
    from effsearch.proxy.kernels import available_paths

    paths = paths or available_paths()
    samples: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(_ROUNDS):
        for path in paths:
            samples[path] += _step_seconds(path, threads)
    return {p: statistics.median(s) for p, s in samples.items()}


def pick(seconds: dict[str, float]) -> str:
    """The fastest path, preferring the simpler one unless the faster beats it by :data:`MARGIN`."""
    best = "torch" if "torch" in seconds else min(seconds, key=seconds.get)
    for path in ("fast", "fused"):  # from simple to complex
        if path in seconds and seconds[path] < seconds[best] * (1 - MARGIN):
            best = path
    return best


def choose(threads: int) -> str:
    """The remembered choice for this machine and thread count, measured now if there is none."""
    from effsearch.proxy.kernels import available_paths

    key = _key(threads)
    record = _read().get(key)
    if isinstance(record, dict) and record.get("path") in available_paths():
        return str(record["path"])
    seconds = measure(threads)
    path = pick(seconds)
    _write(key, {"path": path, "seconds_per_step": {p: round(s, 5) for p, s in seconds.items()},
                 "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return path
