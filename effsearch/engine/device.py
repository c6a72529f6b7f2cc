"""Where a proxy trains: the device, and the runtime (device, threads, layer path) a run records.

The thread count lives in :mod:`effsearch.engine.threads`; its helpers are importable from here too.
"""

from __future__ import annotations

import torch

from effsearch.engine.config import ConfigError, ProxyConfig
from effsearch.engine.kernels import resolve_kernels
from effsearch.engine.threads import default_threads, thread_scope, usable_cores

__all__ = ["concrete_runtime", "default_threads", "resolve_device", "thread_scope", "usable_cores"]


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


def concrete_runtime(config: ProxyConfig, *, threads: int, device: str | None = None) -> ProxyConfig:
    """``config`` with its device, thread count and kernel path made concrete (and checked) for a run.

    ``threads`` applies when the config names none (a Ray worker gets its CPU share); ``device``
    overrides the config's (a grid point given a GPU share). A device that is not there is refused.
    The result is what a study or grid records and what every worker trains with.
    """
    dev = torch.device(device) if device else resolve_device(config.device)
    cpu = dev.type == "cpu"
    count = config.threads or threads
    return config.replace(device="cpu" if cpu else str(dev), threads=count if cpu else None,
                          kernels=resolve_kernels(config.kernels, dev, count))
