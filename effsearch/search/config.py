"""The baseline search's configuration, split by concern as Ray Tune splits it.

* :class:`SearchConfig` - *what* to search and for how long: the space, the sampler, the evaluator,
  the number of trials, the time limit, the seed, the rungs of a multi-fidelity search, the
  retraining of the best candidates, latency measurement;
* :class:`~effsearch.search.reward.RewardConfig` - *how a candidate is scored*: the objective, its
  target and the exponents (lives with the reward);
* :class:`~effsearch.proxy.ProxyConfig` - *how a candidate is trained* (lives with the proxy);
* :class:`RunConfig` - *where and how to run*: the results folder, the Optuna storage and study name,
  the Ray workers.

All are frozen, keyword-only and validated on construction, so a config that exists can be run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effsearch.errors import EffsearchError
from effsearch.search.rungs import Rungs

DEFAULT_STUDY = "baseline"
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@+-]{0,99}$")


def _positive_int(name: str, value: object, *, allow_zero: bool = False) -> None:
    lo = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise EffsearchError(f"{name} {value!r} is invalid; give an integer >= {lo}")


@dataclass(frozen=True, kw_only=True)
class SearchConfig:
    """What to search: the space, how candidates are proposed, and the trial and time budget.

    ``trials`` counts the finished trials of the whole study (completed, rejected, repeated or
    failed; not those interrupted by a killed run), so re-running the same command tops a study up
    to ``trials`` instead of adding ``trials`` more.
    """

    space: str = "mnasnet"
    space_width: float | str | None = None  # the space's widths x this, or "auto": its median at the target (search.space_fit)
    sampler: Any = "mnas"  # a registered name (search.samplers) or any optuna BaseSampler instance
    evaluator: str = "proxy"  # a registered name, or NAME:ARG (search.evaluators)
    trials: int = 40
    timeout: float | None = None
    seed: int = 0
    retrain_top: int = 0
    retrain_epochs: float | None = None
    latency: bool = False  # measure every candidate's latency too (the latency objective always does)
    latency_threads: int = 1
    latency_device: str = "cpu"
    mix_runtime: bool = False  # allow trials trained on another device, thread count or kernel path in
    rungs: Rungs = field(default_factory=Rungs)  # multi-fidelity: successive-halving rungs, seeds at the top

    def __post_init__(self) -> None:
        import optuna

        from effsearch.search.evaluators import get_evaluator
        from effsearch.search.samplers import get_sampler
        from effsearch.search.space_fit import check_width

        if not isinstance(self.space, str) or not self.space.strip():
            raise EffsearchError("search space is empty; give a space name (e.g. mnasnet) or a YAML file")
        check_width(self.space_width)
        if not isinstance(self.sampler, optuna.samplers.BaseSampler):
            get_sampler(self.sampler)
        get_evaluator(self.evaluator)
        _positive_int("trials", self.trials)
        if self.timeout is not None and (not isinstance(self.timeout, (int, float)) or not math.isfinite(self.timeout) or self.timeout <= 0):
            raise EffsearchError(f"timeout {self.timeout!r} is invalid; give a positive number of seconds")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise EffsearchError(f"seed {self.seed!r} is invalid; give an integer from 0 to 2**32 - 1")
        _positive_int("retrain-top count", self.retrain_top, allow_zero=True)
        if self.retrain_epochs is not None and (isinstance(self.retrain_epochs, bool) or not isinstance(self.retrain_epochs, (int, float))
                                                or not math.isfinite(self.retrain_epochs) or self.retrain_epochs <= 0):
            raise EffsearchError(f"retraining epochs {self.retrain_epochs!r} is invalid; give a positive number of epochs")
        _positive_int("latency threads", self.latency_threads)
        if not isinstance(self.rungs, Rungs):
            raise EffsearchError(f"rungs {self.rungs!r} is invalid; give an effsearch.search.rungs.Rungs")
        if self.latency_device != "cpu" and not str(self.latency_device).startswith("cuda"):
            raise EffsearchError(f"latency device {self.latency_device!r} is invalid; use cpu or cuda[:N]")

    @property
    def sampler_name(self) -> str:
        from effsearch.search.samplers import sampler_label

        return sampler_label(self.sampler)

    @property
    def objectives(self) -> int:
        """1 (the reward, maximised) or 2 (accuracy maximised, the cost minimised)."""
        from effsearch.search.samplers import sampler_objectives

        return sampler_objectives(self.sampler)


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Where and how to run: results folder, Optuna storage and study, workers (a count or ``"auto"``), Ray.

    ``storage`` is an SQLAlchemy URL (``sqlite:///...``, ``postgresql+psycopg2://...``,
    ``mysql+pymysql://...``), a journal file (``journal:PATH`` or a path ending in ``.log``), or
    ``None`` for ``study.db`` in the results folder.
    """

    out: Path
    storage: str | None = None
    study: str | None = None
    workers: int | str = "auto"  # candidates trained at once; "auto": measured here (search.placement)
    ray_address: str | None = None
    gpus_per_trial: float | None = None
    progress: bool = True
    verbose: bool = False  # also show Ray's own worker output

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        if self.out.exists() and not self.out.is_dir():
            raise EffsearchError(f"results folder {self.out} is a file; give a folder for the results")
        if self.storage is not None and (not isinstance(self.storage, str) or not self.storage.strip()):
            raise EffsearchError("storage URL is empty; give a database URL or a journal file, or leave it out")
        if self.study is not None and (not isinstance(self.study, str) or not _STUDY_NAME.match(self.study)):
            raise EffsearchError(f"study name {self.study!r} is invalid; use letters, digits and . _ - : @ + (at most 100)")
        if self.workers != "auto":
            _positive_int("workers", self.workers)
        if self.gpus_per_trial is not None and (not isinstance(self.gpus_per_trial, (int, float)) or not 0 <= self.gpus_per_trial <= 8):
            raise EffsearchError(f"GPUs per trial {self.gpus_per_trial!r} is invalid; give a number from 0 to 8")

    @property
    def study_name(self) -> str:
        """The given study name, or the results folder's name, so runs sharing one database stay apart."""
        if self.study is not None:
            return self.study
        name = re.sub(r"[^A-Za-z0-9_.:@+-]+", "-", self.out.resolve().name).strip("-.")
        return name[:100] or DEFAULT_STUDY

    @property
    def storage_url(self) -> str:
        """The storage actually used: the given URL, or the SQLite file in the results folder."""
        if self.storage is not None:
            from effsearch.search.storage import normalise_url

            return normalise_url(self.storage)
        return f"sqlite:///{(self.out / 'study.db').resolve()}"
