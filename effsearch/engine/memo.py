"""Facts measured once per machine and remembered: ``<cache>/kernels/<name>.json``, one record per key.

What the proxy measures about this machine (the fastest layer path, how many candidates to train at
once) holds only for the same processor, instruction sets and torch version, so every key starts
with those (:func:`machine_key`: :func:`processor_name`, :func:`cpu_flags`) and adds what else the
fact depends on (threads, input size...).
Writes are atomic and serialised by a file lock: pool workers that measure at the same time both
keep their records. An unreadable or unwritable cache only means measuring again.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from effsearch.runtime.files import atomic_write_json


def cache_dir() -> Path:
    """``$EFFSEARCH_CACHE/kernels``, default ``~/.cache/effsearch/kernels``: these records and the compiled kernel."""
    root = os.environ.get("EFFSEARCH_CACHE") or Path.home() / ".cache" / "effsearch"
    return Path(root) / "kernels"


def cpu_flags() -> str:
    """The processor's instruction-set flags (what ``-march=native`` and the layer timings depend on)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def processor_name() -> str:
    """The CPU model (``Intel(R) Xeon(R) ...``) from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_key(*parts: object) -> str:
    """``processor|arch|flags hash|torch version|parts...``."""
    import hashlib

    import torch

    flags = hashlib.sha256(cpu_flags().encode()).hexdigest()[:12]
    return "|".join([processor_name(), platform.machine(), flags, f"torch {torch.__version__}", *map(str, parts)])


def _path(name: str) -> Path:
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
            atomic_write_json(path, {**_read(path), key: record})
    except (OSError, Timeout):
        pass  # an unwritable cache only means measuring again next time
