"""Which results folders the dashboard shows, and the cache that reloads them when their files change."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from effsearch.errors import EffsearchError
from effsearch.review.dashboard.data import check_folder, load_run
from effsearch.review.dashboard.frames import RESULT_FILES, RunData, normalize_trials
from effsearch.review.dashboard.trained import TRAIN_FILES
from effsearch.runtime.results import DEFAULT_ROOT


def discover(root: str | Path = DEFAULT_ROOT) -> list[Path]:
    """Results folders under ``root``: ``root/<run>`` and one level deeper (``results/examples/<run>``,
    ``results/trained/<model>`` for ``effsearch train``'s folders)."""
    root = Path(root)
    if not root.is_dir():
        raise EffsearchError(f"no results folder given and {root}/ does not exist; pass results folders, e.g. 'effsearch dashboard results/demo'")
    found = results_below(root)
    if not found:
        raise EffsearchError(f"no results folders under {root}/; run a search first (effsearch baseline) or pass folders")
    return found


def results_below(root: Path) -> list[Path]:
    """The results folders one and two levels below ``root`` (none when it is not a folder)."""
    return [p for p in sorted(root.glob("*")) + sorted(root.glob("*/*")) if p.is_dir() and _has_results(p)]


def _has_results(path: Path) -> bool:
    from effsearch.runs import SupernetRun, run_kind

    kind = run_kind(path)
    return kind is not None and kind is not SupernetRun  # a supernet has no page of its own


def expand(folders: list[str | Path]) -> list[Path]:
    """``folders`` checked; a folder that holds no results itself but results folders below it (``results/trained``,
    ``results``) stands for those. Anything else is :func:`check_folder`'s one-line error."""
    out: list[Path] = []
    for folder in folders:
        try:
            found = [check_folder(folder)]
        except EffsearchError:
            found = results_below(Path(folder)) if Path(folder).is_dir() else []
            if not found:
                raise
        out += [f for f in found if f not in out]
    return out


def run_names(folders: list[Path]) -> list[str]:
    """Short unique labels: the folder name, with its parent when two folders share a name."""
    names = [f.name for f in folders]
    return [f"{f.parent.name}/{f.name}" if names.count(f.name) > 1 else f.name for f in folders]


def signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """(file, mtime, size) of each results file: changes exactly when the run wrote something new."""
    sig = []
    for name in (*RESULT_FILES, *TRAIN_FILES):
        if name == "study.db":
            continue  # the storage changes on every heartbeat; the CSVs carry what is shown
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        sig.append((name, st.st_mtime_ns, st.st_size))
    return tuple(sig)


class RunCache:
    """Loaded runs, reloaded only when their files change; what the page polls while a search runs."""

    def __init__(self, folders: list[str | Path]) -> None:
        if not folders:
            raise EffsearchError("no results folders given; pass at least one, e.g. results/demo")
        self.folders = expand(folders)
        self.names = run_names(self.folders)
        self._loaded: dict[Path, tuple[tuple, RunData]] = {}

    def version(self) -> str:
        """A short token that changes whenever any folder's results files change."""
        return str(hash(tuple(signature(f) for f in self.folders)))

    def runs(self) -> list[RunData]:
        out = []
        for folder, name in zip(self.folders, self.names, strict=True):
            sig = signature(folder)
            cached = self._loaded.get(folder)
            if cached is None or cached[0] != sig:
                cached = (sig, _load_or_note(folder, name))
                self._loaded[folder] = cached
            out.append(cached[1])
        return out


def _load_or_note(folder: Path, name: str) -> RunData:
    # A folder emptied or removed while the page is open is shown with a note, not as a crash.
    try:
        return load_run(folder, name)
    except EffsearchError as exc:
        return RunData(folder=folder, name=name, trials=normalize_trials(pd.DataFrame()), notes=(str(exc),))
