"""The train stage's hand-over: a network from any source, on the data it was searched on, into a folder that resumes.

``prepare_training(source, phi=...)`` resolves the network (a preset, spec file, baseline run, trained
network, or a family member), the data set (given, else the one the baseline or family was searched on,
else the default), how the network meets the data (a searched network trains adapted, as the search
scored it), and the folder (``results/trained/<network>-<data>``, so the same call resumes);
``train(...)`` runs it and returns the :class:`TrainRun`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from effsearch.errors import EffsearchError
from effsearch.runs.folders import BaselineRun, ScaleRun, TrainRun
from effsearch.runs.inherit import load_recorded_data
from effsearch.runs.stages import data_of, network
from effsearch.runtime.results import DEFAULT_ROOT


def training_data(source: Any, data: Any = None, *, load: Any = None, train_images: int | None = None) -> Any:
    """``data`` when given, else the data set ``source`` (a baseline or scale run) recorded, else ``load()``."""
    if data is None:
        recorded = data_of(source)
        if recorded:
            data = load_recorded_data(recorded, str(source.folder))
        elif load is not None:
            data = load()
        else:
            from effsearch.data import load_dataset

            data = load_dataset()
    return data.subset(train=train_images, seed=0) if train_images else data


class DataMismatch(EffsearchError):
    """A network made for other data (classes, channels) given no way to meet this data; ``problem`` says how."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}; fit it to the data (a classifier and stem for it) or adapt it (the proxy's network "
                         "for small images), or train on data it was made for")
        self.problem = problem


def network_mode(spec: Any, data: Any, *, mode: str | None, searched: bool, resolution: int | None) -> str:
    """How ``spec`` meets ``data``: the mode asked for, else as-is; a searched network that does not fit
    the data trains adapted (the search scored it adapted to this data: anything else is another network)."""
    from effsearch.train.network import mismatch

    if mode is not None:
        return mode
    problem = mismatch(spec, data)
    if not problem:
        return "as-is"
    if searched and resolution is None:
        return "adapt"
    raise DataMismatch(problem)


def prepare_training(source: Any, *, phi: float | None = None, data: Any = None, config: Any = None,
                     out: str | Path | None = None, seed: int = 0, mode: str | None = None,
                     resolution: int | None = None, train_images: int | None = None, load: Any = None) -> Any:
    """A :class:`~effsearch.train.Training` ready to run (or resume, or found finished)."""
    from effsearch.train import Training, network_for

    picked, found = network(source, phi=phi)
    data = training_data(found, data, load=load, train_images=train_images)
    how = network_mode(picked, data, mode=mode, searched=isinstance(found, (BaselineRun, ScaleRun)), resolution=resolution)
    if how == "adapt" and resolution is None and isinstance(found, ScaleRun):
        resolution = _member_side(found, phi, data)
    spec = network_for(picked, data, resolution=resolution, mode=how)
    folder = Path(out) if out is not None else DEFAULT_ROOT / "trained" / f"{spec.name or 'net'}-{data.name}"
    label = str(source) if phi is None else f"{source} (phi {phi:g})"
    return Training(spec, data, config, folder, seed=seed, source=label)


def _member_side(run: ScaleRun, phi: float | None, data: Any) -> int:
    """A member's training input side: the data's proxy side grown as its resolution grew from the baseline's
    (the rule of ``scale --train`` and ``--compare``, so the same member trains the same way everywhere)."""
    from effsearch.compound.trained import member_variant

    family = run.family
    return member_variant(family, family.member(phi)).train_resolution(data.default_resolution)


def train(source: Any, **options: Any) -> TrainRun:
    """Train (or resume) the network of ``source`` and return its :class:`TrainRun`; options as :func:`prepare_training`."""
    training = prepare_training(source, **options)
    return TrainRun(training.out, training.run())
