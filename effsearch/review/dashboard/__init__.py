"""Review runs: the Dash page (``create_app``) and the static HTML report (``write_report``).

``data`` loads results folders into frames (``frames`` holds the frames and their readers),
``summary`` computes what the views show with :mod:`effsearch.review.analysis`, ``figures`` and
``tables`` only draw it, ``app`` serves it and ``report`` writes it to one offline file. ``trained``
and ``trained_figures`` do the same for ``effsearch train``'s folders, ``rungs`` and ``rung_figures``
for the rungs of a multi-fidelity search, ``families`` and ``families_figures`` for the test accuracy of
scaled families against MACs. Dash is imported on first use, so ``import effsearch`` stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "write_report"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from effsearch.review.dashboard.app import create_app

        return create_app
    if name == "write_report":
        from effsearch.review.dashboard.report import write_report

        return write_report
    raise AttributeError(f"module 'effsearch.review.dashboard' has no attribute {name!r}")
