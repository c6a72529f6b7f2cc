"""MnasSampler: the MNAS controller as an Optuna sampler that works in any study over categoricals.

How it plugs into Optuna:

* **Search space.** The categorical parameters (two or more choices) that every completed trial
  suggested with the same choices, in the order the earliest complete trial suggested them, or the
  ``search_space`` given to the constructor (then even the first trial comes from the policy).
  Everything else (floats, ints, parameters outside that space) is sampled uniformly at random,
  and so is every parameter of the first trial when the space is not given.
* **Reward.** A complete trial's value (negated for ``minimize`` studies). Failed and pruned trials
  are skipped unless ``failed_reward`` is set, in which case they count as that reward: use 0 for
  an accuracy-times-cost reward, where "it did not train" is the worst outcome.
  Under a successive-halving or Hyperband pruner the reward is each trial's first rung instead, taken as
  soon as it is reported (:mod:`effsearch.controller.rewards` says why). Multi-objective studies are
  rejected; combine the objectives into one reward (as ``effsearch baseline`` does) or use NSGA-II.
* **Learning.** Every ``batch_size`` finished trials, in trial-number order, make one policy update
  (PPO by default, see :mod:`effsearch.controller.ppo`). Finished trials are collected both when
  this process tells a trial (``after_trial``) and when it samples one, so trials that finish out of
  order, in other processes or while this one was down are all learned from exactly once.
* **Proposals.** By default each trial is a new architecture: of 8 policy proposals, 2 one-decision
  neighbours of the best trial and the optima of 2 surrogate draws, the best under the surrogate's
  posterior mean (:mod:`effsearch.controller.propose`); once repeats show noise, every 4th trial
  re-measures the believed-best one (:mod:`effsearch.controller.remeasure`). Only policy proposals
  are learned from. ``unique=False, proposals=1, remeasure=0`` is the plain MNAS policy.
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
import threading
import zlib
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
from optuna.distributions import CategoricalDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.trial import TrialState

from effsearch.controller import state
from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.inferred import InferredSpace
from effsearch.controller.learner import (
    TRIAL_ATTR,
    Learner,
    check_single_objective,
    controllable,
    derived_seed,
    new_seed,
    one_thread,
)
from effsearch.controller.propose import Tried, propose
from effsearch.controller.remeasure import remeasure_target
from effsearch.controller.rewards import first_rung, training_row

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from optuna.distributions import BaseDistribution
    from optuna.study import Study
    from optuna.trial import FrozenTrial

    from effsearch.controller.policy import Policy

_FINISHED = (TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)
_logger = logging.getLogger(__name__)


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
        fidelity: which value is a trial's reward: ``"final"``, ``"first"`` or ``"auto"`` (controller.rewards).
        scale_decay: decay of the running RMS that scales advantages (default: ``baseline_decay``).
        unique: propose only architectures the study has not tried yet (default True).
        proposals, screen: policy proposals per trial (default 8); above 1 the surrogate picks the one evaluated, by
            its posterior mean (``screen="mean"``, the default) or a Thompson draw (``"draw"``).
        ranks: fit that surrogate on the normal scores of the values' ranks (default True; not with ``reward_factor``).
        local, anchors, optima: ``local`` one-decision neighbours of the ``anchors`` best distinct trials by single
            value (default 2, of 1) and the optima of ``optima`` extra surrogate draws (default 2) join the screen.
        remeasure: share of trials that re-evaluate the believed-best architecture while noise shows (default 0.25).
        search_space: ``{name: CategoricalDistribution}`` to control from the first trial, in this
            order (e.g. ``effsearch.search.space.load_space("mnasnet").distributions()``); default: inferred.
        reward_factor: ``f(params) -> float``, the reward's known cost term (0: rejected), for the screen (controller.propose).

    ``reseed_rng()`` keeps the seed on purpose: trial ``n`` draws from ``(seed, n)``, so parallel
    workers never collide and a study stays reproducible. Pickles and deep-copies with its state.

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
        batch_size: int = ControllerConfig.batch_size, epochs: int = ControllerConfig.epochs,
        clip: float = ControllerConfig.clip, entropy_weight: float = ControllerConfig.entropy_weight,
        baseline_decay: float = ControllerConfig.baseline_decay, hidden_size: int = ControllerConfig.hidden_size,
        embed_size: int = ControllerConfig.embed_size, failed_reward: float | None = None, optima: int = ControllerConfig.optima,
        search_space: dict[str, BaseDistribution] | None = None,
        fidelity: str = ControllerConfig.fidelity, scale_decay: float | None = None, screen: str = ControllerConfig.screen,
        unique: bool = ControllerConfig.unique, proposals: int = ControllerConfig.proposals, local: int = ControllerConfig.local,
        remeasure: float = ControllerConfig.remeasure, anchors: int = ControllerConfig.anchors, ranks: bool = ControllerConfig.ranks,
        reward_factor: Callable[[dict[str, Any]], float] | None = None,
    ) -> None:
        self.config = ControllerConfig(
            algorithm=algorithm, lr=lr, batch_size=batch_size, epochs=epochs, clip=clip,
            entropy_weight=entropy_weight, baseline_decay=baseline_decay, hidden_size=hidden_size,
            embed_size=embed_size, failed_reward=failed_reward, fidelity=fidelity, scale_decay=scale_decay,
            unique=unique, proposals=proposals, local=local, remeasure=remeasure, anchors=anchors, optima=optima, ranks=ranks,
            screen=screen,
        )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ControllerError(f"controller seed {seed!r} must be an integer or None")
        self._seed = new_seed() if seed is None else seed
        self._given_space = controllable(search_space or {}) if search_space is not None else None
        if search_space is not None and not self._given_space:
            raise ControllerError("controller search_space has no categorical parameter with two or more choices")
        self._factor = reward_factor
        self._lock = threading.RLock()
        self._reset(None)

    def _reset(self, key: tuple[int, int] | None) -> None:
        self._study_key = key
        self._learner: Learner | None = None
        self._storage_checked = False
        self._warned = False
        self._seen: set[int] = set()  # finished trials already looked at
        self._pending: dict[int, tuple[list[int], float, list[float]]] = {}  # usable, not yet learned from
        self._rows: dict[int, tuple[list[int], float]] = {}  # every usable trial: the surrogate's data
        self._tried = Tried()  # every trial's architecture, as actions
        self._inferred = InferredSpace()  # what complete trials agree on, when no space was given
        self._factors: dict[tuple[int, ...], float] = {}  # reward_factor by actions

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
    def history(self) -> list[dict[str, float]]:
        """One row per policy update: entropy (and its share of uniform), batch reward, baseline, advantage scale."""
        return [] if self._learner is None else [dict(row) for row in self._learner.history]

    @property
    def seed(self) -> int:
        return self._seed if self._learner is None else self._learner.seed

    def most_likely_params(self) -> dict[str, Any]:
        """The policy's most likely decisions, decision by decision (its current best guess)."""
        if self._learner is None:
            return {}
        with one_thread():
            probs = self._learner.policy.probabilities()
        return {n: self._learner.space[n].choices[int(np.argmax(p))] for n, p in zip(self._learner.names, probs, strict=True)}

    # -- the Optuna sampler interface --------------------------------------------------------------

    def reseed_rng(self) -> None:  # deliberately keeps the seed: see the class docstring
        pass

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        check_single_objective(study)
        with self._lock, one_thread():
            learner = self._sync(study)
            if learner is None:
                return {}
            current = self._known_space()
            return {n: d for n, d in learner.space.items() if current.get(n) == d}

    def sample_relative(self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        check_single_objective(study)
        if not search_space:
            return {}
        with self._lock, one_thread():
            learner = self._sync(study)
            params = {} if learner is None else self._sample_policy(study, trial, learner, search_space)
            for name, dist in search_space.items():
                if name not in params:
                    params[name] = self._sample_random(study, trial, name, dist)
            return params

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        check_single_objective(study)
        return self._sample_random(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        # Restore and catch up here, so even a trial that suggests nothing sees an up-to-date policy.
        with self._lock, one_thread():
            self._sync(study)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        # The storage still shows the trial RUNNING here, so it is handed over explicitly.
        with self._lock, one_thread():
            self._sync(study, told=(trial, state, values))

    # -- internals ---------------------------------------------------------------------------------

    def _sample_random(self, study: Study, trial: FrozenTrial, name: str, dist: BaseDistribution) -> Any:
        seed = derived_seed(self.seed, trial.number, zlib.crc32(name.encode()))
        return RandomSampler(seed=seed % 2**32).sample_independent(study, trial, name, dist)

    def _known_space(self) -> dict[str, CategoricalDistribution]:
        return self._given_space if self._given_space is not None else self._inferred.space()

    def _sync(self, study: Study, told: tuple | None = None) -> Learner | None:
        """The learner for ``study`` (restored from its storage, or new once the space is known), up to date."""
        key = (id(study._storage), study._study_id)
        if key != self._study_key:
            self._reset(key)
        if self._learner is None and not self._storage_checked:
            self._storage_checked = True
            payload = state.load(study._storage, study._study_id)
            if payload is not None:
                self._learner = Learner.from_payload(payload, self.config)
                _logger.info("controller restored from the study: %d updates, seed %d (this sampler's seed %d "
                             "is not used)", self._learner.num_updates, self._learner.seed, self._seed)
        self._scan(study, told)
        if self._learner is None:
            space = self._known_space()
            if not space:
                return None
            self._learner = Learner(space, self.config, self._seed)
            self._save(study)
            self._seen.clear()  # look at every finished trial again, now as training data
            self._scan(study, told)
        self._learn(study, self._learner)
        return self._learner

    def _scan(self, study: Study, told: tuple | None) -> None:
        """Take in the trials that finished (or, learning from the first rung, reported it) since the last look, once each."""
        first = first_rung(study, self.config.fidelity)
        states = (*_FINISHED, TrialState.RUNNING) if first else _FINISHED
        finished = study._get_trials(deepcopy=False, states=states, use_cache=True)
        new = [(t, t.state, t.values) for t in finished if t.number not in self._seen
               and (t.state != TrialState.RUNNING or t.intermediate_values)]
        if told is not None and told[0].number not in self._seen:
            new = [n for n in new if n[0].number != told[0].number] + [told]
        for trial, state_, values in new:
            running = state_ == TrialState.RUNNING  # its first rung is in; it is looked at again once finished
            if not running:
                self._seen.add(trial.number)
            if state_ == TrialState.COMPLETE:
                self._inferred.take(trial)
            learner = self._learner
            row = None if learner is None else training_row(study, learner, trial, state_, values, self.config)
            if row is not None:
                self._rows[trial.number] = (row[0], row[1])
            if learner is not None and trial.number not in learner.consumed and not (running and trial.number in self._pending):
                # Re-measurements and neighbours were not drawn from the policy: they inform the surrogate only.
                record = trial.system_attrs.get(TRIAL_ATTR) or {}
                if row is None or record.get("remeasure") or record.get("local"):
                    learner.consumed.add(trial.number)  # never learned from: do not look at it again
                    if row is None:
                        self._note_unusable(learner, trial, state_)
                else:
                    self._pending[trial.number] = row

    def _note_unusable(self, learner: Learner, trial: FrozenTrial, state_: TrialState) -> None:
        if self._warned or state_ != TrialState.COMPLETE or learner.actions_of(trial.params, trial.distributions):
            return
        self._warned = True  # once: conditional spaces would otherwise repeat it every trial
        _logger.warning("trial %d did not make every decision the controller learns (%s ...) with the same "
                        "choices; such trials are not learned from", trial.number, ", ".join(learner.names[:3]))

    def _sample_policy(self, study: Study, trial: FrozenTrial, learner: Learner,
                       search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        fixed = trial.system_attrs.get("fixed_params") or {}
        forced = {}
        for t, name in enumerate(learner.names):
            if name in fixed and fixed[name] in learner.space[name].choices:
                forced[t] = learner.space[name].choices.index(fixed[name])
        cfg, rows, factor = self.config, list(self._rows.values()), (self._factor_of if self._factor else None)
        again = None if forced else remeasure_target(rows, learner.policy.sizes, trial.number, cfg.remeasure)
        if again is not None:
            actions, record = again, {"actions": again, "update": learner.num_updates, "remeasure": True}
        else:
            if cfg.unique:
                self._tried.update(study, learner, TRIAL_ATTR)
            settings = {k: getattr(cfg, k) for k in ("proposals", "unique", "local", "anchors", "optima", "ranks", "screen")}
            actions, logps, flags = propose(learner, trial.number, forced, tried=self._tried.keys, rows=rows, factor=factor, **settings)
            record = {"actions": actions, "update": learner.num_updates, **flags}
            if not forced:  # pinned choices were not drawn from the policy: no behaviour probability
                record["logp"] = logps
        study._storage.set_trial_system_attr(trial._trial_id, TRIAL_ATTR, record)
        return {
            name: learner.space[name].choices[a]
            for name, a in zip(learner.names, actions, strict=True)
            if search_space.get(name) == learner.space[name]
        }

    def _factor_of(self, actions: Sequence[int]) -> float:
        key, learner = tuple(actions), self._learner
        if key not in self._factors:
            self._factors[key] = float(self._factor({n: learner.space[n].choices[a] for n, a in zip(learner.names, key, strict=True)}))
        return self._factors[key]

    def _learn(self, study: Study, learner: Learner) -> None:
        """Make every update that ``batch_size`` pending trials allow, oldest trials first."""
        size = self.config.batch_size
        while len(self._pending) >= size:
            batch = sorted(self._pending)[:size]
            stats = learner.update([self._pending.pop(n) for n in batch], self.config, last_trial=batch[-1])
            _logger.debug("controller update %d: %s", learner.num_updates, stats)
            learner.consumed.update(batch)
            self._save(study)

    def _save(self, study: Study) -> None:
        assert self._learner is not None
        payload = {**self._learner.to_payload(), "config": asdict(self.config)}
        state.save(study._storage, study._study_id, payload, self._learner.num_updates)
