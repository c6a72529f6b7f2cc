"""``kernels="auto"``: measure which layer path trains fastest here, once, and remember it.

The gains of the fast paths depend on the processor (2.7x against a plain loop on one two-core
Xeon, 2.0x on another with AMX; benchmarks/README.md), so the default is measured rather than
assumed: a few training steps of an EfficientNet-B0 proxy (16 px, batch 32, random data) per
available path, interleaved over rounds so a busy machine slows all paths alike, at the thread
count the trainer will use. The fastest median wins; a path must beat ``torch`` by 3% to be chosen
over it (ties go to the simplest). The decision is stored in ``<cache>/kernels/choice.json``, keyed
by processor, instruction sets, torch version, thread count and this file's measurement version,
with the timings behind it, so every later run on the machine uses the same path.
:func:`resolve_kernels` turns any ``ProxyConfig.kernels`` setting into the path a run uses.
"""

from __future__ import annotations

import statistics
import time

import torch

from effsearch.engine.config import ConfigError
from effsearch.engine.kernels.paths import PATHS, available_paths
from effsearch.engine.memo import machine_key, recall, remember

VERSION = 1
MARGIN = 0.03
_ROUNDS, _WARMUP, _STEPS, _BATCH, _RESOLUTION = 2, 1, 3, 32, 16


def _key(threads: int) -> str:
    return f"v{VERSION}|" + machine_key(f"{threads} threads")


def step_seconds(path: str, threads: int, *, resolution: int = _RESOLUTION, batch: int = _BATCH,
                 steps: int = _STEPS, warmup: int = _WARMUP, device: str = "cpu") -> list[float]:
    """Seconds per training step of the reference proxy (EfficientNet-B0 adapted to ``resolution``,
    one input channel, random data) on ``path``, one sample per timed step."""
    from effsearch.arch.presets import get_preset
    from effsearch.engine.adapt import adapt_for_proxy
    from effsearch.engine.config import ProxyConfig
    from effsearch.engine.model import prepare_model
    from effsearch.engine.threads import thread_scope

    dev = torch.device(device)
    spec = adapt_for_proxy(get_preset("efficientnet-b0"), resolution, num_classes=10, in_chans=1)
    config = ProxyConfig()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, resolution, resolution, generator=gen).contiguous(memory_format=torch.channels_last).to(dev)
    y = torch.randint(0, 10, (batch,), generator=gen).to(dev)
    times = []
    with thread_scope(threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = prepare_model(spec, config, dev, path).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for i in range(warmup + steps):
            start = time.perf_counter()
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return times


def measure(threads: int, paths: list[str] | None = None) -> dict[str, float]:
    """Median seconds per step of each path (interleaved rounds)."""
    paths = paths or available_paths()
    samples: dict[str, list[float]] = {p: [] for p in paths}
    for _ in range(_ROUNDS):
        for path in paths:
            samples[path] += step_seconds(path, threads)
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
    key = _key(threads)
    record = recall("choice", key)
    if record is not None and record.get("path") in available_paths():
        return str(record["path"])
    seconds = measure(threads)
    path = pick(seconds)
    remember("choice", key, {"path": path, "seconds_per_step": {p: round(s, 5) for p, s in seconds.items()},
                 "measured": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return path


def resolve_kernels(kernels: str, device: torch.device | str, threads: int) -> str:
    """The concrete path for a ``ProxyConfig.kernels`` setting on ``device`` with ``threads`` threads."""
    if torch.device(device).type != "cpu":
        return "torch"  # the rewrites are CPU kernels; CUDA has its own fast paths
    if kernels == "auto":
        return choose(threads)
    if kernels not in PATHS:
        raise ConfigError(f"kernel path {kernels!r} is unknown; use one of auto, {', '.join(PATHS)}")
    if kernels not in available_paths():
        raise ConfigError("kernel path 'fused' needs the compiled batch-norm kernel, which cannot be built here "
                          "(no C compiler 'cc'); use kernels fast or auto")
    return kernels
