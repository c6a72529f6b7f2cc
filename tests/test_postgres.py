"""A real PostgreSQL server as the study's storage, with two workers training real candidates."""

from __future__ import annotations

import json

import optuna
import pandas as pd
import pytest
import sqlalchemy

from effsearch.cli import main
from tests.search_helpers import RESUME_SPACE, write_space

pytestmark = pytest.mark.slow


def test_two_workers_land_every_trial_in_one_postgres_study(postgres_url, tmp_path, capsys):
    space = write_space(tmp_path, RESUME_SPACE, "resume")
    out = tmp_path / "pg-run"
    password_url = postgres_url.replace("effsearch@", "effsearch:hunter2@")  # trust auth ignores it
    args = ["baseline", "--flops-target", "5M", "--space", space, "--sampler", "random", "--trials", "6",
            "--epochs", "1", "--workers", "2", "--storage", password_url, "--study", "pg-baseline", "--out", str(out)]
    assert main(args) == 0
    assert "baseline: trial" in capsys.readouterr().out

    study = optuna.load_study(study_name="pg-baseline", storage=postgres_url)
    assert len(study.trials) == 6 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert not (out / "study.db").exists()  # the database is the only store
    engine = sqlalchemy.create_engine(postgres_url)
    with engine.connect() as conn:  # trials in flight kept a heartbeat, so a dead run is noticed elsewhere
        beats = {row[0] for row in conn.exec_driver_sql("SELECT trial_id FROM trial_heartbeats")}
    engine.dispose()
    assert {t._trial_id for t in study.trials if t.user_attrs["status"] == "ok"} <= beats

    trials = pd.read_csv(out / "trials.csv")  # the folder reads back through pandas ...
    assert sorted(trials["number"]) == sorted(t.number for t in study.trials)
    by_number = {t.number: t for t in study.trials}
    for _, row in trials.iterrows():
        assert row["reward"] == pytest.approx(by_number[row["number"]].values[0])
    assert set(pd.read_csv(out / "pareto.csv")["number"]) <= set(trials["number"])
    assert main(["show", str(out), "--json"]) == 0  # ... and through effsearch show
    shown = json.loads(capsys.readouterr().out)
    best = trials.loc[trials["reward"].idxmax()]
    assert (shown["params"], shown["macs"]) == (best["params"], best["macs"])

    run = json.loads((out / "run.json").read_text())
    assert "hunter2" not in (out / "run.json").read_text() and run["config"]["storage"].startswith("postgresql+psycopg2://effsearch:***@")
    assert run["config"]["study"] == "pg-baseline" and run["config"]["workers"] == 2


@pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")
def test_a_trial_whose_owner_went_silent_on_another_host_is_queued_again(postgres_url, monkeypatch):
    import time

    from effsearch.search import storage as storages
    from effsearch.search import study as studies

    monkeypatch.setattr(storages, "HEARTBEAT_S", 1)
    monkeypatch.setattr(storages, "GRACE_S", 2)
    study = optuna.create_study(storage=storages.open_storage(postgres_url), study_name="silent", direction="maximize")
    trial = study.ask()
    trial.suggest_categorical("b1_op", ["ds", "mbconv_e3"])
    trial.set_user_attr("owner", {"host": "node-7", "pid": 4242, "started": "1"})
    trial.set_user_attr("blocks", "r1_k3_s11_e3_i16_o16")  # its decisions were made: there is an architecture to repeat
    study._storage.record_heartbeat(trial._trial_id)
    assert studies.recover_stale(study) == []  # alive as far as anyone can tell
    time.sleep(3.5)
    studies.recover_stale(study)
    trials = study.get_trials()
    assert trials[0].state.name == "FAIL" and studies.is_interrupted(trials[0])
    assert trials[1].state.name == "WAITING" and trials[1].user_attrs["requeued_from"] == 0
    assert trials[1].system_attrs["fixed_params"] == trials[0].params


def test_a_plain_postgresql_url_opens_the_real_server(postgres_url):
    from effsearch.search import storage as storages

    plain = postgres_url.replace("postgresql+psycopg2://", "postgresql://")
    assert plain != postgres_url
    study = optuna.create_study(storage=storages.open_storage(plain), study_name="plain-url", direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    assert len(optuna.load_study(study_name="plain-url", storage=postgres_url).trials) == 2
