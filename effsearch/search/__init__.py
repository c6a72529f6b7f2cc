"""The baseline search: an Optuna study driven by the MNAS controller (or random, TPE, NSGA-II, yours).

``run_baseline_search`` is the whole of ``effsearch baseline`` as one call; the modules split it by
role: ``config`` (what to search, where to run), ``space`` (search spaces), ``reward`` and
``objectives`` (how a candidate scores), ``samplers`` and ``evaluators`` (the registries users
extend), ``storage`` and ``study`` (the Optuna study, resume, the architecture cache), ``settings``
(fingerprint and run.json), ``loop`` (the ask/tell loop), ``executor`` and ``worker`` (where
candidates are evaluated), ``retrain`` (the long-budget re-evaluation), ``outputs`` (the results
folder) and ``progress`` (what is printed). Optuna loads only when the search itself is used.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "Objective", "RewardConfig", "RunConfig", "SearchConfig", "SearchResult", "register_evaluator",
    "register_objective", "register_sampler", "run_baseline_search",
]

_LAZY = {
    "RunConfig": "effsearch.search.config", "SearchConfig": "effsearch.search.config",
    "SearchResult": "effsearch.search.baseline", "run_baseline_search": "effsearch.search.baseline",
    "RewardConfig": "effsearch.search.reward", "Objective": "effsearch.search.objectives",
    "register_objective": "effsearch.search.objectives", "register_sampler": "effsearch.search.samplers",
    "register_evaluator": "effsearch.search.evaluators",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'effsearch.search' has no attribute {name!r}")
