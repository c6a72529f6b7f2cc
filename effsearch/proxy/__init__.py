"""Proxy evaluation: train a candidate briefly on the engine and measure its validation top-1.

:func:`train_and_evaluate` (``trainer``) is the entry point the search, the grid and ``effsearch
evaluate`` call; the recipe (:class:`ProxyConfig`), the loop, layer paths and devices are the
training engine's (:mod:`effsearch.engine`), re-exported here because a proxy run is configured
with them. Nothing here imports Ray or Optuna.
"""

from __future__ import annotations

from effsearch.engine import (
    DEFAULT_LR,
    KERNELS,
    MIN_FEATURE,
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    OnEpoch,
    ProxyConfig,
    TrainingFailed,
    adapt_for_proxy,
    default_threads,
    evaluate,
    lr_factor,
    prepare_model,
    resolve_device,
    strides_for_proxy,
    thread_scope,
)
from effsearch.proxy.trainer import train_and_evaluate

__all__ = [
    "DEFAULT_LR", "KERNELS", "MIN_FEATURE", "OPTIMIZERS", "SCHEDULES", "ConfigError", "OnEpoch", "ProxyConfig",
    "TrainingFailed", "adapt_for_proxy", "default_threads", "evaluate", "lr_factor", "prepare_model",
    "resolve_device", "strides_for_proxy", "thread_scope", "train_and_evaluate",
]
