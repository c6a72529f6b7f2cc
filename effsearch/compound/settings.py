"""Where and how the compound grid runs on Ray Tune: :class:`TuneSettings` (what to search is the
grid, :mod:`effsearch.compound.grid`; how to train is the :class:`~effsearch.proxy.ProxyConfig`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from effsearch.errors import EffsearchError

SCHEDULERS = ("fifo", "asha")


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
