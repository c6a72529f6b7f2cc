"""Proxy evaluation: train a candidate briefly and measure validation top-1 (and its latency).

``config`` (:class:`ProxyConfig`), ``adapt`` (the candidate changed for small images), ``model``
(the network built for a layer path), ``threads`` and ``device`` (where a run trains), ``loop``
(the training loop), ``trainer`` (:func:`train_and_evaluate`, the entry point), ``kernels`` (the fast
CPU layer paths), ``memo`` (facts measured once per machine), ``parallel`` (workers x threads) and
``latency`` (measured inference latency). Nothing here imports Ray or Optuna.
"""

from __future__ import annotations

from effsearch.proxy.adapt import MIN_FEATURE, adapt_for_proxy, strides_for_proxy
from effsearch.proxy.config import DEFAULT_LR, KERNELS, OPTIMIZERS, SCHEDULES, ConfigError, OnEpoch, ProxyConfig
from effsearch.proxy.device import resolve_device
from effsearch.proxy.loop import TrainingFailed, evaluate, lr_factor
from effsearch.proxy.model import prepare_model
from effsearch.proxy.threads import default_threads, thread_scope
from effsearch.proxy.trainer import train_and_evaluate

__all__ = [
    "DEFAULT_LR", "KERNELS", "MIN_FEATURE", "OPTIMIZERS", "SCHEDULES", "ConfigError", "OnEpoch", "ProxyConfig",
    "TrainingFailed", "adapt_for_proxy", "default_threads", "evaluate", "lr_factor", "prepare_model",
    "resolve_device", "strides_for_proxy", "thread_scope", "train_and_evaluate",
]
