"""The objective registry: the cost metric the reward trades accuracy against.

The reward is ``ACC * (COST / T) ^ w`` (:mod:`effsearch.search.reward`); an :class:`Objective` names
the cost: ``macs`` (the default, counted at the deployment resolution), ``params``, or
``latency_ms`` (measured inference latency at batch 1, MnasNet's own objective). An objective says
how to read a target (``400M``, ``15ms``), how to print a value, and how to measure a candidate
before it is trained, so rejection of far-over-budget candidates works for every objective.

Adding one is one :func:`register_objective` call; its ``measure(spec, context)`` returns a
positive number, where ``context`` is a :class:`MeasureContext` (the measurement settings and a
per-architecture cache).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.runtime.registry import Registry
from effsearch.units import format_count, parse_count, parse_duration_ms


@dataclass
class MeasureContext:
    """What an objective may use: the latency settings, and a cache by architecture (block strings)."""

    latency_device: str = "cpu"
    latency_threads: int = 1
    cache: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Objective:
    """A cost metric: ``name`` is the key it is recorded under in trials and metrics."""

    name: str
    label: str
    parse: Callable[..., float]  # parse(text, what=...) -> value; ``what`` names the setting in errors
    format: Callable[[float], str]
    measure: Callable[[NetSpec, MeasureContext], float]
    machine_dependent: bool = False  # measured rather than counted: the machine is part of the fingerprint
    example: str = ""


OBJECTIVES: Registry[Objective] = Registry("objective")


def register_objective(objective: Objective, *, replace: bool = False) -> Objective:
    return OBJECTIVES.register(objective.name, objective, replace=replace)


unregister_objective = OBJECTIVES.unregister
get_objective = OBJECTIVES.get
objective_names = OBJECTIVES.names


# --------------------------------------------------------------------------- the built-in objectives

def _latency(spec: NetSpec, context: MeasureContext) -> float:
    from effsearch.engine.latency import measure_latency

    result = measure_latency(spec, threads=context.latency_threads, device=context.latency_device)
    return float(result["latency_ms"])


register_objective(Objective(
    name="macs", label="MACs", parse=lambda t, what="MACs target": parse_count(t, what), format=format_count,
    measure=lambda spec, _: float(count(spec).macs), example="400M",
))
register_objective(Objective(
    name="params", label="params", parse=lambda t, what="params target": parse_count(t, what), format=format_count,
    measure=lambda spec, _: float(count(spec).params), example="5M",
))
register_objective(Objective(
    name="latency_ms", label="latency", parse=parse_duration_ms, format=lambda v: f"{v:.3g}ms",
    measure=_latency, machine_dependent=True, example="15ms",
))
