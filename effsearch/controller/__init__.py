"""The MNAS controller: an LSTM policy over categorical decisions, trained by PPO or REINFORCE.

:class:`MnasSampler` is an ``optuna.samplers.BaseSampler``, so it drives any Optuna study over
categorical parameters; ``config`` holds its settings, ``learner`` what it learns for one study,
``policy`` the network, ``ppo`` the policy-gradient mathematics and ``state`` how the learning
state is kept in the study's storage.
"""

from __future__ import annotations

from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.sampler import MnasSampler

__all__ = ["ControllerConfig", "ControllerError", "MnasSampler"]
