"""Results folders: one self-describing folder per run under ``results/<run-name>/``.

Every file is written atomically (temp file, then rename), so an interrupted run never leaves a
half-written CSV or spec, and re-running the same command on the same folder resumes.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_ROOT = Path("results")
_PACKAGES = ("effsearch", "torch", "optuna", "ray", "pandas", "numpy", "fvcore")


def default_folder(kind: str, name: str | None = None) -> Path:
    """``results/<name>`` or ``results/<kind>-<timestamp>`` when no name is given."""
    return DEFAULT_ROOT / (name or f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}")


def atomic_write_text(path: Path, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def atomic_write_json(path: Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def atomic_write_csv(path: Path, frame: Any) -> Path:
    """Write a pandas DataFrame atomically."""
    return atomic_write_text(path, frame.to_csv(index=False))


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_run_json(folder: Path, *, kind: str, seed: int | None, config: dict[str, Any], argv: list[str] | None = None,
                   results: dict[str, Any] | None = None) -> Path:
    """``run.json``: the exact command, seed, configuration and package versions of a run."""
    argv = sys.argv if argv is None else argv
    data = {
        "kind": kind,
        "command": shlex.join(["effsearch", *argv[1:]]) if argv else "",
        "seed": seed,
        "config": config,
        **({"results": results} if results else {}),
        "versions": package_versions(),
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return atomic_write_json(Path(folder) / "run.json", data)
