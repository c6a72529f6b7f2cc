"""MnasSampler: the MNAS controller as an Optuna sampler that works in any study over categoricals.

How it plugs into Optuna:

* **Search space.** The categorical parameters (two or more choices) that every completed trial
  suggested with the same choices, in the order the earliest complete trial suggested them, or the
  ``search_space`` given to the constructor (then even the first trial comes from the policy).
  Everything else (floats, ints, parameters outside that space) is sampled uniformly at random,
  and so is every parameter of the first trial when the space is not given.
* **Reward.** A complete trial's value (negated for ``minimize`` studies). Failed and pruned trials
  are skipped unless ``failed_reward`` is set, in which case they count as that reward: use 0 for
  an accuracy-times-cost reward, where "it did not train" is the worst outcome. Multi-objective
  studies are rejected; combine the objectives into one reward (as ``effsearch baseline`` does) or
  use NSGA-II.
* **Learning.** Every ``batch_size`` finished trials, in trial-number order, make one policy update
  (PPO by default, see :mod:`effsearch.controller.ppo`). Finished trials are collected both when
  this process tells a trial (``after_trial``) and when it samples one, so trials that finish out of
  order, in other processes or while this one was down are all learned from exactly once.
* **Workers in flight.** Each trial records the choices and per-decision log-probabilities its
  policy sampled; PPO weighs a trial by the ratio against *that* policy, so trials sampled before
  the latest update still count correctly. Trials the policy did not sample (enqueued, random, or
  with fixed params) are learned from as if sampled by the current policy.
* **Persistence.** After every update the whole learning state is written into the study's storage
  (:mod:`effsearch.controller.state`). A new sampler that meets the study restores it before its
  first sample and continues: same weights, optimizer moments, baseline, counters and seed. The
  stored network shape wins over the constructor's; learning settings (lr, ...) are the new ones.
  The design is one driver process (with any number of workers in flight); several drivers on one
  study each learn from every trial, and the last to save wins.

Sampling is reproducible: trial ``n`` draws from a generator seeded by ``(seed, n)``, so a resumed
or distributed study samples what a single uninterrupted process would have, given the same policy.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from optuna.distributions import CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import TrialState

from effsearch.controller import state
from effsearch.controller.policy import Policy
from effsearch.controller.ppo import Baseline, Batch, policy_update
from effsearch.errors import EffsearchError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial

ALGORITHMS = ("ppo", "reinforce")
DEFAULT_LR = {"ppo": 0.002, "reinforce": 0.005}
"""Tuned on the synthetic benchmark (benchmarks/bench_controller.py); REINFORCE takes one step per batch."""
TRIAL_ATTR = "effsearch:mnas"
"""Trial system attribute: ``{"actions": [...], "logp": [...], "update": n}`` as sampled."""
_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
_logger = logging.getLogger(__name__)


class ControllerError(EffsearchError, ValueError):
    """A controller setting is invalid, or the study is one the controller cannot optimise."""


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    """Learning settings of :class:`MnasSampler` (see its docstring); validated on construction."""

    algorithm: str = "ppo"
    lr: float | None = None
    batch_size: int = 8
    epochs: int = 4
    clip: float = 0.2
    entropy_weight: float = 0.005
    baseline_decay: float = 0.9
    hidden_size: int = 64
    embed_size: int = 32
    failed_reward: float | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ControllerError(f"controller algorithm {self.algorithm!r} is unknown; use one of {', '.join(ALGORITHMS)}")
        for name in ("batch_size", "epochs", "hidden_size", "embed_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ControllerError(f"controller {name} {value!r} must be an integer >= 1")
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.algorithm])
        _check_number("lr", self.lr, lo=0, lo_open=True)
        _check_number("clip", self.clip, lo=0, lo_open=True, hi=1)
        _check_number("entropy_weight", self.entropy_weight, lo=0)
        _check_number("baseline_decay", self.baseline_decay, lo=0, hi=1, hi_open=True)
        if self.failed_reward is not None:
            _check_number("failed_reward", self.failed_reward)


def _check_number(name: str, value: Any, *, lo: float = -math.inf, hi: float = math.inf,
                  lo_open: bool = False, hi_open: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    if not bad:
        bad = value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi)
    if bad:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ControllerError(f"controller {name} {value!r} must be a finite number in {left}{lo}, {hi}{right}")


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run the policy on one intra-op thread, then give torch its thread count back.

    The policy's tensors are tiny; several OpenMP threads only synchronise, and on busy cores that
    made sampling and updates 10-25x slower than one thread (measured on the 2-core CI machine).
    """
    previous = torch.get_num_threads()
    if previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous > 1:
            torch.set_num_threads(previous)


def _new_seed() -> int:
    return secrets.randbits(63)


def _derived_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([k & 0xFFFF_FFFF_FFFF_FFFF for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def _trial_generator(seed: int, number: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(_derived_seed(seed, number))
    return generator


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    """``{0, 1, 2, 5}`` -> ``[[0, 2], [5, 5]]``: the learned-from trials stay small in the state."""
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _from_ranges(ranges: Sequence[Sequence[int]]) -> set[int]:
    return {n for lo, hi in ranges for n in range(int(lo), int(hi) + 1)}


class _Learner:
    """Everything the controller learns for one study: policy, optimizer, baseline, bookkeeping."""

    def __init__(self, space: dict[str, CategoricalDistribution], config: ControllerConfig, seed: int,
                 *, hidden_size: int | None = None, embed_size: int | None = None) -> None:
        self.space = dict(space)
        self.names = list(space)
        self.seed = seed
        self.hidden_size = hidden_size or config.hidden_size
        self.embed_size = embed_size or config.embed_size
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
            torch.manual_seed(_derived_seed(seed, -1))
            self.policy = Policy([len(d.choices) for d in space.values()],
                                 hidden_size=self.hidden_size, embed_size=self.embed_size)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.baseline = Baseline(decay=config.baseline_decay)
        self.num_updates = 0
        self.consumed: set[int] = set()

    def to_payload(self) -> dict[str, Any]:
        return {
            "names": self.names, "choices": [list(self.space[n].choices) for n in self.names],
            "hidden_size": self.hidden_size, "embed_size": self.embed_size, "seed": self.seed,
            "policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
            "baseline": [self.baseline.mean, self.baseline.var], "num_updates": self.num_updates,
            "consumed": _ranges(self.consumed),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], config: ControllerConfig) -> _Learner:
        space = {n: CategoricalDistribution(c) for n, c in zip(payload["names"], payload["choices"], strict=True)}
        learner = cls(space, config, int(payload["seed"]),
                      hidden_size=int(payload["hidden_size"]), embed_size=int(payload["embed_size"]))
        learner.policy.load_state_dict(payload["policy"])
        learner.optimizer.load_state_dict(payload["optimizer"])
        for group in learner.optimizer.param_groups:
            group["lr"] = config.lr  # learning settings are this sampler's; the policy is the study's
        learner.baseline.mean, learner.baseline.var = payload["baseline"]
        learner.num_updates = int(payload["num_updates"])
        learner.consumed = _from_ranges(payload["consumed"])
        return learner

    def actions_of(self, params: dict[str, Any], distributions: dict[str, BaseDistribution]) -> list[int] | None:
        """Choice indices of a trial's params, or ``None`` if it did not make every decision alike."""
        actions = []
        for name, dist in self.space.items():
            if name not in params or distributions.get(name) != dist:
                return None
            actions.append(int(dist.to_internal_repr(params[name])))
        return actions


class MnasSampler(BaseSampler):
    """The MNAS controller (an LSTM policy trained by PPO or REINFORCE) as an Optuna sampler.

    Args:
        seed: seed for the policy's initial weights and for sampling (trial ``n`` uses ``(seed, n)``).
        algorithm: ``"ppo"`` (clipped ratio, several epochs per batch) or ``"reinforce"``.
        lr: Adam learning rate of the policy (default 0.002 for PPO, 0.005 for REINFORCE).
        batch_size: finished trials per policy update.
        epochs: PPO passes over each batch (REINFORCE always makes one).
        clip: PPO's ratio clip (0.2 in the PPO paper).
        entropy_weight: weight of the mean per-decision entropy bonus (keeps exploring).
        baseline_decay: decay of the moving-average reward baseline and of its RMS.
        hidden_size, embed_size: LSTM width and decision-embedding width.
        failed_reward: reward of failed or pruned trials; ``None`` (default) skips them.
        search_space: ``{name: CategoricalDistribution}`` to control from the first trial, in this
            order (e.g. ``effsearch.space.load_space("mnasnet").distributions()``); default: inferred.

    Example::

        sampler = MnasSampler(seed=0)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(lambda t: score(space.suggest(t)), n_trials=500)
    """

    def __init__(
        self,
        *,
        seed: int | None = None,
        algorithm: str = ControllerConfig.algorithm,
        lr: float | None = None,
        batch_size: int = ControllerConfig.batch_size,
        epochs: int = ControllerConfig.epochs,
        clip: float = ControllerConfig.clip,
        entropy_weight: float = ControllerConfig.entropy_weight,
        baseline_decay: float = ControllerConfig.baseline_decay,
        hidden_size: int = ControllerConfig.hidden_size,
        embed_size: int = ControllerConfig.embed_size,
        failed_reward: float | None = None,
        search_space: dict[str, BaseDistribution] | None = None,
    ) -> None:
        self.config = ControllerConfig(
            algorithm=algorithm, lr=lr, batch_size=batch_size, epochs=epochs, clip=clip,
            entropy_weight=entropy_weight, baseline_decay=baseline_decay, hidden_size=hidden_size,
            embed_size=embed_size, failed_reward=failed_reward,
        )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ControllerError(f"controller seed {seed!r} must be an integer or None")
        self._seed = _new_seed() if seed is None else seed
        self._given_space = _controllable(search_space or {}) if search_space is not None else None
        if search_space is not None and not self._given_space:
            raise ControllerError("controller search_space has no categorical parameter with two or more choices")
        self._lock = threading.RLock()
        self._reset(None)

    def _reset(self, key: tuple[int, int] | None) -> None:
        self._study_key = key
        self._learner: _Learner | None = None
        self._storage_checked = False
        self._warned = False
        self._seen: set[int] = set()  # finished trials already looked at
        self._pending: dict[int, tuple[list[int], float, list[float]]] = {}  # usable, not yet learned from
        self._inferred: dict[str, CategoricalDistribution] | None = None  # intersection of complete trials
        self._order: tuple[int, list[str]] = (-1, [])  # (trial number, its parameter order), earliest trial

    # -- read-only views, for logs, reports and tests ----------------------------------------------

    @property
    def num_updates(self) -> int:
        """Policy updates made so far in the current study (restored ones included)."""
        return 0 if self._learner is None else self._learner.num_updates

    @property
    def policy(self) -> Policy | None:
        """The policy network, once the search space is known."""
        return None if self._learner is None else self._learner.policy

    @property
    def baseline(self) -> float | None:
        """The moving-average reward baseline."""
        return None if self._learner is None else self._learner.baseline.mean

    @property
    def seed(self) -> int:
        return self._seed if self._learner is None else self._learner.seed

    def most_likely_params(self) -> dict[str, Any]:
        """The policy's most likely decisions, decision by decision (its current best guess)."""
        if self._learner is None:
            return {}
        with _one_thread():
            probs = self._learner.policy.probabilities()
        return {n: self._learner.space[n].choices[int(np.argmax(p))] for n, p in zip(self._learner.names, probs, strict=True)}

    # -- the Optuna sampler interface --------------------------------------------------------------

    def reseed_rng(self) -> None:
        # Optuna reseeds so that parallel workers do not repeat each other's draws. Here trial n
        # already draws from (seed, n), so workers never collide, and keeping the seed keeps a
        # study reproducible and its stored state consistent.
        return

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        _check_single_objective(study)
        with self._lock, _one_thread():
            learner = self._sync(study)
            if learner is None:
                return {}
            current = self._known_space()
            return {n: d for n, d in learner.space.items() if current.get(n) == d}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        _check_single_objective(study)
        if not search_space:
            return {}
        with self._lock, _one_thread():
            learner = self._sync(study)
            params = {} if learner is None else self._sample_policy(study, trial, learner, search_space)
            for name, dist in search_space.items():
                if name not in params:
                    params[name] = self._sample_random(study, trial, name, dist)
            return params

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        _check_single_objective(study)
        return self._sample_random(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # Restore and catch up here, so even a trial that suggests nothing sees an up-to-date policy.
        with self._lock, _one_thread():
            self._sync(study)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        # The storage still shows the trial RUNNING here, so it is handed over explicitly.
        with self._lock, _one_thread():
            self._sync(study, told=(trial, state, values))

    # -- internals ---------------------------------------------------------------------------------

    def _sample_random(self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        seed = _derived_seed(self.seed, trial.number, zlib.crc32(name.encode()))
        return RandomSampler(seed=seed % 2**32).sample_independent(study, trial, name, dist)

    def _known_space(self) -> dict[str, CategoricalDistribution]:
        if self._given_space is not None:
            return self._given_space
        if not self._inferred:
            return {}
        order = {name: i for i, name in enumerate(self._order[1])}
        return dict(sorted(self._inferred.items(), key=lambda item: order.get(item[0], len(order))))

    def _sync(self, study: Study, told: tuple | None = None) -> _Learner | None:
        """The learner for ``study`` (restored from its storage, or new once the space is known), up to date."""
        key = (id(study._storage), study._study_id)
        if key != self._study_key:
            self._reset(key)
        if self._learner is None and not self._storage_checked:
            self._storage_checked = True
            payload = state.load(study._storage, study._study_id)
            if payload is not None:
                self._learner = _Learner.from_payload(payload, self.config)
                _logger.info("controller restored from the study: %d updates, seed %d (this sampler's seed %d "
                             "is not used)", self._learner.num_updates, self._learner.seed, self._seed)
        self._scan(study, told)
        if self._learner is None:
            space = self._known_space()
            if not space:
                return None
            self._learner = _Learner(space, self.config, self._seed)
            self._save(study)
            self._seen.clear()  # look at every finished trial again, now as training data
            self._scan(study, told)
        self._learn(study, self._learner)
        return self._learner

    def _scan(self, study: Study, told: tuple | None) -> None:
        """Take in the trials that finished since the last look, each exactly once."""
        finished = study._get_trials(deepcopy=False, states=_FINISHED, use_cache=True)
        new = [(t, t.state, t.values) for t in finished if t.number not in self._seen]
        if told is not None and told[0].number not in self._seen:
            new.append(told)
        for trial, state_, values in new:
            self._seen.add(trial.number)
            if state_ == TrialState.COMPLETE:
                self._intersect(trial)
            learner = self._learner
            if learner is not None and trial.number not in learner.consumed:
                row = self._row(study, learner, trial, state_, values)
                if row is None:
                    learner.consumed.add(trial.number)  # never usable: do not look at it again
                    self._note_unusable(learner, trial, state_)
                else:
                    self._pending[trial.number] = row

    def _note_unusable(self, learner: _Learner, trial: FrozenTrial, state_: TrialState) -> None:
        if self._warned or state_ != TrialState.COMPLETE or learner.actions_of(trial.params, trial.distributions):
            return
        self._warned = True  # once: conditional spaces would otherwise repeat it every trial
        _logger.warning("trial %d did not make every decision the controller learns (%s ...) with the same "
                        "choices; such trials are not learned from", trial.number, ", ".join(learner.names[:3]))

    def _intersect(self, trial: FrozenTrial) -> None:
        """Keep the inferred space to the controllable params every complete trial suggested alike."""
        dists = _controllable(trial.distributions)
        if self._inferred is None:
            self._inferred = dists
        else:
            self._inferred = {n: d for n, d in self._inferred.items() if dists.get(n) == d}
        if self._order[0] < 0 or trial.number < self._order[0]:
            self._order = (trial.number, list(trial.distributions))

    def _sample_policy(self, study: Study, trial: FrozenTrial, learner: _Learner,
                       search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        fixed = trial.system_attrs.get("fixed_params") or {}
        forced = {}
        for t, name in enumerate(learner.names):
            if name in fixed and fixed[name] in learner.space[name].choices:
                forced[t] = learner.space[name].choices.index(fixed[name])
        actions, logps = learner.policy.sample(_trial_generator(learner.seed, trial.number), forced)
        record = {"actions": actions, "update": learner.num_updates}
        if not forced:  # pinned choices were not drawn from the policy: no behaviour probability
            record["logp"] = logps
        study._storage.set_trial_system_attr(trial._trial_id, TRIAL_ATTR, record)
        return {
            name: learner.space[name].choices[a]
            for name, a in zip(learner.names, actions, strict=True)
            if search_space.get(name) == learner.space[name]
        }

    def _reward(self, study: Study, state_: TrialState, values: Sequence[float] | None) -> float | None:
        if state_ == TrialState.COMPLETE and values:
            value = float(values[0])
            if not math.isfinite(value):
                return None
            return -value if study.direction == StudyDirection.MINIMIZE else value
        if state_ in (TrialState.FAIL, TrialState.PRUNED):
            return self.config.failed_reward
        return None

    def _row(self, study: Study, learner: _Learner, trial: FrozenTrial, state_: TrialState,
             values: Sequence[float] | None) -> tuple[list[int], float, list[float]] | None:
        reward = self._reward(study, state_, values)
        actions = learner.actions_of(trial.params, trial.distributions) if reward is not None else None
        if actions is None:
            return None
        record = trial.system_attrs.get(TRIAL_ATTR) or {}
        logp = record.get("logp")
        if record.get("actions") != actions or not isinstance(logp, list) or len(logp) != len(actions):
            logp = [math.nan] * len(actions)  # not sampled by a policy: learn as if on-policy
        return actions, reward, logp

    def _learn(self, study: Study, learner: _Learner) -> None:
        """Make every update that ``batch_size`` pending trials allow, oldest trials first."""
        size = self.config.batch_size
        while len(self._pending) >= size:
            batch = sorted(self._pending)[:size]
            self._update(learner, [self._pending.pop(n) for n in batch])
            learner.consumed.update(batch)
            self._save(study)

    def _update(self, learner: _Learner, rows: list[tuple[list[int], float, list[float]]]) -> None:
        batch = Batch(
            actions=torch.tensor([r[0] for r in rows], dtype=torch.long),
            rewards=torch.tensor([r[1] for r in rows], dtype=torch.float32),
            logp_old=torch.tensor([r[2] for r in rows], dtype=torch.float32),
        )
        cfg = self.config
        stats = policy_update(learner.policy, learner.optimizer, batch, learner.baseline, algorithm=cfg.algorithm,
                              epochs=cfg.epochs, clip=cfg.clip, entropy_weight=cfg.entropy_weight)
        learner.num_updates += 1
        _logger.debug("controller update %d: %s", learner.num_updates, stats)

    def _save(self, study: Study) -> None:
        assert self._learner is not None
        payload = {**self._learner.to_payload(), "config": asdict(self.config)}
        state.save(study._storage, study._study_id, payload, self._learner.num_updates)


def _controllable(space: dict[str, BaseDistribution]) -> dict[str, CategoricalDistribution]:
    """The parameters a policy can choose: categorical, with at least two choices."""
    return {n: d for n, d in space.items() if isinstance(d, CategoricalDistribution) and len(d.choices) > 1}


def _check_single_objective(study: Study) -> None:
    if study._is_multi_objective():
        raise ControllerError(
            f"MnasSampler optimises one reward but study {study.study_name!r} has {len(study.directions)} "
            "objectives; combine them into one value (as effsearch baseline does) or use NSGAIISampler"
        )
