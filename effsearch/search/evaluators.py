"""The evaluator registry: how a candidate gets its accuracy.

An evaluator is a callable ``evaluate(spec, data, proxy, *, seed, on_epoch=None) -> metrics`` that
returns the metrics dict of :func:`effsearch.proxy.train_and_evaluate` (at least ``status`` and
``accuracy``; see docs/internals.md), and optionally ``describe() -> dict``, what about it changes
the numbers (recorded in the study's fingerprint). The search loop does not care which evaluator
produced a metrics dict. ``proxy`` (standalone proxy training) is built in.

A registered evaluator is made by ``factory(arg, *, data, proxy, out, space) -> evaluator``, where
``arg`` is what follows the colon in ``name:arg`` (``None`` without one), ``out`` the results folder
and ``space`` the search space; it checks what it can there, before anything is written.
Evaluators are shipped to Ray workers, so they must pickle. Two optional hooks: ``prepare(data=,
proxy=, on_epoch=)`` runs once in the main process after the run's checks and before the first
candidate (the ``supernet`` evaluator trains its supernet there), and ``verify``, the evaluator that
retrains the finalists of ``retrain_top`` (standalone training, whatever scored the search).
``proxy`` (standalone proxy training) and ``supernet`` are built in. The ``supernet`` entry belongs
to its own package (:data:`effsearch.supernet.evaluator.SUPERNET`); it is registered here as a lazy
``"module:attribute"`` entry, so it is listed without importing torch and this module never imports
the supernet package (which imports this one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effsearch.errors import EffsearchError
from effsearch.runtime.registry import Registry

Evaluate = Callable[..., dict[str, Any]]


class ProxyEvaluator:
    """Standalone proxy training: :func:`effsearch.proxy.train_and_evaluate`."""

    name = "proxy"

    def __call__(self, spec: Any, data: Any, proxy: Any, *, seed: int = 0, on_epoch: Any = None) -> dict[str, Any]:
        from effsearch.proxy import train_and_evaluate

        # Validation after every epoch (a callback asks for it) gives the trial its accuracy curve;
        # evaluation changes no weight or random state, so the final accuracy is the same.
        return train_and_evaluate(spec, data, proxy, seed=seed, on_epoch=on_epoch or _no_callback)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}


def _no_callback(epoch: int, metrics: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class EvaluatorEntry:
    name: str
    factory: Callable[..., Evaluate]
    description: str = ""


EVALUATORS: Registry[EvaluatorEntry] = Registry("evaluator")


def register_evaluator(name: str, factory: Callable[..., Evaluate], *, description: str = "",
                       replace: bool = False) -> EvaluatorEntry:
    """Register ``factory(arg, *, data, proxy, out) -> evaluator`` under ``name``."""
    if ":" in name or not name:
        raise EffsearchError(f"evaluator name {name!r} is invalid (no colon; NAME:ARG passes an argument)")
    return EVALUATORS.register(name, EvaluatorEntry(name, factory, description), replace=replace)


unregister_evaluator = EVALUATORS.unregister
evaluator_names = EVALUATORS.names


def split(text: str) -> tuple[str, str | None]:
    """``supernet:DIR`` -> (``supernet``, ``DIR``); ``proxy`` -> (``proxy``, None)."""
    name, sep, arg = str(text).partition(":")
    return name, (arg if sep else None)


def get_evaluator(text: str) -> EvaluatorEntry:
    return EVALUATORS.get(split(text)[0])


def make_evaluator(text: str, *, data: Any, proxy: Any, out: Path | None, space: Any = None) -> Evaluate:
    """The evaluator named ``text`` (``name`` or ``name:arg``), built for this run."""
    name, arg = split(text)
    return get_evaluator(name).factory(arg, data=data, proxy=proxy, out=out, space=space)


def describe(evaluate: Evaluate) -> dict[str, Any]:
    """What about an evaluator changes the numbers, for the fingerprint."""
    fn = getattr(evaluate, "describe", None)
    if callable(fn):
        return dict(fn())
    return {"name": getattr(evaluate, "__name__", type(evaluate).__name__)}


def _proxy(arg: str | None, *, data: Any, proxy: Any, out: Path | None, space: Any = None) -> Evaluate:
    if arg:
        raise EffsearchError(f"evaluator 'proxy' takes no argument (got {arg!r})")
    return ProxyEvaluator()


register_evaluator("proxy", _proxy, description="standalone proxy training of every candidate")


# The description is the entry's own (effsearch.supernet.evaluator), repeated for listing it unimported;
# tests/test_plugins.py checks that the two agree.
EVALUATORS.register_lazy("supernet", "effsearch.supernet.evaluator:SUPERNET", description=(
    "weight sharing: scored with a trained supernet's weights (supernet:DIR), "
    "or with one trained first into the results folder (supernet)"))
