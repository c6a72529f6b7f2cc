"""A candidate in flight: its trial, network, cost and the rung it trains at; what a trial keeps of the proxy."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import optuna

from effsearch.arch.spec import NetSpec

_PROXY_KEYS = ("train_seconds", "eval_seconds", "wall_seconds", "images_per_s", "loss", "train_loss",
               "epochs", "steps", "proxy_resolution", "proxy_params", "proxy_macs", "device", "threads", "kernels",
               "evaluator")


def blocks_key(spec: NetSpec) -> str:
    """The architecture's identity for the cache: its official block strings."""
    from effsearch.arch.blockstring import format_block

    return " ".join(format_block(b) for b in spec.blocks)


def proxy_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe scalars of a metrics dict worth keeping with the trial."""
    out = {}
    for key in _PROXY_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float, str)) and not (isinstance(value, float) and not math.isfinite(value)):
            out[key] = value
    return out


@dataclass
class Flight:
    """A trial whose candidate is training (or waiting for an identical one that is)."""

    trial: optuna.Trial
    spec: NetSpec
    key: str
    params: int
    macs: int
    cost: float  # the objective's value: what the reward is computed over
    started: float = field(default_factory=time.monotonic)
    rung: int = 0  # the rung it is training at
    want: list[int] = field(default_factory=list)  # the seeds of that rung
    results: dict[int, dict[str, Any]] = field(default_factory=dict)  # seed -> metrics, this rung
    dead: bool = False  # told already (a seed failed): results of its other seeds are dropped


def in_flight_limit(capacity: int) -> int:
    """Trials asked for and not yet told: one per worker, and one queued per worker when there are several."""
    return 1 if capacity <= 1 else 2 * capacity
