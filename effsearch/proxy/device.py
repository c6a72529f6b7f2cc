"""Where a proxy trains: the device, and the intra-op thread count (restored afterwards)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

from effsearch.proxy.config import ConfigError, ProxyConfig


def usable_cores() -> int:
    """The cores this process may run on (not OMP_NUM_THREADS: that is a thread count, not a machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """OMP_NUM_THREADS when set (Ray and our worker pool set it per worker), else the usable cores."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"proxy config: device {name!r} is malformed; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"proxy config: device {name!r} is not available (torch sees no CUDA GPU); use device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"proxy config: device {name!r} is not available (torch sees {torch.cuda.device_count()} "
                          f"GPU(s): cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return device


@contextlib.contextmanager
def thread_scope(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op threads and restore the caller's setting afterwards."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


def concrete_runtime(config: ProxyConfig, *, threads: int, device: str | None = None) -> ProxyConfig:
    """``config`` with its device, thread count and kernel path made concrete (and checked) for a run.

    ``threads`` applies when the config names none (a Ray worker gets its CPU share); ``device``
    overrides the config's (a grid point given a GPU share). A device that is not there is refused.
    The result is what a study or grid records and what every worker trains with.
    """
    from effsearch.proxy.kernels import resolve_kernels

    dev = torch.device(device) if device else resolve_device(config.device)
    cpu = dev.type == "cpu"
    count = config.threads or threads
    return config.replace(device="cpu" if cpu else str(dev), threads=count if cpu else None,
                          kernels=resolve_kernels(config.kernels, dev, count))
