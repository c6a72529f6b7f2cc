"""The Optuna study behind a baseline search: the fingerprint check, resume and the architecture cache.

The study is the single source of truth. Everything else in a results folder (``trials.csv``,
``baseline.yaml``, ...) is exported from it and can be rebuilt from it at any time. Storage is
:mod:`effsearch.search.storage`; two things are added on top of Optuna's contract:

* a *fingerprint* of what makes rewards comparable (objective and target, space, reward, evaluator,
  proxy budget, kernel path, data set; :mod:`effsearch.runtime.fingerprint`) stored in the study's
  user attributes when it is created; a run that would mix incomparable trials into an existing
  study is refused before anything is written;
* *stale trial recovery*: a trial left RUNNING by a run that was killed is failed (state FAIL,
  status ``interrupted``) and its architecture queued again, so a resumed run trains it once more
  instead of losing it. A trial's owner is recorded when it is asked for (host, pid, process start
  time); on this host a dead owner is detected at once, elsewhere by Optuna's RDB heartbeat. A run
  killed in the instant between asking for a trial and recording its owner leaves a RUNNING trial
  with no owner: a live run records one within milliseconds, so one still missing after
  :data:`UNOWNED_GRACE_S` is an orphan and is recovered the same way.
"""

from __future__ import annotations

import os
import socket
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from effsearch.errors import EffsearchError
from effsearch.runtime.fingerprint import check_same, normal

FINGERPRINT_KEY = "effsearch"


# --- study ----------------------------------------------------------------------------------------


def directions(objectives: int) -> list[str]:
    """The reward (maximised), or accuracy (maximised) against the cost (minimised)."""
    return ["maximize"] if objectives == 1 else ["maximize", "minimize"]


def find_study(storage: BaseStorage, name: str) -> optuna.Study | None:
    """The existing study called ``name``, loaded without writing anything, or ``None``."""
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return optuna.load_study(study_name=name, storage=storage)


def check_study(study: optuna.Study, *, objectives: int, fingerprint: dict[str, Any], mix_runtime: bool = False) -> None:
    """Refuse to add trials whose rewards would not be comparable with the study's."""
    wanted = [optuna.study.StudyDirection.MAXIMIZE] + ([optuna.study.StudyDirection.MINIMIZE] if objectives == 2 else [])
    if study.directions != wanted:
        have, want = ("accuracy against the cost (two objectives)", "the scalar reward (one objective)")
        if objectives == 2:
            have, want = want, have
        raise EffsearchError(f"study {study.study_name!r} searches {have}, this run {want}; "
                             "use a sampler of the same kind, or another results folder or study name")
    check_same(study.user_attrs.get(FINGERPRINT_KEY), fingerprint, what=f"study {study.study_name!r}",
               ignore=("runtime",) if mix_runtime else ())


def create_or_load(storage: BaseStorage, name: str, *, objectives: int, fingerprint: dict[str, Any],
                   sampler: optuna.samplers.BaseSampler, mix_runtime: bool = False,
                   metric_names: list[str] | None = None, pruner: Any = None) -> tuple[optuna.Study, bool]:
    """The study ``name`` with ``sampler`` attached, and whether it already existed.

    ``metric_names`` name the objectives for Optuna's own tools (optuna-dashboard shows them).
    """
    existing = find_study(storage, name)
    if existing is not None:
        check_study(existing, objectives=objectives, fingerprint=fingerprint, mix_runtime=mix_runtime)
    study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, pruner=pruner,
                                directions=directions(objectives), load_if_exists=True)
    if FINGERPRINT_KEY not in study.user_attrs:
        study.set_user_attr(FINGERPRINT_KEY, normal(fingerprint))
    if metric_names and study.metric_names != metric_names:
        with warnings.catch_warnings():  # "experimental" since Optuna 3.2; stable in use
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(metric_names)
    return study, existing is not None


# --- trial ownership and stale trials -------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), which tells a live owner from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def flat_attrs(prefix: str, record: dict[str, Any]) -> dict[str, Any]:
    """``("owner", {"pid": 7})`` -> ``{"owner.pid": 7}``: one scalar user attribute per field.

    Optuna's tools (optuna-dashboard, ``trials_dataframe``) show a dict attribute as one opaque
    column; scalars under dotted names show as columns of their own.
    """
    return {f"{prefix}.{key}": value for key, value in record.items()}


def nested_attrs(attrs: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The record :func:`flat_attrs` stored under ``prefix`` (or the dict older studies stored whole)."""
    whole = attrs.get(prefix)
    if isinstance(whole, dict):
        return whole
    start = prefix + "."
    return {key[len(start):]: value for key, value in attrs.items() if key.startswith(start)}


def owner_record() -> dict[str, Any]:
    """Who runs a trial: recorded in its user attributes when it is asked for."""
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "started": _start_time(pid)}


def _owner_alive(owner: dict[str, Any]) -> bool | None:
    """True or False for an owner on this host; None when it runs elsewhere (ask the heartbeat)."""
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner["pid"])
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


def requeue_stale(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's heartbeat callback: a trial whose owner went silent on a shared database."""
    requeue(study, trial)


UNOWNED_GRACE_S = 3.0
"""How long a RUNNING trial may lack an owner record before it counts as orphaned (a live run
records its owner milliseconds after asking; waited for only when such a trial exists)."""


def _has_owner(trial: FrozenTrial) -> bool:
    owner = nested_attrs(trial.user_attrs, "owner")
    return "host" in owner and "pid" in owner


def _orphans(study: optuna.Study) -> list[FrozenTrial]:
    """RUNNING trials whose owner is dead, or that still have no owner after the grace period."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    dead = [t for t in running if _has_owner(t) and _owner_alive(nested_attrs(t.user_attrs, "owner")) is False]
    unowned = {t.number for t in running if not _has_owner(t)}
    if unowned:
        time.sleep(UNOWNED_GRACE_S)
        again = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        dead += [t for t in again if t.number in unowned and not _has_owner(t)]
    return dead


def recover_stale(study: optuna.Study) -> list[int]:
    """Fail the RUNNING trials whose owner is dead and queue their architectures again; their numbers."""
    recovered = []
    storage = study._storage  # a finished-by-others trial has no Trial object to go through
    for trial in _orphans(study):
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
    """Towards ``--trials``: completed, pruned at a rung, rejected, repeated or failed, but not interrupted."""
    return trial.state in (TrialState.COMPLETE, TrialState.PRUNED) or (trial.state == TrialState.FAIL and not is_interrupted(trial))



class ArchCache:
    """Results of architectures already evaluated, keyed by their block strings.

    Only successful evaluations are reused: a failure may be transient (memory pressure from a
    neighbour), so an architecture that failed is trained again when proposed again. A candidate
    pruned at a rung is a result too: a repeat of it is pruned at the same rung.
    """

    def __init__(self) -> None:
        self._done: dict[str, FrozenTrial] = {}

    def update(self, trials: Iterable[FrozenTrial]) -> None:
        for trial in trials:
            key = trial.user_attrs.get("blocks")
            cut = trial.state == TrialState.PRUNED and trial.user_attrs.get("reason")  # stopped by the time limit
            if key and trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.user_attrs.get("status") == "ok" \
                    and not cut:
                self._done.setdefault(key, trial)

    def get(self, key: str) -> FrozenTrial | None:
        return self._done.get(key)

    def __len__(self) -> int:
        return len(self._done)
