"""Run objects: what each kind of results folder holds, how its kind is recognised, and how it loads.

=================  ==========================================================================
``BaselineRun``    ``effsearch baseline``: run.json (kind baseline), trials.csv, pareto.csv,
                   baseline.yaml (the chosen network), study.db, retrain.csv
``ScaleRun``       ``effsearch scale``: run.json (kind scale), family.json/.yaml, members/,
                   grid.jsonl/grid.csv, members-trained/; compare.json/.csv with ``--compare``
``TrainRun``       ``effsearch train``: train.json (kind train), spec.yaml, checkpoint.pt,
                   history.csv, metrics.json, model.safetensors, export/
``SupernetRun``    ``effsearch supernet``: supernet.json, checkpoint.pt, supernet.pt
=================  ==========================================================================

This module is the one place that knows these names; the CLI, ``show``, the dashboard and the next
stage read folders through :func:`open_run`. Loading is lazy: a run object is a folder path and
reads its files when asked, so a folder still being written opens too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from effsearch.errors import EffsearchError
from effsearch.runtime.results import DEFAULT_ROOT

RUN_RECORD = "run.json"


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EffsearchError(f"{path} cannot be read ({exc}); it is not a record effsearch wrote") from None
    return data if isinstance(data, dict) else {}


def _recorded_kind(path: Path) -> str | None:
    """The ``kind`` a JSON record names; ``""`` when it names none; None when the file is missing or
    unreadable (being replaced, or damaged): detection then goes by the other files, never fails."""
    try:
        data = json.loads(path.read_text()) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return str(data.get("kind") or "") if isinstance(data, dict) else None


@dataclass(frozen=True)
class Run:
    """A results folder of one kind; subclasses name the files that make it."""

    folder: Path
    result: Any = field(default=None, compare=False, repr=False)  # what the stage's call returned, when it just ran
    kind: ClassVar[str] = ""
    MARKERS: ClassVar[tuple[str, ...]] = ()  # any one of these files makes a folder this kind
    RECORD: ClassVar[str] = RUN_RECORD  # the JSON record of settings and status

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder))

    @classmethod
    def detect(cls, folder: Path) -> bool:
        if cls.RECORD != RUN_RECORD:
            # A record of its own marks the kind, even while it is being replaced; another tool's does not.
            return (folder / cls.RECORD).is_file() and _recorded_kind(folder / cls.RECORD) in (None, "", cls.kind)
        kind = _recorded_kind(folder / RUN_RECORD)
        if kind:
            return kind == cls.kind
        return any((folder / name).exists() for name in cls.MARKERS)

    @property
    def record(self) -> dict[str, Any]:
        """run.json (train.json, supernet.json) as a mapping; empty while the run has not written it."""
        return _read_json(self.folder / self.RECORD)

    @property
    def config(self) -> dict[str, Any]:
        config = self.record.get("config")
        return config if isinstance(config, dict) else {}

    @property
    def name(self) -> str:
        return self.folder.name

    def path(self, name: str) -> Path:
        return self.folder / name

    def __fspath__(self) -> str:
        return str(self.folder)

    def __str__(self) -> str:
        return str(self.folder)


@dataclass(frozen=True)
class BaselineRun(Run):
    """A baseline search: its chosen network, its trials and the settings a later stage inherits."""

    kind: ClassVar[str] = "baseline"
    MARKERS: ClassVar[tuple[str, ...]] = ("baseline.yaml", "baseline.json", "trials.csv", "study.db")
    SPEC_FILES: ClassVar[tuple[str, ...]] = ("baseline.yaml", "baseline.json")

    @property
    def spec_file(self) -> Path:
        for name in self.SPEC_FILES:
            if (self.folder / name).is_file():
                return self.folder / name
        raise EffsearchError(f"the baseline search in {self.folder} has not chosen a network yet (no baseline.yaml); "
                             "let it finish, or run it again to resume")

    @property
    def spec(self) -> Any:
        from effsearch.arch.specio import load_spec

        return load_spec(self.spec_file)

    @property
    def trials_csv(self) -> Path:
        return self.folder / "trials.csv"

    @property
    def data(self) -> dict[str, Any]:
        """How to load the data set the search trained on again: ``arg`` (NAME[:PATH]) and ``val_fraction``.

        Folders written before the record had ``data`` give the name only (built-in sets load by name).
        """
        from effsearch.runs.inherit import recorded_data

        return recorded_data(self.config, self.folder)

    @property
    def proxy(self) -> dict[str, Any]:
        """The proxy-training settings the search used (its recipe; runtime settings are not inherited)."""
        proxy = self.config.get("proxy")
        return dict(proxy) if isinstance(proxy, dict) else {}


@dataclass(frozen=True)
class ScaleRun(Run):
    """A scale stage: the family (``run.family[2]`` is its phi-2 member), the grid, trained members."""

    kind: ClassVar[str] = "scale"
    MARKERS: ClassVar[tuple[str, ...]] = ("family.json", "family.yaml", "grid.jsonl", "grid.csv", "compare.json", "compare.csv")

    @property
    def has_family(self) -> bool:
        return any((self.folder / n).is_file() for n in ("family.json", "family.yaml"))

    @property
    def family(self) -> Any:
        from effsearch.compound.family import load_family

        return load_family(self.folder)

    @property
    def document(self) -> dict[str, Any]:
        """family.json as written: members with their timm verdicts, budgets and (after training) accuracy."""
        return _read_json(self.folder / "family.json")

    def member(self, phi: float) -> Any:
        """The family member at ``phi`` (its spec is ``.spec``)."""
        return self.family.member(phi)

    def __getitem__(self, phi: float) -> Any:
        return self.member(phi)

    @property
    def baseline(self) -> BaselineRun | None:
        """The baseline run this family was scaled from, when it was a results folder that still exists."""
        source = self.config.get("baseline")
        folder = Path(str(source)) if source else None
        return BaselineRun(folder) if folder is not None and folder.is_dir() and BaselineRun.detect(folder) else None

    @property
    def data(self) -> dict[str, Any]:
        from effsearch.runs.inherit import recorded_data

        return recorded_data(self.config, self.folder)


@dataclass(frozen=True)
class TrainRun(Run):
    """A network trained to keep: its spec, metrics and exported files."""

    kind: ClassVar[str] = "train"
    MARKERS: ClassVar[tuple[str, ...]] = ("train.json",)
    RECORD: ClassVar[str] = "train.json"

    @property
    def spec(self) -> Any:
        from effsearch.arch.specio import load_spec

        return load_spec(self.folder / "spec.yaml")

    @property
    def metrics(self) -> dict[str, Any]:
        return _read_json(self.folder / "metrics.json")

    @property
    def finished(self) -> bool:
        return (self.folder / "metrics.json").is_file()


@dataclass(frozen=True)
class SupernetRun(Run):
    """A weight-sharing supernet: what it was trained on and its training history."""

    kind: ClassVar[str] = "supernet"
    MARKERS: ClassVar[tuple[str, ...]] = ("supernet.json",)
    RECORD: ClassVar[str] = "supernet.json"

    @property
    def finished(self) -> bool:
        return (self.folder / "supernet.pt").is_file()


KINDS: tuple[type[Run], ...] = (TrainRun, SupernetRun, ScaleRun, BaselineRun)  # most specific marker first
RUN_FILES = {"run.json", "trials.csv", "pareto.csv", "retrain.csv", "grid.csv", "grid.jsonl", "study.db", "supernet.json",
             "checkpoint.pt", "supernet.pt", "train.json", "metrics.json", "history.csv", "compare.json", "compare.csv",
             "family.json", "family.yaml"}
"""Files of a run that are not specs: a path to one of them stands for its folder."""


def run_kind(folder: str | Path) -> type[Run] | None:
    """The run class of ``folder`` (or of the results folder a run file such as trials.csv is in); None if none."""
    path = Path(folder)
    if path.is_file() and path.name in RUN_FILES:
        path = path.parent
    if not path.is_dir():
        return None
    return next((kind for kind in KINDS if kind.detect(path)), None)


def open_run(folder: str | Path, kind: str | None = None) -> Run:
    """The run object of a results folder (or of a run file inside one); ``kind`` demands one kind."""
    path = Path(folder)
    found = run_kind(path)
    if found is None:
        what = "does not exist" if not path.exists() else "holds no effsearch results"
        raise EffsearchError(f"{path} {what}; give a results folder written by effsearch (baseline, scale, train, supernet)")
    folder_path = path.parent if path.is_file() else path
    if kind is not None and found.kind != kind:
        raise EffsearchError(f"{folder_path} is a {found.kind} results folder, not a {kind} one")
    return found(folder_path)


def is_run(folder: str | Path) -> bool:
    return run_kind(folder) is not None


def find_runs(root: str | Path = DEFAULT_ROOT, kind: str | None = None) -> list[Run]:
    """The results folders one and two levels below ``root`` (``results/x``, ``results/trained/y``), oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for path in sorted(root.glob("*")) + sorted(root.glob("*/*")):
        found = run_kind(path) if path.is_dir() else None
        if found is not None and (kind is None or found.kind == kind):
            runs.append(found(path))
    return sorted(runs, key=lambda r: _changed(r.folder))


def newest_run(kind: str, root: str | Path = DEFAULT_ROOT) -> Run:
    """The most recently changed run of ``kind`` under ``root``."""
    runs = find_runs(root, kind)
    if kind == "baseline":
        runs = [r for r in runs if any((r.folder / n).is_file() for n in BaselineRun.SPEC_FILES)]
    if not runs:
        raise EffsearchError(f"no {kind} run under {root}/; give a results folder, or run 'effsearch {kind}' first")
    return runs[-1]


def _changed(folder: Path) -> float:
    stamps = [p.stat().st_mtime for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    return max(stamps, default=folder.stat().st_mtime if folder.exists() else 0.0)
