"""The ask/tell loop: keep up to ``capacity`` candidates in flight and feed every result to the study.

The main process owns the study and the sampler. For each free worker it asks the study for a
trial, turns the sampler's decisions into a spec, counts its MACs and then either

* *rejects* it untrained when it is far over budget (reward 0, status ``rejected``),
* *reuses* the result of the same architecture evaluated before (status ``cached``), or waits for
  it when that architecture is still training, so no architecture is ever trained twice, or
* hands it to the executor, and tells the study the reward when the metrics come back.

The cost the reward is computed over comes from the objective (:mod:`effsearch.search.objectives`),
measured before training and cached per architecture. A failed evaluation is told as FAIL with its
reason and the loop goes on.

**Reproducible with many workers.** Results are told to the study in the order their trials were
asked for, and trial ``j`` is asked for right after trial ``j - L`` is told (``L`` trials in flight:
one per worker plus one queued per worker, so a worker rarely waits for a slow predecessor). Every
sampler therefore sees the same history at every ask whatever order the workers finish in: a
search with the same settings and worker count proposes the same architectures.

A requested stop (:mod:`effsearch.runtime.stop`, checked before every trial and while waiting) or
Ctrl-C fails the trials in flight (finished ones waiting for their turn too) as ``interrupted`` and
queues their architectures again, so nothing is lost; after a SIGKILL the next run does the same on
start-up.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.errors import EffsearchError
from effsearch.runtime import stop
from effsearch.search.config import SearchConfig
from effsearch.search.objectives import MeasureContext, get_objective
from effsearch.search.reward import RewardConfig, over_budget, rejection, reward
from effsearch.search.study import ArchCache, counts_as_finished, flat_attrs, nested_attrs, owner_record, requeue
from effsearch.search.worker import Candidate

_PROXY_KEYS = ("train_seconds", "eval_seconds", "wall_seconds", "images_per_s", "loss", "train_loss",
               "epochs", "steps", "proxy_resolution", "proxy_params", "proxy_macs", "device", "threads", "kernels",
               "evaluator")


def blocks_key(spec: NetSpec) -> str:
    """The architecture's identity for the cache: its official block strings."""
    from effsearch.arch.blockstring import format_block

    return " ".join(format_block(b) for b in spec.blocks)


def proxy_summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The JSON-safe scalars of a metrics dict worth keeping with the trial."""
    out = {}
    for key in _PROXY_KEYS:
        value = metrics.get(key)
        if isinstance(value, (int, float, str)) and not (isinstance(value, float) and not math.isfinite(value)):
            out[key] = value
    return out


@dataclass
class Flight:
    """A trial whose candidate is training (or waiting for an identical one that is)."""

    trial: optuna.Trial
    spec: NetSpec
    key: str
    params: int
    macs: int
    cost: float  # the objective's value: what the reward is computed over
    started: float = field(default_factory=time.monotonic)


class Heartbeat:
    """Records Optuna heartbeats for the trials in flight, on storages that use them (shared RDBs)."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage
        getter = getattr(storage, "get_heartbeat_interval", None)  # Optuna's BaseHeartbeat interface
        self._interval = getter() if callable(getter) else None
        self._ids: set[int] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self._interval:
            self._thread = threading.Thread(target=self._beat, name="effsearch-heartbeat", daemon=True)
            self._thread.start()

    def track(self, trial: optuna.Trial) -> None:
        if self._interval:
            with self._lock:
                self._ids.add(trial._trial_id)  # the storage API speaks trial ids
            self._storage.record_heartbeat(trial._trial_id)

    def untrack(self, trial: optuna.Trial) -> None:
        with self._lock:
            self._ids.discard(trial._trial_id)

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            with self._lock:
                ids = list(self._ids)
            for trial_id in ids:
                try:
                    self._storage.record_heartbeat(trial_id)
                except Exception:  # a missed beat is retried on the next tick
                    continue

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def in_flight_limit(capacity: int) -> int:
    """Trials asked for and not yet told: one per worker, and one queued per worker when there are several."""
    return 1 if capacity <= 1 else 2 * capacity


class SearchLoop:
    """Runs trials until the study holds ``search.trials`` finished ones or ``search.timeout`` passes."""

    def __init__(self, study: optuna.Study, space: Any, *, search: SearchConfig, reward_config: RewardConfig,
                 proxy: Any, executor: Any, sampler_name: str,
                 on_trial: Callable[[FrozenTrial], None] | None = None) -> None:
        self.study, self.space, self.search, self.reward = study, space, search, reward_config
        self.proxy, self.executor, self.sampler_name = proxy, executor, sampler_name
        self.on_trial = on_trial or (lambda trial: None)
        self.cache = ArchCache()
        self.objective = get_objective(reward_config.objective)
        self.measure = MeasureContext(latency_device=search.latency_device, latency_threads=search.latency_threads)
        self._seed_latency_cache()
        self.finished_here = 0
        self._flights: dict[int, Flight] = {}
        self._order: deque[int] = deque()  # tickets in the order their trials were asked for
        self._results: dict[int, dict[str, Any]] = {}  # finished, waiting for their turn to be told
        self._limit = in_flight_limit(executor.capacity)
        self._deadline: float | None = None
        self._ticket_of: dict[str, int] = {}
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
        self._deadline = None if self.search.timeout is None else time.monotonic() + self.search.timeout
        try:
            while True:
                stop.check()
                self._fill()
                if not self._flights:
                    break
                for ticket, metrics in self.executor.wait():
                    self._results[ticket] = metrics
                while self._order and self._order[0] in self._results:  # in asking order, each followed by its ask
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
            return
        while len(self._flights) < self._limit and self.budget_left() > 0:
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
        elif flight.key in self._ticket_of:
            self._waiting.setdefault(flight.key, []).append(flight)
            self._heartbeat.track(flight.trial)
        else:
            candidate = Candidate(number=flight.trial.number, spec=flight.spec, proxy=self.proxy, seed=self.search.seed)
            ticket = self.executor.submit(candidate)
            self._flights[ticket] = flight
            self._order.append(ticket)
            self._ticket_of[flight.key] = ticket
            self._heartbeat.track(flight.trial)

    def _land(self, ticket: int, metrics: dict[str, Any]) -> None:
        flight = self._flights.pop(ticket)
        del self._ticket_of[flight.key]
        if metrics.get("status") == "ok":
            self._report_curve(flight.trial, metrics)
            done = self._tell(flight, "ok", None, accuracy=float(metrics["accuracy"]), proxy=proxy_summary(metrics))
            self.cache.update([done])
        else:
            self._tell_failed(flight.trial, str(metrics.get("reason") or "unknown failure"), proxy_summary(metrics))
        for waiter in self._waiting.pop(flight.key, []):
            self._heartbeat.untrack(waiter.trial)
            self._dispatch(waiter)  # reuses the result, or trains it now if the first one failed

    def _report_curve(self, trial: optuna.Trial, metrics: dict[str, Any]) -> None:
        """Validation accuracy per epoch as Optuna intermediate values, so its pruners and dashboards see curves.

        Where the evaluator computed no curve, the final accuracy is reported at the epoch it was
        reached. Multi-objective studies have no intermediate values in Optuna.
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
              proxy: dict[str, Any], cached_from: int | None = None) -> FrozenTrial:
        acc = 0.0 if accuracy is None else accuracy  # rejected: never trained, scored as worthless
        score = reward(acc, flight.cost, self.reward)
        attrs = {"status": status, "reason": reason, "accuracy": accuracy, "reward": score, **flat_attrs("proxy", proxy)}
        if cached_from is not None:
            attrs["cached_from"] = cached_from
        for key, value in attrs.items():
            flight.trial.set_user_attr(key, value)
        values = [score] if self.search.objectives == 1 else [acc, float(flight.cost)]
        return self._finish(flight.trial, values=values, state=TrialState.COMPLETE)

    def _tell_cached(self, flight: Flight, done: FrozenTrial) -> None:
        if self.search.objectives == 1:
            for step, value in sorted(done.intermediate_values.items()):  # the curve it would have had
                flight.trial.report(value, step)
        self._tell(flight, "cached", f"same architecture as trial {done.number}", accuracy=done.user_attrs["accuracy"],
                   proxy=nested_attrs(done.user_attrs, "proxy"), cached_from=done.number)

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
        trials = [f.trial for f in self._flights.values()] + [w.trial for ws in self._waiting.values() for w in ws]
        if self._starting is not None and self._starting not in trials:
            trials.append(self._starting)  # stopped while its decisions were being made
        self._flights.clear()
        self._order.clear()
        self._results.clear()
        self._waiting.clear()
        self._ticket_of.clear()
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
