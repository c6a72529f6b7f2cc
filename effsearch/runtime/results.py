"""Results folders: one self-describing folder per run under ``results/<run-name>/``.

Every file is written atomically and durably (:mod:`effsearch.runtime.files`: a temporary file of
its own, fsync'd, then renamed), so an interrupted run never leaves a half-written CSV or spec, and
re-running the same command on the same folder resumes. The ``atomic_*`` writers are importable from
here too, where every stage has always found them.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from effsearch.runtime.files import (
    atomic_path,
    atomic_torch_save,
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    atomic_write_text,
)

__all__ = [
    "DEFAULT_ROOT", "atomic_path", "atomic_torch_save", "atomic_write_bytes", "atomic_write_csv", "atomic_write_json",
    "atomic_write_text", "check_writable", "package_versions", "write_run_json",
]

DEFAULT_ROOT = Path("results")
_PACKAGES = ("effsearch", "torch", "optuna", "ray", "pandas", "numpy", "fvcore")


def check_writable(path: str | Path, *, what: str = "results folder", file: bool = False) -> Path:
    """Refuse, in one line and before anything runs, an output location that cannot be written.

    ``path`` is a folder (or, with ``file``, a file) that may not exist yet. It must not be a file
    (a folder), and its nearest existing ancestor must be a folder in which a file can really be
    created: a probe file is made and removed there, since permission bits do not tell (root
    ignores them; ``/sys`` and read-only mounts refuse anyway). Nothing is left behind.
    """
    from effsearch.errors import EffsearchError

    path = Path(path)
    if not file and path.exists() and not path.is_dir():
        raise EffsearchError(f"{what} {path} is a file; give a folder")
    if file and path.is_dir():
        raise EffsearchError(f"{what} {path} is a folder; give a file name inside it")
    folder = path if not file else path.parent
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise EffsearchError(f"{what} {path} cannot be created: {existing} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".effsearch-probe-", dir=existing)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise EffsearchError(f"{what} {path} cannot be written: {existing} refuses new files "
                             f"({exc.strerror or exc}); choose a writable location") from None
    return path


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
