"""The rungs of a multi-fidelity search in the dashboard and the report: what is computed, drawn and shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from effsearch.review.dashboard import rung_figures, rungs, tables
from effsearch.review.dashboard.app import TRIAL_COLUMNS, _tab_content
from effsearch.review.dashboard.cache import RunCache
from effsearch.review.dashboard.data import RunData, load_run
from effsearch.review.dashboard.figures import colour
from effsearch.review.dashboard.report import write_report
from effsearch.runtime.results import atomic_write_json
from effsearch.search.outputs import TRIAL_COLUMNS as SEARCH_COLUMNS
from effsearch.search.pick import describe
from tests.fakeruns import write_baseline_run, write_multifidelity_run
from tests.test_dashboard_fidelity import _graphs


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    return {"rungs": write_multifidelity_run(root / "rungs", 40, seed=3, cached=2),
            "plain": write_baseline_run(root / "plain", 12, seed=4)}


@pytest.fixture(scope="module")
def run(folders: dict[str, Path]) -> RunData:
    return load_run(folders["rungs"])


@pytest.fixture(scope="module")
def raw(folders: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(folders["rungs"] / "trials.csv")


def trained(raw: pd.DataFrame, k: int) -> pd.DataFrame:
    """The candidates that trained at rung ``k`` (cached copies trained nothing)."""
    return raw[raw[f"rung{k}_accuracy"].notna() & (raw["status"] == "ok")]


def lines(fig: Any) -> dict[str, list[list[tuple[Any, Any]]]]:
    """Per role, the drawn lines: runs of (x, y) between ``None`` gaps."""
    out: dict[str, list[list[tuple[Any, Any]]]] = {}
    for trace in fig.data:
        drawn: list[list[tuple[Any, Any]]] = [[]]
        for x, y in zip(trace.x, trace.y, strict=True):
            if x is None:
                drawn.append([])
            else:
                drawn[-1].append((x, y))
        out[trace.meta["role"]] = drawn
    return out


# --- the fake folder is the search's schema ---------------------------------------------------------


def test_the_fake_folder_has_the_searchs_columns_states_and_pick(folders: dict[str, Path], raw: pd.DataFrame) -> None:
    plain = [c for c in raw.columns if not c.startswith(("d_", "rung0", "rung1", "rung2"))]
    assert plain == [c for c in SEARCH_COLUMNS if c in plain]  # the search's order, less what a fake cannot know
    assert [c for c in raw.columns if c.startswith("rung") and c != "rung"] == [
        f"rung{k}_{w}" for k in range(3) for w in ("accuracy", "reward", "promoted")]
    pruned = raw[raw["state"] == "PRUNED"]
    assert len(pruned) and set(pruned["status"]) <= {"ok", "cached"} and (pruned["rung"] < 2).all()
    final = raw[(raw["state"] == "COMPLETE") & (raw["status"] == "ok")]
    assert (final["rung"] == 2).all() and final["seed_accuracies"].str.split().map(len).eq(2).all()
    info = json.loads((folders["rungs"] / "run.json").read_text())
    assert info["config"]["rungs"] == {"count": 3, "factor": 3, "seeds": 2}
    assert info["results"]["pick"]["best"] in set(final["number"]) and info["results"]["pick"]["noise"]["seeds"] == 2


def test_pruned_candidates_load_as_pruned_with_their_rung(run: RunData, raw: pd.DataFrame) -> None:
    pruned = raw.loc[raw["state"] == "PRUNED", "number"]
    assert set(run.trials.loc[run.trials["outcome"] == "pruned", "number"]) == set(pruned)
    assert run.trials["rung"].tolist() == pytest.approx(raw["rung"].tolist(), nan_ok=True)


# --- the computation --------------------------------------------------------------------------------


def test_rung_labels_name_the_budget_and_the_seeds(run: RunData) -> None:
    assert rungs.rung_count(run) == 3
    assert [rungs.rung_label(run, k) for k in range(3)] == ["rung 0 (1x)", "rung 1 (3x)", "rung 2 (9x, 2 seeds)"]
    unlabelled = RunData(folder=run.folder, name="x", trials=run.trials)  # no config.rungs: the columns say 3
    assert rungs.rung_count(unlabelled) == 3 and rungs.rung_label(unlabelled, 2) == "rung 2"
    halving = RunData(folder=run.folder, name="y", trials=run.trials, run={"config": {"rungs": {"count": 4, "factor": 2}}})
    assert rungs.rung_count(halving) == 4 and rungs.rung_label(halving, 3) == "rung 3 (8x)"


def test_rung_points_one_per_candidate_and_rung(run: RunData, raw: pd.DataFrame) -> None:
    points = rungs.rung_points(run)
    assert len(points) == sum(len(trained(raw, k)) for k in range(3))
    for k in range(3):
        at = points[points["rung"] == k].set_index("number")
        rows = trained(raw, k).set_index("number")
        assert sorted(at.index) == sorted(rows.index)
        assert at["accuracy"].to_dict() == pytest.approx(rows[f"rung{k}_accuracy"].to_dict())
        if k < 2:
            assert at["promoted"].to_dict() == rows[f"rung{k}_promoted"].astype(bool).to_dict()
    finalists = set(points.loc[points["finalist"], "number"])
    assert finalists == set(raw.loc[(raw["status"] == "ok") & (raw["state"] == "COMPLETE"), "number"])
    assert set(points.loc[points["chosen"], "number"]) == {rungs.pick(run)["best"]} == {rungs.chosen_trial(run)}


def test_rung_table_counts_what_each_rung_trained_and_promoted(run: RunData, raw: pd.DataFrame) -> None:
    table = rungs.rung_table(run)
    assert table["trained"].tolist() == [len(trained(raw, k)) for k in range(3)]
    # Promoted at rung k are exactly those that trained at rung k + 1; nothing is promoted from the top.
    assert table["promoted"].tolist()[:2] == table["trained"].tolist()[1:] and table["promoted"].iloc[2] is None
    for k in range(3):
        rows = trained(raw, k)
        assert table["best_accuracy"][k] == pytest.approx(rows[f"rung{k}_accuracy"].max())
        assert table["best_reward"][k] == pytest.approx(rows[f"rung{k}_reward"].max())
        assert table["best_trial"][k] == rows.loc[rows[f"rung{k}_reward"].idxmax(), "number"]
    shown = tables.rungs_frame(run)
    assert shown["rung"].tolist() == ["rung 0 (1x)", "rung 1 (3x)", "rung 2 (9x, 2 seeds)"]
    assert shown["promoted"].iloc[2] == "(top rung)" and shown["trained"].tolist() == [str(v) for v in table["trained"]]


def test_the_pick_line_is_the_searchs_sentence(run: RunData, tmp_path: Path) -> None:
    line = rungs.pick_line(run)
    assert line == describe(rungs.pick(run)) and line.startswith("runner-up trial ")
    assert "x 2 seeds)" in line and ("beyond the noise" in line or "within the noise" in line)
    bare = RunData(folder=tmp_path, name="bare", trials=run.trials, run={"config": run.config})
    assert rungs.pick_line(bare) is None
    odd = RunData(folder=tmp_path, name="odd", trials=run.trials, run={"results": {"pick": {"runner_up": 3}}})
    assert rungs.pick_line(odd) is None  # a record of another shape: no sentence, no error


# --- the figure -------------------------------------------------------------------------------------


def test_one_line_per_trained_candidate_grey_when_stopped_gold_when_chosen(run: RunData, raw: pd.DataFrame) -> None:
    fig = rung_figures.rungs_figure(run, index=1)
    roles = {t.meta["role"]: t for t in fig.data}
    assert list(roles) == ["stopped", "finalist", "chosen"]
    drawn = lines(fig)
    numbers = [n for t in fig.data for n in t.meta["trials"]]
    assert sorted(numbers) == sorted(trained(raw, 0)["number"])  # each trained candidate once, no cached copy
    reached = raw.set_index("number")["rung"]
    for role, trace in roles.items():
        assert len(drawn[role]) == len(trace.meta["trials"])
        for number, line in zip(trace.meta["trials"], drawn[role], strict=True):
            assert [x for x, _ in line] == list(range(int(reached[number]) + 1))  # rung 0 up to where it stopped
    assert roles["chosen"].meta["trials"] == [rungs.pick(run)["best"]]
    assert roles["stopped"].line.color == rung_figures.STOPPED_GREY and roles["stopped"].line.width == 1
    assert roles["finalist"].line.color == colour(1) and roles["finalist"].line.width == 2
    assert roles["chosen"].line.color == "gold" and roles["chosen"].line.width > 2
    assert list(fig.layout.xaxis.ticktext) == ["rung 0 (1x)", "rung 1 (3x)", "rung 2 (9x, 2 seeds)"]
    assert list(fig.layout.xaxis.tickvals) == [0, 1, 2]


def test_stops_promotions_and_hover(run: RunData) -> None:
    fig = rung_figures.rungs_figure(run)
    stopped = next(t for t in fig.data if t.meta["role"] == "stopped")
    ends = [i for i, x in enumerate(stopped.x) if x is not None and (i + 1 == len(stopped.x) or stopped.x[i + 1] is None)]
    assert {stopped.marker.symbol[i] for i in ends} == {"x"}  # where each stopped, a cross
    assert {stopped.text[i].split(": ")[1] for i in ends} == {"stopped here"}
    promoted = [i for i, x in enumerate(stopped.x) if x is not None and i not in ends]
    assert promoted and {stopped.marker.symbol[i] for i in promoted} == {"circle"}
    assert all(stopped.text[i].endswith(": promoted") for i in promoted)
    chosen = next(t for t in fig.data if t.meta["role"] == "chosen")
    best = run.trials.set_index("number").loc[chosen.meta["trials"][0]]
    number, macs, reward = chosen.customdata[-1]
    assert (number, macs, reward) == (best.name, best["macs"], pytest.approx(best["reward"]))
    assert chosen.marker.symbol[-1] == "star" and chosen.text[-1].startswith("rung 2 (9x, 2 seeds): finalist<br>seeds ")
    assert all(k in chosen.hovertemplate for k in ("trial %{customdata[0]}", "accuracy", "reward", "MACs"))


def test_a_single_fidelity_folder_has_no_rungs_anywhere(folders: dict[str, Path], tmp_path: Path) -> None:
    plain = load_run(folders["plain"])
    assert rungs.rung_count(plain) == 0 and not len(rungs.rung_points(plain)) and not len(rungs.rung_table(plain))
    assert rung_figures.rungs_figure(plain) is None and tables.rungs_view([plain]) == []
    assert tables.trial_columns([plain], TRIAL_COLUMNS) == TRIAL_COLUMNS
    assert plain.trials["rung"].isna().all()  # the column exists, blank, so tables of mixed runs line up
    text = write_report([folders["plain"]], tmp_path / "plain.html").read_text()
    assert 'id="section-rungs"' not in text and rung_figures.RUNGS_TITLE not in text


# --- where it is shown ------------------------------------------------------------------------------


def test_the_learning_tab_holds_the_rungs_view(folders: dict[str, Path]) -> None:
    content = _tab_content("learning", RunCache([folders["plain"], folders["rungs"]]))
    assert any(getattr(c, "id", None) == "rungs-view" for c in content)
    view = tables.rungs_view([load_run(folders["plain"]), load_run(folders["rungs"])])
    assert [g.id for g in _graphs(view[0])] == ["rungs-graph-1"]  # the second run's: the first has no rungs
    texts = _texts(view[0])
    assert any(t.startswith("Pick: runner-up trial ") for t in texts) and "rung 2 (9x, 2 seeds)" in texts


def _texts(component: Any) -> list[str]:
    if isinstance(component, str):
        return [component]
    children = getattr(component, "children", None)
    children = children if isinstance(children, (list, tuple)) else [children]
    return [t for c in children if c is not None for t in _texts(c)]


def test_the_trials_table_shows_the_rung_and_the_pruned(folders: dict[str, Path], run: RunData) -> None:
    plain = load_run(folders["plain"])
    columns = tables.trial_columns([plain, run], TRIAL_COLUMNS)
    assert columns[columns.index("outcome") + 1] == "rung" and columns[columns.index("accuracy") + 1] == "seed_accuracies"
    rows, _ = tables.trial_records([plain, run], columns)
    mine = [r for r in rows if r["run"] == "rungs"]
    assert {r["outcome"] for r in mine} >= {"pruned", "ok"}
    assert all(r["rung"] in (0, 1) for r in mine if r["outcome"] == "pruned")
    assert all(r["rung"] is None for r in rows if r["run"] == "plain")
    defs = {d["field"]: d for d in tables.trial_column_defs(columns, [])}
    assert defs["rung"]["filter"] == "agNumberColumnFilter" and defs["seed_accuracies"]["headerName"] == "seed accuracies"


def test_the_runs_overview_counts_pruned_apart_from_failed(run: RunData, raw: pd.DataFrame) -> None:
    overview = tables.runs_frame([run]).set_index("")["rungs"]
    assert overview["pruned (stopped at a lower rung)"] == str(int((raw["state"] == "PRUNED").sum()))
    assert overview["failed / rejected"] == str(int((raw["state"] == "FAIL").sum()))


def test_report_shows_the_rungs_of_the_multi_fidelity_run(folders: dict[str, Path], run: RunData, tmp_path: Path) -> None:
    text = write_report([folders["plain"], folders["rungs"]], tmp_path / "r.html").read_text()
    assert text.count('id="section-rungs"') == 1 and text.count('id="fig-rungs-') == 1 and 'id="fig-rungs-1"' in text
    assert f"Pick: {rungs.pick_line(run)}" in text and "<td>rung 2 (9x, 2 seeds)</td>" in text


def test_a_folder_still_at_rung_zero(tmp_path: Path) -> None:
    """Early in a search only rung 0 has columns: the setting still draws every rung, none trained above."""
    folder = write_multifidelity_run(tmp_path / "early", 6, seed=1)
    frame = pd.read_csv(folder / "trials.csv")
    frame = frame.drop(columns=[c for c in frame.columns if c.startswith(("rung1", "rung2"))])
    frame["state"], frame["seed_accuracies"] = "PRUNED", ""
    frame.to_csv(folder / "trials.csv", index=False)
    info = json.loads((folder / "run.json").read_text())
    info["results"] = {}
    atomic_write_json(folder / "run.json", info)
    early = load_run(folder)
    assert rungs.rung_table(early)["trained"].tolist()[1:] == [0, 0]
    fig = rung_figures.rungs_figure(early)
    assert len(fig.layout.xaxis.ticktext) == 3 and {t.meta["role"] for t in fig.data} == {"stopped"}
    assert rungs.pick_line(early) is None
