"""Storages, samplers, fingerprints and the recovery of trials left RUNNING by a killed run."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from effsearch.errors import EffsearchError
from effsearch.search import storage as storages
from effsearch.search import study as studies
from effsearch.search.samplers import get_sampler, make_sampler, sampler_seed
from effsearch.search.space import load_space
from tests.search_helpers import Scorer, search


def test_storage_urls_are_classified_and_passwords_hidden():
    assert storages.storage_kind("sqlite:///x.db") == "sqlite"
    assert storages.storage_kind("postgresql+psycopg2://u:p@h/db") == "rdb"
    assert storages.storage_kind("journal:/tmp/j") == "journal"
    assert storages.storage_kind("runs/journal.log") == "journal"
    with pytest.raises(EffsearchError, match="not a database URL"):
        storages.storage_kind("results/study.db")
    shown = storages.display_url("postgresql+psycopg2://me:s3cret@db:5432/effsearch")
    assert "s3cret" not in shown and shown.startswith("postgresql+psycopg2://me:***@db:5432")


def test_an_unreachable_database_is_a_one_line_error():
    with pytest.raises(EffsearchError) as info:
        storages.open_storage("postgresql+psycopg2://nobody:pw@127.0.0.1:1/none")
    message = str(info.value)
    assert "\n" not in message and message.startswith("cannot open storage") and "pw" not in message


def test_a_search_runs_in_a_journal_file(tmp_path):
    journal = tmp_path / "shared" / "study.log"
    with pytest.raises(EffsearchError, match=r"folder .*shared does not exist"):  # like an SQLite file's folder
        search(tmp_path / "run", evaluate=Scorer(), trials=4, storage=f"journal:{journal}", study="j1")
    journal.parent.mkdir()
    search(tmp_path / "run", evaluate=Scorer(), trials=4, storage=f"journal:{journal}", study="j1")
    assert journal.is_file() and not (tmp_path / "run" / "study.db").exists()
    storage = storages.open_storage(str(journal))  # a bare *.log path is a journal too
    study = optuna.load_study(study_name="j1", storage=storage)
    assert len(study.trials) == 4 and len(pd.read_csv(tmp_path / "run" / "trials.csv")) == 4


@pytest.mark.parametrize(("url", "message"), [
    ("sqlite://", "in-memory SQLite database"), ("sqlite:///:memory:", "in-memory"), ("journal:", "a journal needs a file"),
    ("journal:FILE/sub.log", "cannot open storage|does not exist"),
])
def test_storages_a_study_cannot_live_in_are_refused(url, message, tmp_path):
    (tmp_path / "FILE").write_text("a regular file")
    with pytest.raises(EffsearchError, match=message):
        storages.open_storage(url.replace("FILE", str(tmp_path / "FILE")))


def test_the_study_name_defaults_to_the_results_folder(tmp_path):
    from effsearch.search import RunConfig

    assert RunConfig(out=tmp_path / "baseline-400M").study_name == "baseline-400M"
    assert RunConfig(out=tmp_path / "x", study="mine").study_name == "mine"
    with pytest.raises(EffsearchError, match="study name"):
        RunConfig(out=tmp_path, study="has space")


@pytest.mark.parametrize("name", ["mnas", "random", "tpe", "nsga2"])
def test_every_sampler_is_an_optuna_sampler(name):
    sampler = make_sampler(name, seed=0, space=load_space("small"))
    assert isinstance(sampler, optuna.samplers.BaseSampler)


def test_resumed_samplers_get_a_fresh_stream_except_the_controller():
    random, mnas = get_sampler("random"), get_sampler("mnas")
    assert sampler_seed(random, 7, 0) == 7
    assert sampler_seed(random, 7, 10) != sampler_seed(random, 7, 11) != 7
    assert sampler_seed(mnas, 7, 10) == 7  # it seeds trial n from (seed, n) itself


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _running_trial(study, owner, *, decided=True):
    trial = study.ask()
    trial.suggest_categorical("b2_op", ["mbconv_e3", "mbconv_e6"])
    trial.set_user_attr("owner", owner)
    if decided:  # the runner records the architecture once every decision is made
        trial.set_user_attr("blocks", "r2_k3_s22_e3_i16_o24")
    return trial.number


def test_trials_of_a_dead_run_are_failed_and_queued_again_but_live_ones_are_left(tmp_path):
    storage = storages.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    dead = _running_trial(study, {**studies.owner_record(), "pid": _dead_pid()})
    alive = _running_trial(study, studies.owner_record())
    reused = _running_trial(study, {**studies.owner_record(), "started": "0"})  # our pid, another process
    elsewhere = _running_trial(study, {"host": "another-host", "pid": 1, "started": "1"})
    undecided = _running_trial(study, {**studies.owner_record(), "pid": _dead_pid()}, decided=False)
    assert sorted(studies.recover_stale(study)) == sorted([dead, reused, undecided])
    trials = {t.number: t for t in study.get_trials()}
    for number in (dead, reused, undecided):
        assert trials[number].state == TrialState.FAIL and trials[number].user_attrs["status"] == "interrupted"
        assert studies.is_interrupted(trials[number]) and not studies.counts_as_finished(trials[number])
    assert trials[alive].state == trials[elsewhere].state == TrialState.RUNNING
    queued = [t for t in trials.values() if t.state == TrialState.WAITING]
    # stopped before its decisions were all made: no architecture to repeat, so not queued
    assert sorted(t.user_attrs["requeued_from"] for t in queued) == sorted([dead, reused])
    assert studies.recover_stale(study) == []  # nothing twice


def test_a_trial_killed_before_its_owner_was_recorded_is_recovered_after_the_grace(tmp_path, monkeypatch):
    """The instant between study.ask() and the owner record: the trial has no owner, and would stay RUNNING
    (uncounted, never requeued) for ever if only owners were checked."""
    monkeypatch.setattr(studies, "UNOWNED_GRACE_S", 0.2)
    storage = storages.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    orphan = study.ask().number
    partial = study.ask()
    partial.set_user_attr("owner.host", studies.owner_record()["host"])  # killed between two of the owner's fields
    alive = _running_trial(study, studies.owner_record())
    assert sorted(studies.recover_stale(study)) == sorted([orphan, partial.number])
    trials = {t.number: t for t in study.get_trials()}
    assert trials[orphan].state == TrialState.FAIL and trials[orphan].user_attrs["status"] == "interrupted"
    assert trials[alive].state == TrialState.RUNNING
    assert not [t for t in trials.values() if t.state == TrialState.WAITING]  # no architecture to queue again


def test_an_owner_recorded_during_the_grace_keeps_its_trial(tmp_path, monkeypatch):
    storage = storages.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    trial = study.ask()

    def owner_arrives(seconds):  # the live run records its owner while recovery waits
        trial.set_user_attr("owner", studies.owner_record())

    monkeypatch.setattr(studies.time, "sleep", owner_arrives)
    assert studies.recover_stale(study) == []
    assert study.get_trials()[0].state == TrialState.RUNNING


def test_counting_ignores_interrupted_trials_only():
    def frozen(state, status=None):
        attrs = {} if status is None else {"status": status}
        return optuna.trial.create_trial(state=state, values=[1.0] if state == TrialState.COMPLETE else None, user_attrs=attrs)

    assert studies.counts_as_finished(frozen(TrialState.COMPLETE, "cached"))
    assert studies.counts_as_finished(frozen(TrialState.FAIL, "failed"))
    assert not studies.counts_as_finished(frozen(TrialState.FAIL, "interrupted"))
    assert not studies.counts_as_finished(frozen(TrialState.FAIL))  # failed by Optuna's heartbeat


def test_sqlite_storage_uses_write_ahead_logging(tmp_path):
    storage = storages.open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    with storage.engine.connect() as conn:
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
    storages.close_storage(storage)


def test_an_existing_study_of_another_tool_is_joined_not_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'run' / 'study.db'}"
    (tmp_path / "run").mkdir()
    optuna.create_study(storage=url, study_name="run", direction="maximize")
    result = search(tmp_path / "run", evaluate=Scorer(), trials=2)
    assert result.resumed and len(result.exported.trials) == 2


def test_workers_own_nothing_but_the_main_process_owns_every_trial(tmp_path):
    search(tmp_path / "run", evaluate=Scorer(), trials=3)
    study = optuna.load_study(study_name="run", storage=f"sqlite:///{tmp_path / 'run' / 'study.db'}")
    assert {t.user_attrs["owner.pid"] for t in study.trials} == {os.getpid()}


def test_an_sqlite_url_in_a_missing_folder_is_refused_and_creates_nothing(tmp_path):
    missing = tmp_path / "no" / "such"
    with pytest.raises(EffsearchError, match=r"folder .*no/such does not exist") as exc:
        storages.open_storage(f"sqlite:///{missing / 'x.db'}")
    assert "\n" not in str(exc.value) and not (tmp_path / "no").exists()
    storage = storages.open_storage(f"sqlite:///{missing / 'x.db'}", create_folder=True)  # the run's own folder
    assert (missing / "x.db").is_file() and storage is not None
    assert storages.inside(f"sqlite:///{missing / 'x.db'}", tmp_path) and not storages.inside("journal:x.log", tmp_path)


def test_plain_postgresql_urls_use_the_installed_driver():
    assert storages.normalise_url("postgresql://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storages.normalise_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert storages.normalise_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    with pytest.raises(EffsearchError, match="cannot open storage postgresql\\+psycopg2://nobody:\\*\\*\\*@") as exc:
        storages.open_storage("postgresql://nobody:pw@127.0.0.1:1/none")  # reaches psycopg2, not an import error
    assert "needs the Python package" not in str(exc.value)


def test_several_processes_creating_one_new_sqlite_study_at_once_all_succeed(tmp_path):
    import subprocess
    import sys
    import time

    db = tmp_path / "shared.db"
    start = time.time() + 3
    code = (
        "import time, optuna, sys\n"
        "from effsearch.search import storage as s\n"
        f"time.sleep(max(0, {start} - time.time()))\n"
        f"st = s.open_storage('sqlite:///{db}')\n"
        "optuna.create_study(storage=st, study_name='run', direction='maximize', load_if_exists=True)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [e.strip().splitlines()[-1:] for e in errors]
    assert len(optuna.get_all_study_summaries(f"sqlite:///{db}")) == 1
