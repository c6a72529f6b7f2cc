"""Where candidates are trained: in this process, in worker processes of this machine, or as Ray tasks.

* :class:`LocalExecutor`: one candidate at a time in this process (one worker);
* :class:`PoolExecutor`: several at once in worker processes of the search (:mod:`effsearch.runtime.pool`),
  the default for more than one worker on this machine: no cluster to start;
* :class:`RayExecutor`: Ray tasks, on a cluster the user names (``ray_address``; ``local`` starts one
  of our own) or the one already running in this process.

All have the same small interface: ``submit(candidate) -> ticket``, ``wait()`` returning
the ``(ticket, metrics)`` pairs that finished, ``capacity`` (how many candidates may be in flight)
and ``close()``. The main process keeps the study and the sampler; workers only ever see a spec, the
data and a proxy budget, and send back a metrics dict, so the storage never has to be reachable
from the cluster.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import sys
from typing import Any

from effsearch.runtime import stop
from effsearch.runtime.cluster import gpu_share, local_gpus, ray_session
from effsearch.runtime.pool import ProcessPool
from effsearch.search.worker import Candidate, Evaluate, describe_failure, evaluate_candidate

POLL_S = 0.2
"""How often the driver looks for a requested stop while Ray workers train."""


class LocalExecutor:
    """One candidate at a time, in this process: no start-up cost, the right choice on one machine."""

    capacity = 1

    def __init__(self, data: Any, *, evaluate: Evaluate | None = None) -> None:
        self._data, self._evaluate = data, evaluate
        self._pending: dict[int, Candidate] = {}
        self._tickets = itertools.count()

    def submit(self, candidate: Candidate) -> int:
        ticket = next(self._tickets)
        self._pending[ticket] = candidate
        return ticket

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        ticket = next(iter(self._pending))
        metrics = evaluate_candidate(self._pending[ticket], self._data, self._evaluate)
        del self._pending[ticket]  # only once it ran: Ctrl-C during training leaves it pending
        return [(ticket, metrics)]

    def close(self) -> None:
        self._pending.clear()


class PoolExecutor:
    """Up to ``workers`` candidates at once in worker processes of this machine, ``threads`` each.

    The data and the evaluator go to each worker once, when it starts. With CUDA GPUs the workers
    share them: worker ``i`` sees GPU ``i mod count`` only.
    """

    def __init__(self, data: Any, *, workers: int, threads: int, evaluate: Evaluate | None = None,
                 verbose: bool = False) -> None:
        gpus = local_gpus()
        slots = [{"CUDA_VISIBLE_DEVICES": str(i % gpus)} for i in range(workers)] if gpus > 1 else None
        self._pool = ProcessPool(workers, threads=threads, shared={"data": data, "evaluate": evaluate},
                                 quiet=not verbose, slot_env=slots)
        self.capacity = workers

    def submit(self, candidate: Candidate) -> int:
        return self._pool.submit(evaluate_candidate, candidate)

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        while True:
            stop.check()
            done = self._pool.wait(POLL_S)
            if done:
                return [(ticket, value if kind == "ok" else {"status": "failed", "reason": describe_failure(value)})
                        for ticket, (kind, value) in done]

    def close(self) -> None:
        self._pool.close()


class RayExecutor:
    """Up to ``workers`` candidates in flight as Ray tasks (one CPU each, optionally a GPU share).

    Runs in the Ray session of :func:`effsearch.runtime.cluster.ray_session` (a local cluster of its
    own unless an ``address`` is given), which is shut down on close if this executor started it.
    The data and the evaluator go to the object store once, not with every task.
    """

    def __init__(self, data: Any, *, workers: int, address: str | None = None, gpus_per_trial: float | None = None,
                 evaluate: Evaluate | None = None, verbose: bool = False) -> None:
        import ray

        self._ray = ray
        self._session = ray_session(num_cpus=workers, address=address, verbose=verbose)
        self._session.__enter__()
        self.capacity = workers
        gpus = gpu_share(workers, address) if gpus_per_trial is None else gpus_per_trial
        # No automatic retries: a worker killed for memory would only be killed again; the failure is recorded.
        self._task = ray.remote(evaluate_candidate).options(num_cpus=1, num_gpus=gpus, max_retries=0)
        self._data = ray.put(data)
        self._evaluate = ray.put(evaluate)
        self._refs: dict[Any, int] = {}
        self._tickets = itertools.count()

    def submit(self, candidate: Candidate) -> int:
        ticket = next(self._tickets)
        self._refs[self._task.remote(_one_thread(candidate), self._data, self._evaluate)] = ticket
        return ticket

    def wait(self) -> list[tuple[int, dict[str, Any]]]:
        ready: list[Any] = []
        while not ready:
            stop.check()
            ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=POLL_S)
        done = []
        for ref in ready:
            ticket = self._refs.pop(ref)
            try:
                metrics = self._ray.get(ref)
            except Exception as exc:  # a crashed or killed worker fails that trial only
                metrics = {"status": "failed", "reason": describe_failure(_cause(exc))}
            done.append((ticket, metrics))
        return done

    def close(self) -> None:
        for ref in list(self._refs):
            with contextlib.suppress(Exception):  # already finished, or its worker is gone
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._session is not None:
            session, self._session = self._session, None
            session.__exit__(None, None, None)


def _one_thread(candidate: Candidate) -> Candidate:
    """Each task has one CPU, so it trains on one thread unless the proxy config says otherwise.

    Left to the environment, a worker may inherit the driver's OMP_NUM_THREADS; two threads per
    task on a machine with one core per task make every training several times slower.
    """
    proxy = candidate.proxy
    if dataclasses.is_dataclass(proxy) and getattr(proxy, "threads", 0) is None:
        return dataclasses.replace(candidate, proxy=dataclasses.replace(proxy, threads=1))
    return candidate


def _cause(exc: BaseException) -> BaseException:
    """The user's exception inside a RayTaskError, or Ray's own error (worker crash, OOM kill)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def uses_ray(address: str | None) -> bool:
    """Ray when a cluster is named, or when this process already runs one (a notebook, the tests)."""
    return address is not None or ("ray" in sys.modules and sys.modules["ray"].is_initialized())


def make_executor(data: Any, *, workers: int, threads: int = 1, address: str | None, gpus_per_trial: float | None,
                  evaluate: Evaluate | None = None, verbose: bool = False) -> LocalExecutor | PoolExecutor | RayExecutor:
    """Ray where :func:`uses_ray`, else in-process for one worker and a process pool for more.

    ``address="local"`` starts a local Ray cluster of our own; ``verbose`` shows the workers' output.
    """
    # Ray stays for clusters: on one machine its start-up (seconds) buys nothing a pool lacks.
    if uses_ray(address):
        return RayExecutor(data, workers=workers, address=address, gpus_per_trial=gpus_per_trial, evaluate=evaluate,
                           verbose=verbose)
    if workers == 1:
        return LocalExecutor(data, evaluate=evaluate)
    return PoolExecutor(data, workers=workers, threads=threads, evaluate=evaluate, verbose=verbose)
