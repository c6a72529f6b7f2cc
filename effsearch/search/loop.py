"""The ask/tell loop: keep up to ``capacity`` trainings in flight and feed every result to the study.

The main process owns the study and the sampler. For each free worker it asks the study for a
trial, turns the sampler's decisions into a spec, counts its cost (the objective's, measured once
per architecture) and then either *rejects* it untrained when it is far over budget (reward 0,
``rejected``), *reuses* the result of the same architecture (``cached``; or waits while that one
trains, so nothing is trained twice), or trains it: once per seed of its rung, rung after rung
while it is promoted (:mod:`effsearch.search.rungs`), telling the study when it completes the top
rung or stops below it. A failed evaluation is told as FAIL with its reason and the loop goes on.

**Reproducible with many workers.** Results are landed in the order their trainings were submitted,
and new trials are asked for only between two landings (at most ``L`` trainings in flight: one per
worker plus one queued per worker). Every sampler and every promotion therefore sees the same
history whatever order the workers finish in: the same settings and worker count give the same search.

A requested stop (:mod:`effsearch.runtime.stop`) or Ctrl-C fails the trials in flight as
``interrupted`` and queues their architectures again; after a SIGKILL the next run does the same on
start-up, and finished rungs are replayed from their records.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections import deque
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.errors import EffsearchError
from effsearch.runtime import stop
from effsearch.search.config import SearchConfig
from effsearch.search.flight import Flight, blocks_key, in_flight_limit, proxy_summary
from effsearch.search.heartbeat import Heartbeat
from effsearch.search.objectives import MeasureContext, get_objective
from effsearch.search.reward import RewardConfig, over_budget, rejection, reward
from effsearch.search.rungs import RUNG_ATTRS, SEED_ATTR, RungMemo, Rungs, mean, promotable
from effsearch.search.study import ArchCache, counts_as_finished, flat_attrs, nested_attrs, owner_record, requeue
from effsearch.search.worker import Candidate


class SearchLoop:
    """Runs trials until the study holds ``search.trials`` finished ones or ``search.timeout`` passes."""

    def __init__(self, study: optuna.Study, space: Any, *, search: SearchConfig, reward_config: RewardConfig,
                 proxy: Any, executor: Any, sampler_name: str,
                 on_trial: Callable[[FrozenTrial], None] | None = None,
                 on_rung: Callable[[optuna.Trial, dict[str, Any]], None] | None = None,
                 started: float | None = None) -> None:
        self.study, self.space, self.search, self.reward = study, space, search, reward_config
        self.proxy, self.executor, self.sampler_name = proxy, executor, sampler_name
        self.rungs: Rungs = search.rungs
        self.on_trial = on_trial or (lambda trial: None)
        self.on_rung = on_rung or (lambda trial, record: None)
        self.started = time.monotonic() if started is None else started  # --timeout counts from here
        self.cache = ArchCache()
        self.memo = RungMemo()
        self.memo.update(study.get_trials(deepcopy=False))
        self.objective = get_objective(reward_config.objective)
        self.measure = MeasureContext(latency_device=search.latency_device, latency_threads=search.latency_threads)
        self._seed_latency_cache()
        self.finished_here = 0
        self._tickets: dict[int, tuple[Flight, int]] = {}  # ticket -> (flight, seed) training now
        self._order: deque[int] = deque()  # tickets in the order they were submitted
        self._results: dict[int, dict[str, Any]] = {}  # finished, waiting for their turn to be landed
        self._limit = in_flight_limit(executor.capacity)
        self._deadline: float | None = None
        self._active: dict[str, Flight] = {}  # architectures being evaluated, by key
        self._waiting: dict[str, list[Flight]] = {}
        self._heartbeat = Heartbeat(study._storage)
        self._owner = owner_record()
        self._starting: optuna.Trial | None = None

    def _seed_latency_cache(self) -> None:
        """Latency measured by earlier runs of this study is reused, not measured again."""
        for trial in self.study.get_trials(deepcopy=False):
            value, key = trial.user_attrs.get("latency_ms"), trial.user_attrs.get("blocks")
            if key and isinstance(value, (int, float)) and value > 0:
                self.measure.cache.setdefault(key, float(value))

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Search until done; returns how many trials finished in this call."""
        self._deadline = None if self.search.timeout is None else self.started + self.search.timeout
        try:
            while True:
                stop.check()
                self._fill()
                if not self._tickets:
                    break
                for ticket, metrics in self.executor.wait():
                    self._results[ticket] = metrics
                while self._order and self._order[0] in self._results:  # in submitting order, each followed by its ask
                    ticket = self._order.popleft()
                    self._land(ticket, self._results.pop(ticket))
                    self._fill()
        except BaseException:
            self.abort("the run stopped (interrupted or crashed) before the trial finished; queued again")
            raise
        finally:
            self._heartbeat.close()
        return self.finished_here

    def budget_left(self) -> int:
        """Trials still to start: the target minus the study's finished and running trials."""
        trials = self.study.get_trials(deepcopy=False)
        self.cache.update(trials)  # results from other processes sharing the study
        finished = sum(counts_as_finished(t) for t in trials)
        running = sum(t.state == TrialState.RUNNING for t in trials)
        return self.search.trials - finished - running

    def _fill(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return  # no new candidate; promotions of those in flight go on (see docs/search.md)
        while len(self._tickets) < self._limit and self.budget_left() > 0:
            stop.check()
            with warnings.catch_warnings():
                # Optuna warns that heartbeats are meant for Study.optimize; this loop records them itself.
                warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
                trial = self.study.ask()
            self._starting = trial  # until it is told or in flight, abort() must know about it
            self._start(trial)
            self._starting = None

    # --- one trial --------------------------------------------------------------------------------

    def _start(self, trial: optuna.Trial) -> None:
        for key, value in flat_attrs("owner", self._owner).items():
            trial.set_user_attr(key, value)
        trial.set_user_attr("sampler", self.sampler_name)
        try:
            spec = self.space.suggest(trial)
            counted = count(spec)
        except EffsearchError as exc:  # a combination of decisions the space cannot build
            self._tell_failed(trial, f"invalid architecture: {exc}")
            return
        except Exception as exc:
            self._tell_failed(trial, f"could not build the candidate: {type(exc).__name__}: {exc}")
            raise
        key = blocks_key(spec)
        for name, value in (("blocks", key), ("params", counted.params), ("macs", counted.macs)):
            trial.set_user_attr(name, value)
        try:
            cost = self._cost(trial, spec, key, counted.macs)
        except Exception as exc:  # a measured objective (latency) can fail for one candidate
            self._tell_failed(trial, f"could not measure {self.objective.label}: {type(exc).__name__}: {exc}"[:500])
            return
        flight = Flight(trial=trial, spec=spec, key=key, params=counted.params, macs=counted.macs, cost=cost)
        trial.set_user_attr("over_budget", over_budget(cost, self.reward))
        self._dispatch(flight)

    def _cost(self, trial: optuna.Trial, spec: NetSpec, key: str, macs: int) -> float:
        """The objective's value for the candidate (recorded with the trial); latency also when asked."""
        if self.search.latency and self.objective.name != "latency_ms":
            trial.set_user_attr("latency_ms", self._measured(get_objective("latency_ms"), spec, key))
        if self.objective.name == "macs":
            return float(macs)
        cost = self._measured(self.objective, spec, key)
        trial.set_user_attr(self.objective.name, cost)
        return cost

    def _measured(self, objective: Any, spec: NetSpec, key: str) -> float:
        if objective.machine_dependent:
            if key not in self.measure.cache:
                self.measure.cache[key] = objective.measure(spec, self.measure)
            return self.measure.cache[key]
        return objective.measure(spec, self.measure)

    def _dispatch(self, flight: Flight) -> None:
        reason = rejection(flight.cost, self.reward)
        if reason is not None:
            self._tell(flight, "rejected", reason, accuracy=None, proxy={})
        elif (done := self.cache.get(flight.key)) is not None:
            self._tell_cached(flight, done)
        elif flight.key in self._active:
            self._waiting.setdefault(flight.key, []).append(flight)
            self._heartbeat.track(flight.trial)
        else:
            self._active[flight.key] = flight
            self._heartbeat.track(flight.trial)
            self._train(flight)

    def _train(self, flight: Flight) -> None:
        """Train ``flight`` at its rung: every seed of the rung not already recorded (a replay after a kill)."""
        k = flight.rung
        flight.want, flight.results = self.rungs.seeds_at(k, self.search.seed), {}
        for seed in flight.want:
            if (record := self.memo.get(flight.key, k, seed)) is not None:
                flight.results[seed] = record
        missing = [s for s in flight.want if s not in flight.results]
        if not missing:
            self._rung_done(flight)
            return
        proxy = self.rungs.budget(self.proxy, k)
        for seed in missing:
            ticket = self.executor.submit(Candidate(number=flight.trial.number, spec=flight.spec, proxy=proxy, seed=seed))
            self._tickets[ticket] = (flight, seed)
            self._order.append(ticket)

    def _land(self, ticket: int, metrics: dict[str, Any]) -> None:
        flight, seed = self._tickets.pop(ticket)
        if flight.dead:
            return  # another seed of its rung failed and the trial was told as failed
        if metrics.get("status") != "ok":
            flight.dead = True
            self._tell_failed(flight.trial, str(metrics.get("reason") or "unknown failure"), proxy_summary(metrics))
            self._release(flight)
            return
        flight.results[seed] = metrics
        if self.rungs.multi or self.rungs.seeds > 1:  # kept at once: a killed run replays it
            record = {"accuracy": float(metrics["accuracy"]), "proxy": proxy_summary(metrics)}
            flight.trial.set_user_attr(SEED_ATTR.format(rung=flight.rung, seed=seed), record)
            self.memo.put(flight.key, flight.rung, seed, record)
        if all(s in flight.results for s in flight.want):
            self._rung_done(flight)

    def _rung_done(self, flight: Flight) -> None:
        """Every seed of the flight's rung is in: promote it, prune it, or (top rung) complete it."""
        k, trial = flight.rung, flight.trial
        accuracies = [float(flight.results[s]["accuracy"]) for s in flight.want]
        accuracy = mean(accuracies)
        score = reward(accuracy, flight.cost, self.reward)
        first = flight.results[flight.want[0]]
        proxy = first.get("proxy") if "proxy" in first else proxy_summary(first)
        if self.rungs.multi:
            trial.set_user_attr(f"rung{k}_accuracy", accuracy)
            trial.set_user_attr(f"rung{k}_reward", score)
            trial.set_user_attr("rung", k)
        if len(accuracies) > 1:
            trial.set_user_attr("seed_accuracies", accuracies)
        if k == self.rungs.top:
            if not self.rungs.multi:
                self._report_curve(trial, flight.results[flight.want[0]])
            done = self._tell(flight, "ok", None, accuracy=accuracy, proxy=proxy)
            self.cache.update([done])
            self._release(flight)
            return
        late = self._deadline is not None and time.monotonic() >= self._deadline
        promoted = self._promote(trial, k, score, decide=not late)
        trial.set_user_attr(f"rung{k}_promoted", promoted)
        if promoted:  # a candidate that stops here gets its trial line when it is told
            self.on_rung(trial, {"rung": k, "accuracy": accuracy, "reward": score, "promoted": promoted})
            flight.rung += 1
            self._train(flight)
            return
        # Past --timeout nothing is promoted, so the run ends within one rung's training of it; such a
        # candidate was not judged, so a later run that meets it again trains it (not cached).
        reason = f"the time limit ran out before rung {k + 1}" if late else None
        done = self._tell(flight, "ok", reason, accuracy=accuracy, proxy=proxy, state=TrialState.PRUNED)
        if not late:
            self.cache.update([done])
        self._release(flight)

    def _promote(self, trial: optuna.Trial, rung: int, score: float, *, decide: bool = True) -> bool:
        """Optuna's successive-halving pruner decides (single reward); NSGA-II's studies use its rule on the reward."""
        if self.search.objectives == 1:
            trial.report(score, self.rungs.step(rung))
            return decide and not trial.should_prune()
        if not decide:
            return False
        name = f"rung{rung}_reward"
        competing = [t.user_attrs[name] for t in self.study.get_trials(deepcopy=False)
                     if t.number != trial.number and isinstance(t.user_attrs.get(name), (int, float))
                     and t.user_attrs.get("cached_from") is None]
        return promotable(score, competing, self.rungs.factor)

    def _release(self, flight: Flight) -> None:
        """The flight is told: identical architectures waiting for it reuse its result (or train, if it failed)."""
        if self._active.get(flight.key) is flight:
            del self._active[flight.key]
        for waiter in self._waiting.pop(flight.key, []):
            self._heartbeat.untrack(waiter.trial)
            self._dispatch(waiter)

    def _report_curve(self, trial: optuna.Trial, metrics: dict[str, Any]) -> None:
        """Validation accuracy per epoch as Optuna intermediate values, so its pruners and dashboards see curves.

        Where the evaluator computed no curve, the final accuracy is reported at the epoch it was
        reached. Multi-objective studies have no intermediate values in Optuna. With several rungs
        the intermediate values are the rungs' rewards instead (reported as each rung ends).
        """
        if self.search.objectives != 1:
            return
        curve = [a for a in metrics.get("accuracy_curve") or () if isinstance(a, (int, float)) and math.isfinite(a)]
        for epoch, value in enumerate(curve, start=1):
            trial.report(float(value), epoch)
        epochs = metrics.get("epochs")
        if not curve and isinstance(epochs, (int, float)) and epochs > 0:
            trial.report(float(metrics["accuracy"]), max(1, math.ceil(epochs - 1e-9)))

    # --- telling the study ------------------------------------------------------------------------

    def _tell(self, flight: Flight, status: str, reason: str | None, *, accuracy: float | None,
              proxy: dict[str, Any], cached_from: int | None = None,
              state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
        acc = 0.0 if accuracy is None else accuracy  # rejected: never trained, scored as worthless
        score = reward(acc, flight.cost, self.reward)
        attrs = {"status": status, "reason": reason, "accuracy": accuracy, "reward": score, **flat_attrs("proxy", proxy)}
        if cached_from is not None:
            attrs["cached_from"] = cached_from
        for key, value in attrs.items():
            flight.trial.set_user_attr(key, value)
        if state == TrialState.PRUNED:  # Optuna takes a pruned trial's value from its last report
            return self._finish(flight.trial, values=None, state=state)
        values = [score] if self.search.objectives == 1 else [acc, float(flight.cost)]
        return self._finish(flight.trial, values=values, state=state)

    def _tell_cached(self, flight: Flight, done: FrozenTrial) -> None:
        if self.search.objectives == 1:
            for step, value in sorted(done.intermediate_values.items()):  # the curve (or rungs) it would have had
                flight.trial.report(value, step)
        for key, value in done.user_attrs.items():
            if key in RUNG_ATTRS or key.startswith("rung"):
                flight.trial.set_user_attr(key, value)
        self._tell(flight, "cached", f"same architecture as trial {done.number}", accuracy=done.user_attrs["accuracy"],
                   proxy=nested_attrs(done.user_attrs, "proxy"), cached_from=done.number, state=done.state)

    def _tell_failed(self, trial: optuna.Trial, reason: str, proxy: dict[str, Any] | None = None) -> None:
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("reason", reason)
        for key, value in flat_attrs("proxy", proxy or {}).items():
            trial.set_user_attr(key, value)
        self._finish(trial, values=None, state=TrialState.FAIL)

    def _finish(self, trial: optuna.Trial, *, values: list[float] | None, state: TrialState) -> FrozenTrial:
        self._heartbeat.untrack(trial)
        frozen = self.study.tell(trial, values, state=state)
        self.finished_here += 1
        self.on_trial(frozen)
        return frozen

    def abort(self, reason: str) -> None:
        """Fail every trial in flight as ``interrupted`` and queue its architecture again."""
        trials = [f.trial for f in self._active.values() if not f.dead] + \
                 [w.trial for ws in self._waiting.values() for w in ws]
        if self._starting is not None and self._starting not in trials:
            trials.append(self._starting)  # stopped while its decisions were being made
        self._tickets.clear()
        self._order.clear()
        self._results.clear()
        self._waiting.clear()
        self._active.clear()
        self._starting = None
        for trial in trials:
            try:
                trial.set_user_attr("status", "interrupted")
                trial.set_user_attr("reason", reason)
                self.study.tell(trial, state=TrialState.FAIL)
                requeue(self.study, self.study.get_trials(deepcopy=False)[trial.number])
            except Exception:  # e.g. told already; the next run's stale-trial recovery catches the rest
                continue
        with contextlib.suppress(Exception):  # closing after a failure must not hide that failure
            self.executor.close()
