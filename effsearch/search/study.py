"""The Optuna study behind a baseline search: storage, samplers, resume and the architecture cache.

The study is the single source of truth. Everything else in a results folder (``trials.csv``,
``baseline.yaml``, ...) is exported from it and can be rebuilt from it at any time. The contract
with the storage is Optuna's: a RUNNING trial belongs to the process that asked for it, and a
finished trial is immutable. Two things are added on top:

* a *fingerprint* of what makes rewards comparable (target, space, reward, proxy budget, data set)
  stored in the study's user attributes when it is created; a command that would mix incomparable
  trials into an existing study is refused before anything is written;
* *stale trial recovery*: a trial left RUNNING by a run that was killed is failed (state FAIL,
  status ``interrupted``) and its architecture queued again, so a resumed run trains it once more
  instead of losing it. A trial's owner is recorded when it is asked for (host, pid, process start
  time); on this host a dead owner is detected at once, elsewhere by Optuna's RDB heartbeat.
"""

from __future__ import annotations

import os
import socket
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from effsearch.errors import EffsearchError

HEARTBEAT_S = 20
GRACE_S = 90
"""A trial on a shared database whose owner has not been heard of for this long is stale."""
FINGERPRINT_KEY = "effsearch"
JOURNAL_PREFIX = "journal:"


# --- storage --------------------------------------------------------------------------------------


def storage_kind(url: str) -> str:
    """``journal`` (a journal file), ``sqlite`` or ``rdb`` (any other SQLAlchemy URL)."""
    if url.startswith(JOURNAL_PREFIX) or ("://" not in url and url.endswith(".log")):
        return "journal"
    if "://" not in url:
        raise EffsearchError(f"storage {url!r} is not a database URL; use e.g. sqlite:///study.db, "
                             "postgresql+psycopg2://user@host/db or journal:PATH")
    return "sqlite" if url.startswith("sqlite") else "rdb"


def journal_path(url: str) -> Path:
    return Path(url[len(JOURNAL_PREFIX):] if url.startswith(JOURNAL_PREFIX) else url)


def display_url(url: str) -> str:
    """The storage URL with any password hidden, for logs and ``run.json``."""
    if storage_kind(url) == "journal":
        return url
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported when it is opened
        return url


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for ``url``; a shared database gets a heartbeat so dead runs are noticed."""
    kind = storage_kind(url)
    if kind == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = journal_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    kwargs: dict[str, Any] = {}
    if kind == "sqlite":
        # The main process is the only writer, but a reader (the dashboard) may hold the file briefly.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
        _make_parent(url)
    else:
        kwargs.update(heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S, heartbeat_stale_trial_callback=_requeue_callback)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise EffsearchError(f"storage {display_url(url)} needs the Python package {exc.name!r}; pip install it") from None
    except Exception as exc:  # SQLAlchemy raises many types; the user needs one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise EffsearchError(f"cannot open storage {display_url(url)}: {first}") from None
    if kind == "sqlite":
        _write_ahead(storage.engine)
    return storage


def _make_parent(url: str) -> None:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def _write_ahead(engine: Any) -> None:
    """SQLite in WAL mode with ``synchronous=NORMAL``: a commit no longer waits for the disk.

    A trial makes a few dozen small commits (every suggested parameter and attribute is one);
    with the default rollback journal each waits for an fsync, which on a busy disk costs more
    than a small proxy training. In WAL mode a committed transaction survives the process being
    killed (it is in the log, which the next open replays); only a power cut may drop the last
    commits, never corrupt the file. Readers such as the dashboard no longer block the search.
    """
    from sqlalchemy import event

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # stays in the old mode where WAL is impossible (NFS)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", pragmas)
    engine.dispose()  # connections opened while creating the tables predate the pragmas


def close_storage(storage: BaseStorage) -> None:
    """Release connections; for SQLite this folds the write-ahead log back into ``study.db``."""
    backend = getattr(storage, "_backend", storage)  # a study wraps its storage in a cache
    if isinstance(backend, optuna.storages.RDBStorage):
        backend.remove_session()
        backend.engine.dispose()


# --- study ----------------------------------------------------------------------------------------


def directions(objectives: int) -> list[str]:
    """The reward (maximised), or accuracy (maximised) against MACs (minimised)."""
    return ["maximize"] if objectives == 1 else ["maximize", "minimize"]


def find_study(storage: BaseStorage, name: str) -> optuna.Study | None:
    """The existing study called ``name``, loaded without writing anything, or ``None``."""
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def check_study(study: optuna.Study, *, objectives: int, fingerprint: dict[str, Any]) -> None:
    """Refuse to add trials whose rewards would not be comparable with the study's."""
    wanted = [optuna.study.StudyDirection.MAXIMIZE] + ([optuna.study.StudyDirection.MINIMIZE] if objectives == 2 else [])
    if study.directions != wanted:
        have, want = ("accuracy vs MACs (nsga2)", "the scalar reward (mnas, random, tpe)")
        if objectives == 2:
            have, want = want, have
        raise EffsearchError(f"study {study.study_name!r} searches {have}, this command {want}; "
                             "use a sampler of the same kind, or another --out/--study")
    stored = study.user_attrs.get(FINGERPRINT_KEY)
    if stored is None:
        return  # created by hand or by another tool: nothing to compare with
    have, want = _flat(_normal(stored)), _flat(_normal(fingerprint))
    for key, value in want.items():
        if key in have and have[key] != value:
            raise EffsearchError(f"study {study.study_name!r} was run with {key} = {_show(have[key])}, not {_show(value)}; "
                                 "repeat the original options to resume, or use another --out/--study")


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"proxy": {"epochs": 3}}`` -> ``{"proxy.epochs": 3}``, so a mismatch names the one setting."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _normal(value: Any) -> Any:
    """JSON round-trip normal form (tuples become lists, ints and floats compare by value)."""
    import json

    return json.loads(json.dumps(value, default=str))


def _show(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def create_or_load(storage: BaseStorage, name: str, *, objectives: int, fingerprint: dict[str, Any],
                   sampler: optuna.samplers.BaseSampler) -> tuple[optuna.Study, bool]:
    """The study ``name`` with ``sampler`` attached, and whether it already existed."""
    existing = find_study(storage, name)
    if existing is not None:
        check_study(existing, objectives=objectives, fingerprint=fingerprint)
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler,
                                directions=directions(objectives), load_if_exists=True)
    if FINGERPRINT_KEY not in study.user_attrs:
        study.set_user_attr(FINGERPRINT_KEY, _normal(fingerprint))
    return study, existing is not None


# --- samplers -------------------------------------------------------------------------------------


def sampler_seed(name: str, seed: int, finished: int) -> int:
    """The seed for a sampler joining a study that already holds ``finished`` trials.

    Optuna's samplers draw from one stream per process, so a resumed run seeded as before would
    replay its earlier proposals; they get a stream per (seed, progress). The controller already
    draws trial ``n`` from ``(seed, n)`` and keeps its seed in the study, so it gets ``seed`` as is.
    """
    if name == "mnas" or finished == 0:
        return seed
    return int(np.random.SeedSequence([seed, finished]).generate_state(1)[0])


def make_sampler(name: str, *, seed: int, space: Any, workers: int = 1) -> optuna.samplers.BaseSampler:
    """``mnas`` (the LSTM controller), ``random``, ``tpe`` or ``nsga2`` (accuracy vs MACs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "mnas":
            from effsearch.controller import MnasSampler

            # Failed trials are skipped rather than scored 0: an interrupted trial says nothing about
            # its architecture, and divergence is rare enough not to need teaching.
            return MnasSampler(seed=seed, search_space=space.distributions())
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "tpe":
            # constant_liar keeps parallel workers from proposing the same point while others run
            return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=workers > 1)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, population_size=NSGA2_POPULATION)
    raise EffsearchError(f"unknown sampler {name!r}; use one of mnas, random, tpe, nsga2")


NSGA2_POPULATION = 20
"""Smaller than Optuna's 50 so that searches of a few hundred trials see several generations."""


# --- trial ownership and stale trials -------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), which tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_record() -> dict[str, Any]:
    """Who runs a trial: recorded in its user attributes when it is asked for."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _start_time(pid)}


def _owner_alive(owner: dict[str, Any]) -> bool | None:
    """True or False for an owner on this host; None when it runs elsewhere (ask the heartbeat)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    started = owner.get("started")
    return started is None or _start_time(pid) in (None, started)


def requeue(study: optuna.Study, trial: FrozenTrial | optuna.Trial) -> bool:
    """Queue an interrupted trial's architecture again, if it got as far as having one.

    ``blocks`` is recorded once every decision is made; a trial stopped halfway through its
    decisions has no architecture to repeat, and the sampler simply proposes a new one.
    """
    if "blocks" not in trial.user_attrs:
        return False
    study.enqueue_trial(dict(trial.params), user_attrs={"requeued_from": trial.number}, skip_if_exists=False)
    return True


def _requeue_callback(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat callback: a trial whose owner went silent on a shared database."""
    requeue(study, trial)


def recover_stale(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose owner is dead and queue their architectures again; their numbers."""
    recovered = []
    storage = study._storage  # a finished-by-others trial has no Trial object to go through
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = trial.user_attrs.get("owner")
        if not isinstance(owner, dict) or _owner_alive(owner) is not False:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, "status", "interrupted")
            storage.set_trial_user_attr(trial._trial_id, "reason", "its run stopped before the trial finished; queued again")
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another process recovered it first
        requeue(study, trial)
        recovered.append(trial.number)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # shared databases: owners elsewhere gone silent
    return recovered


# --- counting and the architecture cache ----------------------------------------------------------


def is_interrupted(trial: FrozenTrial) -> bool:
    """Failed because its run stopped, not because of the candidate (set here or by the heartbeat)."""
    return trial.state == TrialState.FAIL and trial.user_attrs.get("status") in (None, "interrupted")


def counts_as_finished(trial: FrozenTrial) -> bool:
    """Towards ``--trials``: completed, rejected, repeated or failed, but not interrupted."""
    return trial.state == TrialState.COMPLETE or (trial.state == TrialState.FAIL and not is_interrupted(trial))


class ArchCache:
    """Results of architectures already evaluated, keyed by their block strings.

    Only successful evaluations are reused: a failure may be transient (memory pressure from a
    neighbour), so an architecture that failed is trained again when proposed again.
    """

    def __init__(self) -> None:
        self._done: dict[str, FrozenTrial] = {}

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        for trial in trials:
            key = trial.user_attrs.get("blocks")
            if key and trial.state == TrialState.COMPLETE and trial.user_attrs.get("status") == "ok":
                self._done.setdefault(key, trial)

    def refresh(self, study: optuna.Study) -> None:
        """Pick up results written by other processes sharing the study."""
        self.update(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def get(self, key: str) -> FrozenTrial | None:
        return self._done.get(key)

    def __len__(self) -> int:
        return len(self._done)
