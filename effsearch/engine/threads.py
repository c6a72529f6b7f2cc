"""How many intra-op threads a proxy trains on: the usable cores, the default, and a scope that restores them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


def usable_cores() -> int:
    """The cores this process may run on (not OMP_NUM_THREADS: that is a thread count, not a machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """OMP_NUM_THREADS when set (Ray and our worker pool set it per worker), else the usable cores."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return usable_cores()


@contextlib.contextmanager
def thread_scope(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op threads and restore the caller's setting afterwards."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
