"""What a worker does with one candidate: evaluate it and report a metrics dict.

This is the plain function that Ray ships to its workers (or that the main process calls itself when
there is one worker), with the run's evaluator (:mod:`effsearch.search.evaluators`; standalone proxy
training by default). It never raises for a bad candidate: an exception, running out of memory or a
diverged training all come back as ``{"status": "failed", "reason": ...}``, so one candidate cannot
stop a search; a requested stop does raise. It imports neither Ray nor Optuna.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from effsearch.arch.spec import NetSpec

Evaluate = Callable[..., dict[str, Any]]
"""``evaluate(spec, data, proxy_config, seed=...) -> metrics``; see :mod:`effsearch.search.evaluators`."""


@dataclass(frozen=True, kw_only=True)
class Candidate:
    """One evaluation to run: the trial it belongs to, the network and the proxy budget."""

    number: int
    spec: NetSpec
    proxy: Any
    seed: int
    phase: str = "search"  # or "retrain"


def describe_failure(exc: BaseException) -> str:
    """One line for the trial's ``reason``: out-of-memory errors are named as such."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    if isinstance(exc, MemoryError) or "OutOfMemory" in name or "out of memory" in text.lower():
        return f"out of memory ({name}){': ' + text if text else ''}"[:500]
    return f"{name}: {text}"[:500] if text else name


def _default_evaluate() -> Evaluate:
    from effsearch.search.evaluators import ProxyEvaluator

    return ProxyEvaluator()


def _checked(metrics: dict[str, Any]) -> dict[str, Any]:
    """Normalise a metrics dict; an "ok" without a usable accuracy is a failure, not a zero."""
    metrics = dict(metrics)
    status = metrics.get("status", "ok")
    if status != "ok":
        metrics["status"] = "failed"
        metrics["reason"] = str(metrics.get("reason") or "the evaluation reported a failure without a reason")
        return metrics
    acc = metrics.get("accuracy")
    if not isinstance(acc, (int, float)) or not math.isfinite(acc) or not 0 <= acc <= 1:
        return {**metrics, "status": "failed", "reason": f"diverged or invalid: accuracy {acc!r}"}
    loss = metrics.get("loss")
    if isinstance(loss, float) and not math.isfinite(loss):
        return {**metrics, "status": "failed", "reason": f"diverged: validation loss {loss}"}
    metrics["status"], metrics["reason"] = "ok", None
    return metrics


def evaluate_candidate(candidate: Candidate, data: Any, evaluate: Evaluate | None = None) -> dict[str, Any]:
    """Evaluate ``candidate`` on ``data``; the metrics dict always has ``status``."""
    start = time.perf_counter()
    fn = evaluate or _default_evaluate()
    if candidate.phase == "retrain":  # finalists are verified by standalone training, whatever scored the search
        fn = getattr(fn, "verify", None) or fn
    try:
        metrics = _checked(fn(candidate.spec, data, candidate.proxy, seed=candidate.seed))
    except Exception as exc:  # any failure of one candidate is recorded, not raised
        metrics = {"status": "failed", "reason": describe_failure(exc)}
    metrics["wall_seconds"] = time.perf_counter() - start  # build, train, validate
    metrics.setdefault("evaluator", getattr(fn, "name", getattr(fn, "__name__", type(fn).__name__)))
    return metrics
