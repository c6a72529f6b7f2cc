"""effsearch: search an efficient ConvNet baseline for a compute budget and scale it into a family."""

from __future__ import annotations

import os

# OpenMP threads that wait by sleeping instead of spinning. libgomp reads this once, when torch is
# loaded, so it is set here, before anything imports torch (an explicit setting wins). On cores
# shared with other processes (CI, Ray workers on one node) spinning threads starve each other:
# proxy training measured 7-10x faster with 2 threads on 2 busy cores (benchmarks/README.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from effsearch.blockstring import format_block, parse_block, timm_arch_def
from effsearch.cost import count
from effsearch.errors import DataError, EffsearchError, SpecError
from effsearch.family import Family, load_family, make_family
from effsearch.grid import GridConfig, grid_points
from effsearch.presets import get_preset, preset_names
from effsearch.reward import RewardConfig
from effsearch.scaling import compound_scale, round_channels, round_repeats, round_resolution, scale
from effsearch.spec import BlockSpec, NetSpec
from effsearch.specio import load_spec, save_spec, spec_from_dict, spec_to_dict

__version__ = "0.1.0"


def build_model(spec, *, num_classes=None, in_channels=None):
    """A PyTorch model for ``spec``; see :func:`effsearch.builder.build_model`."""
    from effsearch.builder import build_model as _build

    return _build(spec, num_classes=num_classes, in_channels=in_channels)


def __getattr__(name: str):
    if name == "MnasSampler":
        from effsearch.controller import MnasSampler

        return MnasSampler
    if name == "load_space":
        from effsearch.space import load_space

        return load_space
    if name in ("run_baseline_search", "SearchConfig", "RunConfig"):  # Optuna loads only for a search
        from effsearch import search

        return getattr(search, name)
    if name in ("ProxyConfig", "train_and_evaluate", "adapt_for_proxy"):  # torch loads only for training
        from effsearch import proxy

        return getattr(proxy, name)
    if name == "load_dataset":
        from effsearch.data import load_dataset

        return load_dataset
    if name == "measure_latency":
        from effsearch.latency import measure_latency

        return measure_latency
    if name == "run_grid":  # Ray Tune loads only when the grid is run
        from effsearch.scale_search import run_grid

        return run_grid
    if name in ("pareto_front", "hypervolume"):  # pandas loads only when a review needs it
        from effsearch import analysis

        return getattr(analysis, name)
    if name in ("create_app", "write_report"):  # Dash loads only for the dashboard and the report
        from effsearch import dashboard

        return getattr(dashboard, name)
    raise AttributeError(f"module 'effsearch' has no attribute {name!r}")


__all__ = [
    "BlockSpec", "DataError", "EffsearchError", "Family", "GridConfig", "MnasSampler", "NetSpec", "ProxyConfig",
    "RewardConfig", "RunConfig", "SearchConfig", "SpecError", "adapt_for_proxy", "build_model", "compound_scale",
    "count", "create_app", "format_block", "get_preset", "grid_points", "hypervolume", "load_dataset", "load_family",
    "load_spec", "make_family", "measure_latency", "pareto_front", "parse_block", "preset_names", "round_channels",
    "round_repeats", "round_resolution", "run_baseline_search", "run_grid", "save_spec", "scale", "spec_from_dict",
    "spec_to_dict", "timm_arch_def", "train_and_evaluate", "write_report",
]
