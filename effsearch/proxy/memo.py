"""Facts measured once per machine and remembered: ``<cache>/kernels/<name>.json``, one record per key.

What the proxy measures about this machine (the fastest layer path, how many candidates to train at
once) holds only for the same processor, instruction sets and torch version, so every key starts
with those (:func:`machine_key`) and adds what else the fact depends on (threads, input size...).
Writes are atomic and serialised by a file lock: pool workers that measure at the same time both
keep their records. An unreadable or unwritable cache only means measuring again.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any


def machine_key(*parts: object) -> str:
    """``processor|arch|flags hash|torch version|parts...``."""
    import hashlib

    import torch

    from effsearch.proxy.kernels.bn_act import _cpu_flags
    from effsearch.proxy.latency import processor_name

    flags = hashlib.sha256(_cpu_flags().encode()).hexdigest()[:12]
    return "|".join([processor_name(), platform.machine(), flags, f"torch {torch.__version__}", *map(str, parts)])


def _path(name: str) -> Path:
    from effsearch.proxy.kernels.bn_act import cache_dir

    return cache_dir() / f"{name}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def recall(name: str, key: str) -> dict[str, Any] | None:
    """The record remembered under ``key`` in ``name``, or ``None``."""
    record = _read(_path(name)).get(key)
    return record if isinstance(record, dict) else None


def remember(name: str, key: str, record: dict[str, Any]) -> None:
    """Add ``record`` under ``key`` to ``name`` (other keys kept)."""
    from filelock import FileLock, Timeout

    path = _path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=30):
            data = {**_read(path), key: record}
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=2) + "\n")
            tmp.replace(path)
    except (OSError, Timeout):
        pass  # an unwritable cache only means measuring again next time
