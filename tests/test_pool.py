"""The worker pool: tasks run in other processes, a dead worker fails its own task only, nothing is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from effsearch.runtime.pool import ProcessPool, WorkerDied


def _identity(value, *, offset=0, base=0):
    return value + offset + base


def _environment(*, base=0):
    return os.getpid(), os.environ.get("OMP_NUM_THREADS"), os.environ.get("OMP_WAIT_POLICY"), os.environ.get("SLOT")


def _fail(message, *, base=0):
    raise ValueError(message)


def _die(*, base=0):
    os.kill(os.getpid(), signal.SIGKILL)


def _sleep(seconds, *, base=0):
    time.sleep(seconds)
    return os.getpid()


def _collect(pool, count, timeout=60):
    results, deadline = {}, time.monotonic() + timeout
    while len(results) < count and time.monotonic() < deadline:
        for ticket, outcome in pool.wait(0.5):
            results[ticket] = outcome
    assert len(results) == count, results
    return results


def test_tasks_run_in_other_processes_with_the_shared_arguments_and_their_own_environment():
    with ProcessPool(2, threads=3, shared={"base": 100}, slot_env=[{"SLOT": "a"}, {"SLOT": "b"}]) as pool:
        sums = [pool.submit(_identity, i, offset=10) for i in range(5)]
        envs = [pool.submit(_environment) for _ in range(4)]
        results = _collect(pool, 9)
    assert [results[t] for t in sums] == [("ok", 110 + i) for i in range(5)]
    seen = {value for kind, value in (results[t] for t in envs) if kind == "ok"}
    assert all(pid != os.getpid() for pid, *_ in seen)
    assert {(threads, policy) for _, threads, policy, _ in seen} == {("3", "PASSIVE")}
    assert {slot for *_, slot in seen} <= {"a", "b"}


def test_an_exception_comes_back_and_a_dead_worker_fails_only_its_own_task():
    with ProcessPool(2) as pool:
        bad, dead = pool.submit(_fail, "no good"), pool.submit(_die)
        results = _collect(pool, 2)
        kind, error = results[bad]
        assert kind == "error" and isinstance(error, ValueError) and str(error) == "no good"
        kind, error = results[dead]
        assert kind == "error" and isinstance(error, WorkerDied) and "SIGKILL" in str(error)
        after = [pool.submit(_identity, i) for i in range(4)]  # a new worker took the dead one's place
        results = _collect(pool, 4)
        assert sorted(results[t][1] for t in after) == [0, 1, 2, 3]
        assert pool.started == 3 and pool.pending == 0


def test_close_kills_running_tasks_at_once():
    pool = ProcessPool(2)
    pool.submit(_sleep, 60)
    pool.submit(_sleep, 60)
    processes = [w.process for w in pool._busy.values()]
    start = time.monotonic()
    pool.close()
    assert time.monotonic() - start < 5 and all(p.poll() is not None for p in processes)
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(_identity, 1)


def test_a_script_without_a_main_guard_is_not_run_again_in_the_workers(tmp_path):
    """Workers are fresh interpreters, not multiprocessing spawns that re-import the caller's __main__."""
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(os.getcwd())!r})
        print("main ran", flush=True)
        from effsearch.runtime.pool import ProcessPool
        from tests.test_pool import _identity
        with ProcessPool(2) as pool:
            tickets = [pool.submit(_identity, i) for i in range(2)]
            got = {{}}
            while len(got) < 2:
                got.update(pool.wait(1))
        print(sorted(v for _, v in got.values()))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["main ran", "[0, 1]"]


def test_workers_die_with_a_killed_driver(tmp_path):
    script = tmp_path / "driver.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(os.getcwd())!r})
        from effsearch.runtime.pool import ProcessPool
        from tests.test_pool import _sleep
        pool = ProcessPool(2)
        for _ in range(2):
            pool.submit(_sleep, 120)
        print(" ".join(str(w.process.pid) for w in pool._busy.values()), flush=True)
        time.sleep(120)
    """))
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    pids = [int(p) for p in driver.stdout.readline().split()]
    assert len(pids) == 2
    driver.kill()
    driver.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_running(p) for p in pids):
        time.sleep(0.05)
    assert not any(_running(p) for p in pids)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
