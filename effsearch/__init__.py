"""effsearch: search an efficient ConvNet baseline for a compute budget and scale it into a family.

The public API, stage by stage (docs/internals.md has the map):

* architectures (pure, no torch): :func:`load_spec`, :func:`count`, :func:`scale`, block strings,
  presets, :func:`register_op`; the model: :func:`build_model`;
* proxy evaluation: :class:`ProxyConfig`, :func:`train_and_evaluate`, :func:`measure_latency`;
* the baseline search: :func:`run_baseline_search` and its configs, :class:`MnasSampler`, and the
  registries :func:`register_objective`, :func:`register_sampler`, :func:`register_evaluator`;
* compound scaling: :func:`run_scale`, :func:`make_family` (whole, real or solved phi: :class:`Target`),
  :func:`run_grid`;
* results folders and the hand-over between stages: :func:`open_run` and the run objects
  (:class:`BaselineRun`, :class:`ScaleRun`, :class:`TrainRun`, :class:`SupernetRun`); the stages as
  calls that take and return runs are in :mod:`effsearch.runs` (``search``, ``scale``, ``train``);
* review: :func:`pareto_front`, :func:`hypervolume`, :func:`create_app`, :func:`write_report`.

Heavy dependencies (torch, Optuna, Ray, pandas, Dash) load on first use of the names that need
them, and importing effsearch changes no process-wide setting.
"""

from __future__ import annotations

import importlib
from typing import Any

from effsearch.arch.blockstring import format_block, parse_block, timm_arch_def
from effsearch.arch.cost import count
from effsearch.arch.ops import Op, get_op, register_op
from effsearch.arch.presets import get_preset, preset_names
from effsearch.arch.scaling import compound_scale, round_channels, round_repeats, round_resolution, scale
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.arch.specio import load_spec, save_spec, spec_from_dict, spec_to_dict
from effsearch.arch.timmcompat import TimmExportWarning, build_timm, timm_export, timm_state_dict, to_timm_state_dict
from effsearch.errors import DataError, EffsearchError, SpecError

__version__ = "0.2.0"

_LAZY = {
    "build_model": "effsearch.arch.builder", "Layers": "effsearch.arch.blocks",
    "load_dataset": "effsearch.data",
    "open_run": "effsearch.runs", "find_runs": "effsearch.runs", "BaselineRun": "effsearch.runs", "ScaleRun": "effsearch.runs",
    "TrainRun": "effsearch.runs", "SupernetRun": "effsearch.runs", "Target": "effsearch.compound.targets",
    "ProxyConfig": "effsearch.engine", "train_and_evaluate": "effsearch.proxy", "adapt_for_proxy": "effsearch.engine",
    "measure_latency": "effsearch.engine.latency",
    "load_space": "effsearch.search.space", "MnasSampler": "effsearch.controller",
    "run_baseline_search": "effsearch.search.baseline", "SearchResult": "effsearch.search.baseline",
    "SearchConfig": "effsearch.search.config", "RunConfig": "effsearch.search.config",
    "RewardConfig": "effsearch.search.reward", "Objective": "effsearch.search.objectives",
    "register_objective": "effsearch.search.objectives", "register_sampler": "effsearch.search.samplers",
    "register_evaluator": "effsearch.search.evaluators", "register_format": "effsearch.data.formats",
    "load_plugins": "effsearch.runtime.plugins", "catalog": "effsearch.search.catalog",
    "run_scale": "effsearch.compound.run", "ScaleConfig": "effsearch.compound.run",
    "ScaleRunConfig": "effsearch.compound.run", "ScaleResult": "effsearch.compound.run",
    "GridConfig": "effsearch.compound.grid", "grid_points": "effsearch.compound.grid",
    "Family": "effsearch.compound.family", "make_family": "effsearch.compound.family",
    "load_family": "effsearch.compound.family", "run_grid": "effsearch.compound.tune",
    "pareto_front": "effsearch.review.analysis", "hypervolume": "effsearch.review.analysis",
    "create_app": "effsearch.review.dashboard", "write_report": "effsearch.review.dashboard",
    "TrainConfig": "effsearch.train", "train_model": "effsearch.train", "network_for": "effsearch.train",
    "export_model": "effsearch.export", "load_trained": "effsearch.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'effsearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BlockSpec", "DataError", "EffsearchError", "NetSpec", "Op", "SpecError", "compound_scale", "count", "format_block",
    "get_op", "get_preset", "load_spec", "parse_block", "preset_names", "register_op", "round_channels", "round_repeats",
    "round_resolution", "save_spec", "scale", "spec_from_dict", "spec_to_dict", "timm_arch_def", "TimmExportWarning",
    "build_timm", "timm_export", "timm_state_dict", "to_timm_state_dict", *sorted(_LAZY),
]
