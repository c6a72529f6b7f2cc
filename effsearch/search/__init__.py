"""The baseline search: an Optuna study driven by the MNAS controller (or random, TPE, NSGA-II).

``run_baseline_search`` is the whole of ``effsearch baseline`` as one call; the modules split it by
role: ``config`` (what to search, where to run), ``study`` (storage, samplers, resume, the
architecture cache), ``runner`` (the ask/tell loop), ``executor`` and ``worker`` (where candidates
train), ``retrain`` (the long-budget re-evaluation), ``outputs`` (the results folder) and
``progress`` (what is printed).
"""

from __future__ import annotations

from effsearch.search.config import SAMPLERS, RunConfig, SearchConfig
from effsearch.search.run import SearchResult, run_baseline_search

__all__ = ["SAMPLERS", "RunConfig", "SearchConfig", "SearchResult", "run_baseline_search"]
