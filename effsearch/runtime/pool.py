"""A small pool of worker processes on this machine: parallel trainings without a Ray cluster.

``ProcessPool(workers, threads=..., shared={...})`` spawns ``workers`` processes, sends each the
``shared`` keyword arguments once (the data set, the evaluator), and runs ``submit(fn, *args, **kw)``
as ``fn(*args, **kw, **shared)`` in the first free worker; ``wait(timeout)`` returns the ``(ticket, outcome)``
pairs that finished, an outcome being ``("ok", value)`` or ``("error", exception)``.

Why not :class:`concurrent.futures.ProcessPoolExecutor`: it cannot stop a task that is running (a
requested stop must end the trainings in flight at once), and one worker that dies (the OOM killer)
breaks the whole pool and fails every task in flight; here it fails its own task only and a new
worker takes its place. Why not Ray on one machine: a local cluster costs seconds to start and a
raylet, a GCS and an object store beside the workers (benchmarks/bench_parallel.py).

Each worker is a fresh interpreter (``python -m effsearch.runtime.pool``), not a fork (forking a
process that already runs torch's thread pools is unsafe) and not a multiprocessing spawn (which
runs the caller's ``__main__`` again in every worker: a user's script without a main guard would
start searches of its own). It talks to the driver over a socket pair, has ``OMP_NUM_THREADS`` =
``threads`` and ``OMP_WAIT_POLICY=PASSIVE`` in its environment before torch loads (on shared cores,
spinning OpenMP threads starve each other), ignores Ctrl-C (the driver owns the stop:
:mod:`effsearch.runtime.stop`) and, on Linux, dies with its driver, so a SIGKILL'd search leaves no
orphan trainings behind. This module imports no torch.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from typing import Any

WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
STOP_GRACE_S = 2.0
"""How long a worker told to stop may take before it is killed."""


class WorkerDied(RuntimeError):
    """The process running a task exited without an answer (killed, out of memory, a crash)."""


def _env_for(threads: int, extra: dict[str, str]) -> dict[str, str]:
    count = str(threads)
    path = os.pathsep.join(p for p in sys.path if p)  # what the driver can import, its workers can too
    return {**os.environ, **WORKER_ENV, "OMP_NUM_THREADS": count, "MKL_NUM_THREADS": count, "PYTHONPATH": path, **extra}


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no effect elsewhere)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before we asked
        os._exit(0)


def serve(conn: Connection, quiet: bool, parent: int) -> None:
    """A worker's life: receive the shared arguments, then run tasks until told to stop."""
    import cloudpickle

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    if quiet:  # as Ray hides its workers' output unless asked: the driver's progress display stays clean
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    try:
        shared = cloudpickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):
            return
        if not message:
            return
        try:
            ticket, (fn, args, kwargs) = cloudpickle.loads(message)
        except BaseException as exc:  # a task this worker cannot even unpack
            ticket, fn, args, kwargs = None, _raise, (exc,), {}
        try:
            outcome: tuple[str, Any] = ("ok", fn(*args, **kwargs, **shared))
        except BaseException as exc:  # reported to the driver, which decides what a failure means
            outcome = ("error", exc)
        try:
            conn.send_bytes(cloudpickle.dumps((ticket, outcome)))
        except Exception as exc:  # an unpicklable result or exception: say so instead
            conn.send_bytes(cloudpickle.dumps((ticket, ("error", RuntimeError(f"{type(exc).__name__}: {exc}")))))


def _raise(exc: BaseException) -> None:
    raise exc


class _Worker:
    def __init__(self, payload: bytes, threads: int, quiet: bool, slot: int, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair()
        code = ("import sys, effsearch.runtime.pool as p; "
                "p.serve(p.Connection(int(sys.argv[1])), sys.argv[2] == '1', int(sys.argv[3]))")
        argv = [sys.executable, "-c", code, str(theirs.fileno()), "1" if quiet else "0", str(os.getpid())]
        self.process = subprocess.Popen(argv,
                                        pass_fds=(theirs.fileno(),), env=_env_for(threads, env), stdin=subprocess.DEVNULL)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.slot = slot
        self.ticket: int | None = None
        self.conn.send_bytes(payload)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.ticket is None:
                self.conn.send_bytes(b"")
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE_S if self.ticket is None else 0.01)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_GRACE_S)
        with contextlib.suppress(Exception):
            self.conn.close()


class ProcessPool:
    """``workers`` worker processes, ``threads`` intra-op threads each (see the module docstring).

    ``slot_env[i]`` is added to the environment of worker ``i`` (and of any worker that replaces it),
    e.g. ``CUDA_VISIBLE_DEVICES`` to spread workers over GPUs.
    """

    def __init__(self, workers: int, *, threads: int = 1, shared: dict[str, Any] | None = None, quiet: bool = True,
                 slot_env: list[dict[str, str]] | None = None) -> None:
        import cloudpickle

        if workers < 1 or threads < 1:
            raise ValueError(f"a pool needs at least one worker and one thread, not {workers} x {threads}")
        if slot_env is not None and len(slot_env) != workers:
            raise ValueError(f"slot_env has {len(slot_env)} entries for {workers} workers")
        self.workers, self.threads, self._quiet = workers, threads, quiet
        self._slot_env = slot_env or [{} for _ in range(workers)]
        self._payload = cloudpickle.dumps(shared or {})
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}
        self._queue: deque[tuple[int, bytes]] = deque()
        self._tickets = itertools.count()
        self._closed = False
        self.started = 0
        """Worker processes started so far (``workers``, plus one for every worker that died)."""
        try:
            for slot in range(workers):
                self._idle.append(self._spawn(slot))
        except BaseException:
            self.close()
            raise

    def _spawn(self, slot: int) -> _Worker:
        self.started += 1
        return _Worker(self._payload, self.threads, self._quiet, slot, self._slot_env[slot])

    @property
    def pending(self) -> int:
        """Tasks submitted and not yet returned by :meth:`wait`."""
        return len(self._busy) + len(self._queue)

    def submit(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
        """Run ``fn(*args, **kwargs, **shared)`` in the first free worker; returns its ticket."""
        import cloudpickle

        if self._closed:
            raise RuntimeError("the pool is closed")
        ticket = next(self._tickets)
        self._queue.append((ticket, cloudpickle.dumps((ticket, (fn, args, kwargs)))))
        self._dispatch()
        return ticket

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            ticket, task = self._queue.popleft()
            worker = self._idle.pop()
            try:
                worker.conn.send_bytes(task)
            except OSError:  # it died while idle: the task waits for a new one
                worker.stop()
                self._queue.appendleft((ticket, task))
                self._idle.append(self._spawn(worker.slot))
                continue
            worker.ticket = ticket
            self._busy[ticket] = worker

    def wait(self, timeout: float | None = None) -> list[tuple[int, tuple[str, Any]]]:
        """The tasks that finished within ``timeout`` seconds (an empty list if none did)."""
        import cloudpickle

        if not self._busy:
            return []
        by_conn = {worker.conn: worker for worker in self._busy.values()}
        done: list[tuple[int, tuple[str, Any]]] = []
        for conn in wait(list(by_conn), timeout):
            worker = by_conn[conn]
            ticket = worker.ticket
            try:
                _, outcome = cloudpickle.loads(conn.recv_bytes())
                replacement: _Worker | None = worker
            except (EOFError, OSError):  # the process ended without answering
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=STOP_GRACE_S)
                outcome = ("error", WorkerDied(_death(worker.process.poll())))
                worker.stop()
                replacement = None if self._closed else self._spawn(worker.slot)
            worker.ticket = None
            del self._busy[ticket]
            if replacement is not None:
                self._idle.append(replacement)
            done.append((ticket, outcome))
        self._dispatch()
        return done

    def close(self) -> None:
        """Stop every worker: idle ones are told to exit, busy ones are killed (their tasks are lost)."""
        self._closed = True
        self._queue.clear()
        for worker in [*self._idle, *self._busy.values()]:
            worker.stop()
        self._idle.clear()
        self._busy.clear()

    def __enter__(self) -> ProcessPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
        hint = " (killed: out of memory?)" if -code == signal.SIGKILL else ""
        return f"the worker process died with signal {name}{hint}"
    return f"the worker process exited with status {code} without a result"
