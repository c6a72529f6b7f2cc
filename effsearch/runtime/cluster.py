"""The Ray session of a stage, written once: start a local cluster of our own, or join a named one.

* No address (or ``"local"``) means a local cluster of our own (Ray's ``address="local"``), even on a machine where
  ``ray start`` left a cluster running (or its address file behind after a crash): a plain
  ``ray.init()`` would join that one instead.
* An address (``auto``, ``ray://head:10001``, ``host:6379``) joins that cluster, asking for no
  resources of its own.
* Ray already initialised in this process (a notebook, the tests) is used as it is and left running.

Only a cluster this helper started is shut down when the block ends. Workers get
``OMP_WAIT_POLICY=PASSIVE``: on cores shared by several workers, OpenMP threads that spin while
they wait starve each other (proxy training measured 7-10x slower; benchmarks/README.md).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from effsearch.errors import EffsearchError

WORKER_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def local_gpus() -> int:
    """CUDA GPUs torch sees on this machine (0 without a usable CUDA build)."""
    try:
        import torch

        return torch.cuda.device_count()
    except Exception:  # no usable torch CUDA means CPU workers
        return 0


def gpu_share(workers: int, address: str | None) -> float:
    """GPUs per worker: the local GPUs shared by ``workers``; none on a named cluster unless told."""
    if address not in (None, LOCAL):
        return 0.0
    count = local_gpus()
    return min(1.0, count / max(1, workers)) if count else 0.0


LOCAL = "local"
"""The address that asks for a local cluster of our own, as in Ray's ``ray.init(address="local")``."""

PROBE_S = 5.0
"""How long to wait for a named cluster to answer: Ray itself retries a dead address for minutes."""


def _recorded_address() -> str | None:
    """The cluster ``auto`` means: ``RAY_ADDRESS``, else the address file ``ray start`` leaves behind."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    path = Path(os.environ.get("RAY_TMPDIR", "/tmp")) / "ray" / "ray_current_cluster"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def check_address(address: str) -> None:
    """Refuse, in one line and within seconds, a cluster address nothing answers at.

    Checked before Ray is asked: ``ray.init`` on a dead address retries for minutes while it logs.
    """
    if address == LOCAL:
        return
    target = _recorded_address() if address == "auto" else address
    if target is None:
        raise EffsearchError("no running Ray cluster to join: 'auto' found none recorded on this machine; start one "
                             "with Ray's 'ray start' or give its address, e.g. ray://head:10001")
    hostport = target.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise EffsearchError(f"Ray address {address!r} is malformed; give HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_S).close()
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        shown = address if target == address else f"{address} ({target})"
        raise EffsearchError(f"cannot reach the Ray cluster at {shown}: {why}; start it with Ray's 'ray start' or "
                             "check the address") from None


@contextlib.contextmanager
def ray_session(*, num_cpus: int | None = None, address: str | None = None, verbose: bool = False) -> Iterator[bool]:
    """Ray for the block: yields whether this call started it (and so shuts it down afterwards)."""
    import ray

    if ray.is_initialized():
        yield False
        return
    kwargs: dict[str, Any] = {
        "include_dashboard": False, "log_to_driver": verbose, "logging_level": logging.WARNING,
        "runtime_env": {"env_vars": dict(WORKER_ENV)},
    }
    if address in (None, LOCAL):
        kwargs.update(address=LOCAL, num_cpus=num_cpus)
    else:
        check_address(address)
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except Exception as exc:  # connection problems are user errors
        where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EffsearchError(f"cannot start or join {where}: {first}; check the cluster address "
                             "(e.g. auto or ray://head:10001)") from None
    try:
        yield True
    finally:
        ray.shutdown()
