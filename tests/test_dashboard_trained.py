"""The Trained view: folders written by ``effsearch train`` found, loaded, tabled and drawn; one check in a browser."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from effsearch.errors import EffsearchError
from effsearch.review.dashboard import compound_figures, figures, tables
from effsearch.review.dashboard.app import Server, _default_tab, create_app
from effsearch.review.dashboard.cache import RunCache, discover, expand
from effsearch.review.dashboard.data import check_folder, load_run
from effsearch.review.dashboard.report import render_report, write_report
from effsearch.review.dashboard.trained import format_seconds, is_train_folder, trained_frame, trained_row
from effsearch.review.dashboard.trained_figures import trained_figure
from tests.fakeruns import fake_train_folder, write_baseline_run, write_scale_run
from tests.test_dashboard_browser import CHROMIUM, Watched, browser  # noqa: F401  (browser: the shared chromium fixture)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/ with a search, a scaling run and two trained models under results/trained/."""
    root = tmp_path_factory.mktemp("results")
    write_baseline_run(root / "mnas", 20, seed=1)
    write_scale_run(root / "scale")
    fake_train_folder(root / "trained" / "b0-fashion", epochs=4)
    fake_train_folder(root / "trained" / "b1-live", name="b1-fashion", epochs=2, done=False, ema=False, total_epochs=6)
    return root


def traces(fig: Any, role: str) -> dict[str, Any]:
    return {t.meta["run"]: t for t in fig.data if (t.meta or {}).get("role") == role}


# --- finding and loading --------------------------------------------------------------------------


def test_discover_finds_train_folders_two_levels_down(results: Path) -> None:
    found = discover(results)
    assert [f.relative_to(results).as_posix() for f in found] == ["mnas", "scale", "trained/b0-fashion", "trained/b1-live"]
    assert is_train_folder(results / "trained" / "b0-fashion") and not is_train_folder(results / "mnas")
    assert check_folder(results / "trained" / "b1-live") == results / "trained" / "b1-live"


def test_a_folder_of_trained_models_stands_for_them(results: Path, tmp_path: Path) -> None:
    trained = results / "trained"
    assert expand([trained]) == [trained / "b0-fashion", trained / "b1-live"]
    assert expand([trained / "b0-fashion", trained]) == [trained / "b0-fashion", trained / "b1-live"]
    assert [r.name for r in RunCache([trained]).runs()] == ["b0-fashion", "b1-live"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(EffsearchError, match="is empty"):
        RunCache([tmp_path / "empty"])
    (tmp_path / "other" / "x").mkdir(parents=True)
    (tmp_path / "other" / "x" / "train.json").write_text('{"kind": "something else"}')
    with pytest.raises(EffsearchError, match="is empty"):  # a train.json that is not effsearch's is not a train folder
        expand([tmp_path / "other"])


def test_load_a_finished_train_folder(results: Path) -> None:
    folder = results / "trained" / "b0-fashion"
    run = load_run(folder)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert run.kind == "train" and run.notes == () and len(run.trials) == 0 and run.grid is None and run.family is None
    assert run.trained.status == "done" and run.trained.has_ema
    assert run.trained.history["epoch"].tolist() == [1, 2, 3, 4]
    row = trained_row(run)
    assert (row["test_accuracy"], row["val_accuracy"], row["weights"]) == (metrics["test_accuracy"], metrics["val_accuracy"], "ema")
    assert (row["params"], row["macs"], row["epochs"], row["dataset"]) == (metrics["params"], metrics["macs"], 4, "fashion_mnist")


def test_a_running_training_shows_its_epochs_so_far(results: Path) -> None:
    run = load_run(results / "trained" / "b1-live")
    history = pd.read_csv(results / "trained" / "b1-live" / "history.csv")
    assert run.notes == () and run.trained.metrics is None and not run.trained.has_ema
    row = trained_row(run)
    assert row["status"] == "running" and row["test_accuracy"] is None and row["params"] is None
    assert row["val_accuracy"] == history["val_accuracy"].iloc[-1] and row["epochs"] == 2
    frame = trained_frame([run]).iloc[0]
    assert (frame["status"], frame["test top-1"], frame["epochs"], frame["weights"]) == ("running", "", "2 / 6", "")
    assert frame["train time"] == format_seconds(row["train_seconds"]) != ""


def test_a_corrupt_history_is_a_note_not_a_crash(tmp_path: Path) -> None:
    folder = fake_train_folder(tmp_path / "bad", epochs=3)
    (folder / "history.csv").write_text("epoch,steps\n1,2,3,4,5\n\x00garbage,,,,,,,\n")
    run = load_run(folder)
    assert any("history.csv could not be read" in n for n in run.notes)
    assert len(run.trained.history) == 0 and trained_row(run)["test_accuracy"] is not None  # metrics.json still shown
    assert "no finished epoch yet" in trained_figure([run]).layout.annotations[0].text
    (folder / "history.csv").write_text("step,loss\n1,0.5\n")
    assert any("no epoch column" in n for n in load_run(folder).notes)
    (folder / "history.csv").write_text("epoch,val_accuracy\n1,0.5\nx,0.6\n2,0.7\n")
    run = load_run(folder)
    assert run.trained.history["val_accuracy"].tolist() == [0.5, 0.7] and any("no epoch number" in n for n in run.notes)
    (folder / "history.csv").write_text("")  # created, no row yet
    assert load_run(folder).notes == ()
    (folder / "metrics.json").write_text("{half")
    (folder / "train.json").write_text("{half")  # being replaced: still a train folder, with a note
    run = load_run(folder)
    assert run.kind == "train" and trained_row(run)["status"] == "running"
    assert any("train.json could not be read" in n for n in run.notes) and any("metrics.json" in n for n in run.notes)
    assert RunCache([folder]).runs()[0].notes == run.notes


# --- table and figure -----------------------------------------------------------------------------


def test_the_table_has_one_row_per_trained_model(results: Path) -> None:
    runs = RunCache(discover(results)).runs()
    frame = trained_frame(runs)
    assert frame["model"].tolist() == ["b0-fashion", "b1-live"] and frame["name"].tolist() == ["b0-fashion", "b1-fashion"]
    assert list(frame.columns) == ["model", "name", "dataset", "status", "test top-1", "val top-1", "weights", "params", "MACs",
                                   "resolution", "latency ms", "epochs", "train time"]
    metrics = json.loads((results / "trained" / "b0-fashion" / "metrics.json").read_text())
    done = frame.iloc[0]
    assert done["test top-1"] == f"{metrics['test_accuracy']:.4f}" and done["status"] == "done"
    assert done["params"] == "4.02M" and done["resolution"] == "32" and done["latency ms"] == "4.87"
    assert done["train time"] == format_seconds(metrics["train_seconds"]) == "2m 01s"
    assert [format_seconds(s) for s in (42, 754, 7384, None)] == ["42s", "12m 34s", "2h 03m", ""]


def test_the_figure_draws_every_epoch(results: Path) -> None:
    runs = RunCache(discover(results)).runs()
    fig = trained_figure(runs)
    done = pd.read_csv(results / "trained" / "b0-fashion" / "history.csv")
    live = pd.read_csv(results / "trained" / "b1-live" / "history.csv")
    val, ema, loss = traces(fig, "val_accuracy"), traces(fig, "ema_val_accuracy"), traces(fig, "train_loss")
    assert list(val["b0-fashion"].x) == done["epoch"].tolist() and list(val["b0-fashion"].y) == done["val_accuracy"].tolist()
    assert list(ema["b0-fashion"].y) == done["ema_val_accuracy"].tolist() and ema["b0-fashion"].line.dash == "dash"
    assert val["b0-fashion"].line.dash == "solid" and "b1-live" not in ema  # EMA off: no dashed curve
    assert list(loss["b1-live"].y) == live["train_loss"].tolist() and loss["b1-live"].yaxis == "y2"
    assert set(traces(fig, "test_accuracy")) == {"b0-fashion"}
    assert val["b0-fashion"].line.color != val["b1-live"].line.color
    assert "no trained models" in trained_figure([load_run(results / "mnas")]).layout.annotations[0].text


def test_train_folders_do_not_break_the_other_views(results: Path, tmp_path: Path) -> None:
    runs = RunCache(discover(results)).runs()
    trained_only = RunCache([results / "trained"]).runs()
    for group in (runs, trained_only):
        figures.pareto_figure(group)
        figures.learning_figure(group)
        compound_figures.grid_figure(group)
        compound_figures.family_figure(group)
        assert tables.runs_frame(group).set_index("")[group[-1].name]["kind"] == "train"
    assert _default_tab(runs) == "pareto" and _default_tab(trained_only) == "trained"
    text = render_report(runs)
    assert 'id="section-trained"' in text and 'id="section-pareto"' in text
    out = write_report([results / "trained"], tmp_path / "trained.html").read_text()
    assert 'id="section-trained"' in out and 'id="section-pareto"' not in out


def test_the_poll_sees_a_new_epoch_and_the_end(tmp_path: Path) -> None:
    folder = fake_train_folder(tmp_path / "live", epochs=1, done=False, total_epochs=3)
    cache = RunCache([folder])
    version = cache.version()
    assert trained_row(cache.runs()[0])["epochs"] == 1
    time.sleep(0.01)
    fake_train_folder(folder, epochs=2, done=False, total_epochs=3)
    assert cache.version() != version and trained_row(cache.runs()[0])["epochs"] == 2
    version = cache.version()
    time.sleep(0.01)
    fake_train_folder(folder, epochs=3, done=True)
    assert cache.version() != version and trained_row(cache.runs()[0])["status"] == "done"


# --- in a browser ---------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_trained_tab_in_a_browser(browser: Any, tmp_path: Path) -> None:  # noqa: F811  (the shared fixture)
    trained = tmp_path / "trained"
    fake_train_folder(trained / "b0-fashion", epochs=4)
    live = fake_train_folder(trained / "b1-live", name="b1-fashion", epochs=2, done=False, total_epochs=3)
    metrics = json.loads((trained / "b0-fashion" / "metrics.json").read_text())
    graph = "#trained-graph .js-plotly-plot"
    watched = Watched(browser)
    page = watched.page
    with Server(create_app([trained], poll_seconds=0.3), port=0) as srv:
        page.goto(srv.url)  # only trained models: the Trained tab opens first
        page.wait_for_selector("#trained-models", timeout=60_000)
        assert f"{metrics['test_accuracy']:.4f}" in page.inner_text("#trained-models")
        page.wait_for_function(f"() => document.querySelector('{graph}')?._fullData?.length > 0", timeout=60_000)
        roles = page.evaluate(f"() => document.querySelector('{graph}')._fullData.map(t => [t.meta.role, t.meta.run, t._length])")
        assert ["val_accuracy", "b0-fashion", 4] in roles and ["train_loss", "b1-live", 2] in roles
        assert "1 training, refreshing" in page.inner_text("#status")
        time.sleep(0.05)
        fake_train_folder(live, name="b1-fashion", epochs=3, done=True)  # the training finished meanwhile
        done = json.loads((live / "metrics.json").read_text())
        page.wait_for_function(f"() => document.querySelector('#trained-models')?.innerText.includes('{done['test_accuracy']:.4f}')",
                               timeout=30_000)
        page.get_by_text("Pareto front", exact=True).click()  # the other views say there is nothing, without errors
        page.wait_for_function("() => document.querySelector('#pareto-graph')?.innerText.includes('no finished trial yet')",
                               timeout=30_000)
        page.close()  # before the server stops, or its next poll fails to connect
    assert watched.errors == []
    assert all(u.startswith(srv.url) for u in watched.requests)


def test_nan_free_fake_history(tmp_path: Path) -> None:
    folder = fake_train_folder(tmp_path / "raw", epochs=3, ema=False)
    history = pd.read_csv(folder / "history.csv")
    assert history["ema_val_accuracy"].isna().all() and np.isfinite(history["val_accuracy"]).all()
    assert json.loads((folder / "metrics.json").read_text())["weights"] == "raw"
