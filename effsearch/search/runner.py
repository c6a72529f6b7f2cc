"""The ask/tell loop: keep up to ``capacity`` candidates in flight and feed every result to the study.

The main process owns the study and the sampler. For each free worker it asks the study for a
trial, turns the sampler's decisions into a spec, counts its MACs and then either

* *rejects* it untrained when it is far over budget (reward 0, status ``rejected``),
* *reuses* the result of the same architecture evaluated before (status ``cached``), or waits for
  it when that architecture is still training, so no architecture is ever trained twice, or
* hands it to the executor, and tells the study the reward when the metrics come back.

A failed evaluation is told as FAIL with its reason and the loop goes on. Ctrl-C (or SIGTERM, which
the CLI turns into Ctrl-C; see :mod:`effsearch.interrupts`) fails the trials in flight as ``interrupted`` and queues their
architectures again, so nothing is lost; after a SIGKILL the next run does the same on start-up.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from effsearch import interrupts
from effsearch.cost import count
from effsearch.errors import EffsearchError
from effsearch.reward import RewardConfig, over_budget, rejection, reward
from effsearch.search.config import SearchConfig
from effsearch.search.study import ArchCache, counts_as_finished, owner_record, requeue
from effsearch.search.worker import Candidate
from effsearch.spec import NetSpec

_PROXY_KEYS = ("train_seconds", "eval_seconds", "wall_seconds", "images_per_s", "latency_ms", "loss", "train_loss",
               "epochs", "steps", "proxy_resolution", "proxy_params", "proxy_macs", "device", "threads")


def blocks_key(spec: NetSpec) -> str:
    """The architecture's identity for the cache: its official block strings."""
    from effsearch.blockstring import format_block

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


class SearchLoop:
    """Runs trials until the study holds ``search.trials`` finished ones or ``search.timeout`` passes."""

    def __init__(self, study: optuna.Study, space: Any, *, search: SearchConfig, reward_config: RewardConfig,
                 proxy: Any, executor: Any, sampler_name: str,
                 on_trial: Callable[[FrozenTrial], None] | None = None) -> None:
        self.study, self.space, self.search, self.reward = study, space, search, reward_config
        self.proxy, self.executor, self.sampler_name = proxy, executor, sampler_name
        self.on_trial = on_trial or (lambda trial: None)
        self.cache = ArchCache()
        self.finished_here = 0
        self._flights: dict[int, Flight] = {}
        self._ticket_of: dict[str, int] = {}
        self._waiting: dict[str, list[Flight]] = {}
        self._heartbeat = Heartbeat(study._storage)
        self._owner = owner_record()
        self._starting: optuna.Trial | None = None

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Search until done; returns how many trials finished in this call."""
        deadline = None if self.search.timeout is None else time.monotonic() + self.search.timeout
        try:
            while True:
                if deadline is None or time.monotonic() < deadline:
                    self._fill()
                if not self._flights:
                    break
                for ticket, metrics in self.executor.wait():
                    self._land(ticket, metrics)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                interrupts.acknowledge()  # saving starts now: a redelivered signal must not cut it short
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
        while len(self._flights) < self.executor.capacity and self.budget_left() > 0:
            with warnings.catch_warnings():
                # Optuna warns that heartbeats are meant for Study.optimize; this loop records them itself.
                warnings.filterwarnings("ignore", message="Heartbeat of storage", category=UserWarning)
                trial = self.study.ask()
            self._starting = trial  # until it is told or in flight, abort() must know about it
            self._start(trial)
            self._starting = None

    # --- one trial --------------------------------------------------------------------------------

    def _start(self, trial: optuna.Trial) -> None:
        trial.set_user_attr("owner", self._owner)
        trial.set_user_attr("sampler", self.sampler_name)
        try:
            spec = self.space.suggest(trial)
            cost = count(spec)
        except EffsearchError as exc:  # a combination of decisions the space cannot build
            self._tell_failed(trial, f"invalid architecture: {exc}")
            return
        except Exception as exc:
            self._tell_failed(trial, f"could not build the candidate: {type(exc).__name__}: {exc}")
            raise
        flight = Flight(trial=trial, spec=spec, key=blocks_key(spec), params=cost.params, macs=cost.macs)
        for key, value in (("blocks", flight.key), ("params", cost.params), ("macs", cost.macs),
                           ("over_budget", over_budget(cost.macs, self.reward))):
            trial.set_user_attr(key, value)
        self._dispatch(flight)

    def _dispatch(self, flight: Flight) -> None:
        reason = rejection(flight.macs, self.reward)
        if reason is not None:
            self._tell(flight, "rejected", reason, accuracy=None, proxy={})
        elif (done := self.cache.get(flight.key)) is not None:
            self._tell_cached(flight, done)
        elif flight.key in self._ticket_of:
            self._waiting.setdefault(flight.key, []).append(flight)
            self._heartbeat.track(flight.trial)
        else:
            candidate = Candidate(number=flight.trial.number, spec=flight.spec, proxy=self.proxy,
                                  seed=self.search.seed, latency=self.search.latency)
            ticket = self.executor.submit(candidate)
            self._flights[ticket] = flight
            self._ticket_of[flight.key] = ticket
            self._heartbeat.track(flight.trial)

    def _land(self, ticket: int, metrics: dict[str, Any]) -> None:
        flight = self._flights.pop(ticket)
        del self._ticket_of[flight.key]
        if metrics.get("status") == "ok":
            done = self._tell(flight, "ok", None, accuracy=float(metrics["accuracy"]), proxy=proxy_summary(metrics))
            self.cache.update([done])
        else:
            self._tell_failed(flight.trial, str(metrics.get("reason") or "unknown failure"), proxy_summary(metrics))
        for waiter in self._waiting.pop(flight.key, []):
            self._heartbeat.untrack(waiter.trial)
            self._dispatch(waiter)  # reuses the result, or trains it now if the first one failed

    # --- telling the study ------------------------------------------------------------------------

    def _tell(self, flight: Flight, status: str, reason: str | None, *, accuracy: float | None,
              proxy: dict[str, Any], cached_from: int | None = None) -> FrozenTrial:
        acc = 0.0 if accuracy is None else accuracy  # rejected: never trained, scored as worthless
        score = reward(acc, flight.macs, self.reward)
        attrs = {"status": status, "reason": reason, "accuracy": accuracy, "reward": score, "proxy": proxy}
        if cached_from is not None:
            attrs["cached_from"] = cached_from
        for key, value in attrs.items():
            flight.trial.set_user_attr(key, value)
        values = [score] if self.search.objectives == 1 else [acc, float(flight.macs)]
        return self._finish(flight.trial, values=values, state=TrialState.COMPLETE)

    def _tell_cached(self, flight: Flight, done: FrozenTrial) -> None:
        self._tell(flight, "cached", f"same architecture as trial {done.number}", accuracy=done.user_attrs["accuracy"],
                   proxy=done.user_attrs.get("proxy") or {}, cached_from=done.number)

    def _tell_failed(self, trial: optuna.Trial, reason: str, proxy: dict[str, Any] | None = None) -> None:
        trial.set_user_attr("status", "failed")
        trial.set_user_attr("reason", reason)
        if proxy:
            trial.set_user_attr("proxy", proxy)
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
