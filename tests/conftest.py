"""Shared fixtures. Tests mirror the package; tiny specs keep them fast on two CPU cores."""

from __future__ import annotations

import os
import sys

import pytest


def _threads() -> str:
    """The cores shared among pytest-xdist's workers (two cores, two workers: one thread each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    return str(max(1, cores // workers))


# Set before torch loads (as the effsearch command does): torch must not oversubscribe the cores
# when xdist workers, worker pools or Ray actors run side by side, and OpenMP threads that spin
# while they wait starve the other processes (measured 7-10x slower; benchmarks/README.md).
os.environ.setdefault("OMP_NUM_THREADS", _threads())
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _torch_threads_unchanged():
    """Fail a test that leaves torch at another intra-op thread count: every later test in its worker
    would run with it, and float32 results (and speed ratios) then depend on the order tests ran in."""
    torch = sys.modules.get("torch")
    # Not imported yet: torch will start at OMP_NUM_THREADS, which this file sets before it loads.
    env = os.environ.get("OMP_NUM_THREADS", "")
    before = torch.get_num_threads() if torch is not None else int(env) if env.isdigit() else None
    yield
    torch = sys.modules.get("torch")
    if torch is None or before is None:
        return
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"the test left torch at {after} intra-op threads (it found {before}); use thread_scope")


@pytest.fixture
def tiny_spec():
    from effsearch import NetSpec, parse_block

    blocks = ("r1_k3_s11_e1_i8_o8_se0.25", "r2_k3_s22_e3_i8_o16_se0.25", "conv_r1_k3_s22_e1_i16_o16_noskip_relu")
    return NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=8, head_chs=32, resolution=32, num_classes=5)


@pytest.fixture(scope="module")
def ray_cluster():
    """A real local Ray cluster (2 CPUs) for one test module; effsearch uses it instead of starting one."""
    import ray

    # address="local": a cluster of its own even where `ray start` left one (or its address) behind.
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server on loopback for the session (Debian's binaries; see tests/pg_server.py)."""
    from tests.pg_server import PostgresServer, binaries

    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not installed (/usr/lib/postgresql/*/bin; apt-get install postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        yield server.url
    finally:
        server.stop()
