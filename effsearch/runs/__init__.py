"""Run objects: one per results folder, and the hand-over from each stage to the next.

``open_run(folder)`` gives a :class:`BaselineRun`, :class:`ScaleRun`, :class:`TrainRun` or
:class:`SupernetRun` (``folders``). The stages as calls that take the previous run and return their
own (``stages``, ``training``): ``search(...)`` -> BaselineRun, ``scale(baseline_run, ...)`` ->
ScaleRun (on the baseline's data and recipe), ``train(scale_run, phi=2, ...)`` -> TrainRun;
``inherit`` says what a stage takes over from the one before.
"""

from __future__ import annotations

from effsearch.runs.folders import (
    BaselineRun,
    Run,
    ScaleRun,
    SupernetRun,
    TrainRun,
    find_runs,
    is_run,
    newest_run,
    open_run,
    run_kind,
)
from effsearch.runs.stages import compare_inputs, data_of, network, scale, scale_folder, search
from effsearch.runs.training import prepare_training, train

__all__ = ["BaselineRun", "Run", "ScaleRun", "SupernetRun", "TrainRun", "compare_inputs", "data_of", "find_runs", "is_run",
           "network", "newest_run", "open_run", "prepare_training", "run_kind", "scale", "scale_folder", "search", "train"]
