"""The training engine every stage trains with: the recipe, the loop, where it runs and how fast.

``config`` (:class:`ProxyConfig`: the recipe, named for its first user, the proxy task; ``effsearch
train``'s ``TrainConfig`` extends it), ``adapt`` (a network changed for small images), ``model`` (the
network built for a layer path), ``threads`` and ``device`` (where a run trains), ``loop`` (the
training loop: schedule, AMP, divergence, validation), ``kernels`` (the fast CPU layer paths),
``memo`` (facts measured once per machine), ``parallel`` (workers x threads) and ``latency``
(measured inference latency). Used by the proxy task (:mod:`effsearch.proxy`), ``train``,
``supernet`` and ``compound``; it imports neither Ray nor Optuna.
"""

from __future__ import annotations

from effsearch.engine.adapt import MIN_FEATURE, adapt_for_proxy, strides_for_proxy
from effsearch.engine.config import DEFAULT_LR, KERNELS, OPTIMIZERS, SCHEDULES, ConfigError, OnEpoch, ProxyConfig
from effsearch.engine.device import resolve_device
from effsearch.engine.loop import TrainingFailed, evaluate, lr_factor
from effsearch.engine.model import prepare_model
from effsearch.engine.threads import default_threads, thread_scope

__all__ = [
    "DEFAULT_LR", "KERNELS", "MIN_FEATURE", "OPTIMIZERS", "SCHEDULES", "ConfigError", "OnEpoch", "ProxyConfig",
    "TrainingFailed", "adapt_for_proxy", "default_threads", "evaluate", "lr_factor", "prepare_model",
    "resolve_device", "strides_for_proxy", "thread_scope",
]
