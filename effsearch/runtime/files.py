"""Atomic, durable file writes: the one way effsearch replaces a file that someone may be reading.

Every write goes to a temporary file of its own in the target's folder (``tempfile.mkstemp``, so two
processes writing the same file never share a temporary name), is flushed and ``fsync``'d, and is
then put in place with ``os.replace``; the folder is ``fsync``'d last, so the rename itself survives
a power cut. A reader (the dashboard polling ``trials.csv``, a run resuming from ``checkpoint.pt``)
sees the old file or the new one, never half of one, and a write that fails removes its temporary
file and leaves the old file as it was.

The ``fsync`` is cheap beside the work between writes: 200 rewrites of a 100-row ``trials.csv``
(18 KB) took 0.4-1.2 ms each with it and 0.12-0.16 ms without, on an ext4 virtual disk; a search
rewrites three files per trial, and a trial trains for seconds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside ``path``; when the block ends without an exception it replaces ``path``.

    For writers that want a file name (``torch.save``, safetensors, ``torch.export``, a compiler): the
    temporary name ends with ``path``'s suffix, since some writers choose the format by it. An
    exception (or a writer that raises half-way) removes the temporary file and is raised again.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results folders are shared like any file
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``text`` as UTF-8 (``\\n`` line ends on every system, as the CSV and JSON readers expect)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def atomic_write_csv(path: str | Path, frame: Any) -> Path:
    """A pandas DataFrame, without its index."""
    return atomic_write_text(path, frame.to_csv(index=False))


def atomic_torch_save(path: str | Path, payload: Any) -> Path:
    """``torch.save``: a kill or a payload that cannot be pickled never leaves half a checkpoint."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def _fsync(path: Path) -> None:
    # Opened for writing: Windows flushes only handles with write access.
    fd = os.open(path, os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable. Windows cannot open a folder, and some file systems refuse: skip there."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def _umask() -> int:
    """The process's umask, read without changing it where Linux shows it (setting it races other threads)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
