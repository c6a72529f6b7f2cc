"""Results folders into pandas frames for the dashboard and the report; read-only, tolerant of runs in progress.

CSV files are the source: ``trials.csv`` and ``grid.csv`` are rewritten atomically by the search
after every trial, so reading one never sees half a file and never touches the Optuna storage
(``study.db`` is not opened at all, so the page cannot lock or write a running study). A folder that
is still filling up loads with what it has and a note; a folder that does not exist or holds none of
the results files is a one-line :class:`~effsearch.errors.EffsearchError`.

The frames and their readers are :mod:`~effsearch.review.dashboard.frames` (importable from here
too); this module tells what a folder holds, loads it (an ``effsearch train`` folder through
:mod:`~effsearch.review.dashboard.trained`) and rebuilds a trial's architecture.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from effsearch.arch.blockstring import parse_block
from effsearch.arch.scaling import round_channels
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import spec_from_dict
from effsearch.errors import EffsearchError, SpecError
from effsearch.review.dashboard.frames import (
    NUMERIC_TRIAL_COLUMNS,
    OUTCOMES,
    RESULT_FILES,
    TEXT_TRIAL_COLUMNS,
    RunData,
    _read_csv,
    _read_mapping,
    as_bool,
    decision_columns,
    family_members,
    normalize_controller,
    normalize_grid,
    normalize_trials,
    points,
)
from effsearch.review.dashboard.trained import is_train_folder, load_trained

__all__ = [  # the frames' names too: every view has always found them here
    "NUMERIC_TRIAL_COLUMNS", "OUTCOMES", "RESULT_FILES", "TEXT_TRIAL_COLUMNS", "RunData", "as_bool", "check_folder",
    "decision_columns", "family_members", "load_run", "normalize_grid", "normalize_trials", "points", "skeleton",
    "trial_spec",
]


# --- reading one folder ---------------------------------------------------------------------------


def _read_spec(folder: Path, notes: list[str]) -> NetSpec | None:
    for name in ("baseline.yaml", "baseline.json"):
        data = _read_mapping(folder / name, notes)
        if data is not None:
            try:
                return spec_from_dict(data, source=name)
            except SpecError as exc:
                notes.append(f"{exc}; the baseline is not shown")
    return None


def check_folder(folder: str | Path) -> Path:
    """``folder`` as a Path if it exists and holds results files, else a one-line error saying what to do."""
    path = Path(folder)
    if not path.exists():
        raise EffsearchError(f"results folder {path} does not exist; pass a folder written by 'effsearch baseline', "
                             "'effsearch scale' or 'effsearch train'")
    if not path.is_dir():
        raise EffsearchError(f"{path} is not a folder; pass a results folder written by 'effsearch baseline', "
                             "'effsearch scale' or 'effsearch train'")
    from effsearch.runs import SupernetRun, run_kind

    kind = run_kind(path)
    if kind is not None and kind is not SupernetRun:
        return path
    if kind is SupernetRun:
        raise EffsearchError(f"{path} holds a supernet (from effsearch supernet), not a search or scaling run; pass the folder of a "
                             f"search that used it (its training history is in {path / 'supernet.json'})")
    raise EffsearchError(
        f"results folder {path} is empty (no run.json, trials.csv, grid.csv, family.json or train.json); "
        f"start a run there (effsearch baseline writes one) or pass another folder"
    )


def load_run(folder: str | Path, name: str | None = None) -> RunData:
    """Everything the dashboard shows about one results folder."""
    path = check_folder(folder)
    notes: list[str] = []
    if is_train_folder(path):
        return load_trained(path, name or path.name, notes)
    run = _read_mapping(path / "run.json", notes) or {}
    raw = _read_csv(path / "trials.csv", notes)
    trials = normalize_trials(raw if raw is not None else pd.DataFrame())
    if raw is None and (path / "study.db").is_file():
        notes.append("no trials.csv yet: the search has started but has not finished a trial")
    family = _read_mapping(path / "family.json", notes) or _read_mapping(path / "family.yaml", notes)
    return RunData(
        folder=path, name=name or path.name, run=run, trials=trials, baseline=_read_spec(path, notes),
        grid=_read_csv(path / "grid.csv", notes), family=family, retrain=_read_csv(path / "retrain.csv", notes),
        compare=_read_csv(path / "compare.csv", notes), compare_info=_read_mapping(path / "compare.json", notes),
        controller=normalize_controller(_read_csv(path / "controller.csv", notes)), notes=tuple(notes),
    )


# --- architectures --------------------------------------------------------------------------------


_SKELETON = ("resolution", "head_chs", "num_classes", "act", "stem_stride", "in_chans", "dropout", "drop_connect")


def skeleton(run: RunData) -> dict[str, Any]:
    """What every candidate of a run shares besides its blocks (head, resolution, classes, activation).

    Taken from the chosen baseline, else the family's baseline, else the run's search space; empty
    (NetSpec defaults) when none is known yet.
    """
    spec = run.baseline
    base = (run.family or {}).get("baseline")
    if spec is None and isinstance(base, dict):
        try:
            spec = spec_from_dict(base, source="family baseline")
        except SpecError:
            spec = None
    if spec is not None:
        return {name: getattr(spec, name) for name in _SKELETON}
    return _space_skeleton(run.config)


def _space_skeleton(config: dict[str, Any]) -> dict[str, Any]:
    # The file the run read, else the built-in space by name (a folder copied from another machine
    # records a path that does not exist here, but a built-in space's name still finds its file).
    # Only the file's network section is read: showing results needs no search package.
    for name in (config.get("space_file"), config.get("space")):
        network = _space_network(str(name)) if name else None
        if network is not None:
            found = {key: network[field] for field, key, kind in _SPACE_NETWORK
                     if isinstance(network.get(field), kind) and not isinstance(network.get(field), bool)}
            width = config.get("space_width")
            if "head_chs" in found and isinstance(width, (int, float)) and width > 0 and width != 1:
                found["head_chs"] = round_channels(found["head_chs"], width)  # the search ran on the scaled space
            return found
    return {}  # a space file that moved away: fall back to the NetSpec defaults


_SPACE_NETWORK = (("resolution", "resolution", int), ("head", "head_chs", int), ("num_classes", "num_classes", int),
                  ("act", "act", str))


def _space_network(name: str) -> dict[str, Any] | None:
    """The ``network`` mapping of a search space file (a path, or a built-in space's name), if it can be read."""
    path = Path(name).expanduser()
    if not path.is_file():
        if path.suffix in (".yaml", ".yml") or "/" in name or "\\" in name:
            return None
        path = Path(str(resources.files("effsearch") / "search_spaces" / f"{name}.yaml"))
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    network = data.get("network") if isinstance(data, dict) else None
    return network if isinstance(network, dict) else None


def trial_spec(run: RunData, blocks: str) -> NetSpec:
    """A trial's architecture from its block strings, on the run's skeleton (defaults when unknown)."""
    strings = str(blocks or "").split()
    if not strings:
        raise SpecError("this trial has no block strings (it failed before an architecture was recorded)")
    # The stem feeds the first block, so its width is that block's input width, whatever the skeleton.
    data: dict[str, Any] = {"blocks": strings, "stem_chs": parse_block(strings[0]).in_chs}
    data.update(skeleton(run))
    return spec_from_dict(data, source=f"trial blocks {blocks!r}")
