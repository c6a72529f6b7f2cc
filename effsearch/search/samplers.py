"""The sampler registry: how candidates are proposed, by name, each with its seed policy.

Every sampler is an Optuna ``BaseSampler``. A registered one is built by its factory
``factory(*, seed, space, workers) -> BaseSampler``; ``run_baseline_search`` also takes any
``BaseSampler`` instance directly (``SearchConfig(sampler=optuna.samplers.QMCSampler(...))``), used
as given. Built in: ``mnas`` (the LSTM controller), ``random``, ``tpe`` and ``nsga2`` (accuracy
against the cost as two objectives).

**Seed policy.** Optuna's samplers draw from one stream per process, so a resumed run seeded as
before would replay its earlier proposals: a ``per-run`` sampler gets a stream per
(seed, finished trials). A ``per-trial`` sampler (the controller) draws trial ``n`` from
``(seed, n)`` and keeps its seed in the study, so it gets the seed as it is.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from effsearch.errors import EffsearchError
from effsearch.runtime.registry import Registry

SEED_POLICIES = ("per-run", "per-trial")
NSGA2_POPULATION = 20
"""Smaller than Optuna's 50 so that searches of a few hundred trials see several generations."""


@dataclass(frozen=True, kw_only=True)
class SamplerEntry:
    name: str
    factory: Callable[..., optuna.samplers.BaseSampler]
    seed_policy: str = "per-run"
    objectives: int = 1  # 1: the scalar reward; 2: accuracy against the cost
    description: str = ""
    cost_aware: bool = False  # the factory also takes reward_factor: the reward's cost term (search.cost_term)

    def __post_init__(self) -> None:
        if self.seed_policy not in SEED_POLICIES:
            raise EffsearchError(f"sampler {self.name!r}: seed policy {self.seed_policy!r} is not one of {', '.join(SEED_POLICIES)}")
        if self.objectives not in (1, 2):
            raise EffsearchError(f"sampler {self.name!r}: objectives must be 1 or 2")


SAMPLERS: Registry[SamplerEntry] = Registry("sampler")


def register_sampler(name: str, factory: Callable[..., optuna.samplers.BaseSampler], *, seed_policy: str = "per-run",
                     objectives: int = 1, description: str = "", cost_aware: bool = False,
                     replace: bool = False) -> SamplerEntry:
    """Register ``factory(*, seed, space, workers) -> BaseSampler`` under ``name``.

    ``cost_aware``: the factory also takes ``reward_factor``, ``f(params) -> float``, the reward's cost
    term of an architecture computed before training (``None`` where the objective is measured).
    """
    entry = SamplerEntry(name=name, factory=factory, seed_policy=seed_policy, objectives=objectives, description=description,
                         cost_aware=cost_aware)
    return SAMPLERS.register(name, entry, replace=replace)


unregister_sampler = SAMPLERS.unregister
sampler_names = SAMPLERS.names
get_sampler = SAMPLERS.get


def sampler_label(sampler: str | optuna.samplers.BaseSampler) -> str:
    """The name recorded for a sampler: its registry name, or the class name of an instance."""
    return sampler if isinstance(sampler, str) else type(sampler).__name__


def sampler_objectives(sampler: str | optuna.samplers.BaseSampler) -> int:
    return get_sampler(sampler).objectives if isinstance(sampler, str) else 1


def sampler_seed(entry: SamplerEntry, seed: int, finished: int) -> int:
    """The seed for a sampler joining a study that already holds ``finished`` trials (see the policies)."""
    if entry.seed_policy == "per-trial" or finished == 0:
        return seed
    return int(np.random.SeedSequence([seed, finished]).generate_state(1)[0])


def make_sampler(sampler: str | optuna.samplers.BaseSampler, *, seed: int, space: Any, workers: int = 1,
                 finished: int = 0, reward_factor: Callable[[dict[str, Any]], float] | None = None) -> optuna.samplers.BaseSampler:
    """An instance for ``sampler`` (a registry name, or an instance returned as it is)."""
    if isinstance(sampler, optuna.samplers.BaseSampler):
        return sampler
    entry = get_sampler(sampler)
    extra = {"reward_factor": reward_factor} if entry.cost_aware else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return entry.factory(seed=sampler_seed(entry, seed, finished), space=space, workers=workers, **extra)


# --------------------------------------------------------------------------- the built-in samplers


def _mnas(*, seed: int, space: Any, workers: int,
          reward_factor: Callable[[dict[str, Any]], float] | None = None) -> optuna.samplers.BaseSampler:
    from effsearch.controller import MnasSampler

    # Failed trials are skipped rather than scored 0: an interrupted trial says nothing about its
    # architecture, and divergence is rare enough not to need teaching. No re-measuring: the search's
    # cache answers a repeated architecture with its first value, and its pick handles the noise
    # (seed means of the finalists), so a re-measuring trial would only spend one of --trials. The
    # cost term lets its screen weigh each proposal's exact cost against its predicted accuracy; the
    # screen stays a Thompson draw, the one the cost term was measured with (controller.propose).
    return MnasSampler(seed=seed, search_space=space.distributions(), remeasure=0, screen="draw", reward_factor=reward_factor)


def _tpe(*, seed: int, space: Any, workers: int) -> optuna.samplers.BaseSampler:
    # constant_liar keeps parallel workers from proposing the same point while others run
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=workers > 1)


register_sampler("mnas", _mnas, seed_policy="per-trial", cost_aware=True,
                 description="the MNAS controller: an LSTM policy trained by PPO")
register_sampler("random", lambda *, seed, space, workers: optuna.samplers.RandomSampler(seed=seed),
                 description="uniform random sampling")
register_sampler("tpe", _tpe, description="Optuna's multivariate TPE")
register_sampler("nsga2", lambda *, seed, space, workers: optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION),
                 objectives=2, description="NSGA-II on accuracy against the cost (two objectives)")
