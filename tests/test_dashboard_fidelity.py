"""The fidelity view: the search's score (supernet or short proxy) against standalone accuracy of retrained candidates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dash import dcc

from effsearch.review import analysis
from effsearch.review.dashboard import figures, summary, tables
from effsearch.review.dashboard.data import load_run
from effsearch.review.dashboard.report import write_report
from effsearch.runtime.results import atomic_write_csv, atomic_write_json
from effsearch.search.outputs import RETRAIN_COLUMNS
from tests.fakeruns import write_baseline_run

# (number, accuracy_short, accuracy_long, status, selected). Ordered by the short score, the ok rows' long
# accuracies are 0.70, 0.76, 0.74, 0.78: 5 concordant pairs, 1 discordant, tau = 4/6. The failed row
# carries a (diverged) accuracy on purpose: counted, it would make tau 0, so it shows the row is left out.
RETRAINED = (
    (3, 0.40, 0.70, "ok", False),
    (7, 0.55, 0.78, "ok", True),
    (11, 0.50, 0.74, "ok", False),
    (2, 0.45, 0.76, "ok", False),
    (9, 0.60, 0.05, "failed", False),
)
OK = [r for r in RETRAINED if r[3] == "ok"]
TAU = 4 / 6


def write_retrain(folder: Path, rows: tuple = RETRAINED) -> None:
    """retrain.csv with the search's columns, the cost columns taken from the folder's own trials."""
    trials = pd.read_csv(folder / "trials.csv").set_index("number")
    records = [{
        "number": n, "blocks": trials.loc[n, "blocks"], "params": trials.loc[n, "params"], "macs": trials.loc[n, "macs"],
        "epochs": 20, "accuracy_short": short, "accuracy_long": long, "reward_short": short, "reward": long,
        "status": status, "reason": "" if status == "ok" else "loss diverged", "train_seconds": 12.5, "selected": selected,
    } for n, short, long, status, selected in rows]
    atomic_write_csv(folder / "retrain.csv", pd.DataFrame(records, columns=list(RETRAIN_COLUMNS)))


def update_run_json(folder: Path, **top: Any) -> None:
    run = json.loads((folder / "run.json").read_text())
    evaluator = top.pop("evaluator", None)
    if evaluator is not None:
        run["config"]["evaluator"] = evaluator
    run.update(top)
    atomic_write_json(folder / "run.json", run)


@pytest.fixture
def supernet_run(tmp_path: Path) -> Path:
    """A supernet search's folder: the evaluator in the config, the search's own fidelity in results."""
    folder = write_baseline_run(tmp_path / "supernet", 20, seed=5)
    write_retrain(folder)
    update_run_json(folder, evaluator={"name": "supernet", "epochs": 2},
                    results={"fidelity": {"kendall_tau": TAU, "n": 4, "evaluator": "supernet"}})
    return folder


def fidelity_traces(fig: Any) -> tuple[Any, Any]:
    points = [t for t in fig.data if t.meta["role"] == "fidelity"]
    chosen = [t for t in fig.data if t.meta["role"] == "fidelity_selected"]
    assert len(points) == 1 and len(chosen) <= 1
    return points[0], (chosen[0] if chosen else None)


# --- the computation ------------------------------------------------------------------------------


def test_kendall_tau_and_when_it_is_undefined() -> None:
    ok = sorted(OK, key=lambda r: r[1])
    assert analysis.kendall_tau([r[1] for r in ok], [r[2] for r in ok]) == pytest.approx(TAU)
    assert analysis.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert analysis.kendall_tau([1, 2, float("nan")], [1, 2, 0]) == pytest.approx(1.0)  # a pair without both is skipped
    assert analysis.kendall_tau([0.5], [0.7]) is None
    assert analysis.kendall_tau([], []) is None
    assert analysis.kendall_tau([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]) is None


def test_fidelity_keeps_only_ok_rows_and_takes_the_recorded_tau(supernet_run: Path) -> None:
    fid = summary.fidelity(load_run(supernet_run))
    assert fid is not None and fid.evaluator == "supernet" and fid.n == 4 and fid.tau == pytest.approx(TAU)
    assert fid.points["number"].tolist() == [r[0] for r in OK]
    assert fid.points["accuracy_short"].tolist() == [r[1] for r in OK]
    assert fid.points["accuracy_long"].tolist() == [r[2] for r in OK]
    assert fid.points["selected"].tolist() == [r[4] for r in OK]


def test_a_recorded_null_tau_is_shown_as_such(supernet_run: Path) -> None:
    update_run_json(supernet_run, results={"fidelity": {"kendall_tau": None, "n": 4, "evaluator": "supernet"}})
    run = load_run(supernet_run)
    assert summary.fidelity(run).tau is None
    assert "Kendall τ = n/a, n = 4" in figures.fidelity_figure(run).layout.title.text


# --- the figure -----------------------------------------------------------------------------------


def test_fidelity_figure_draws_the_ok_rows_and_marks_the_chosen(supernet_run: Path) -> None:
    fig = figures.fidelity_figure(load_run(supernet_run))
    points, chosen = fidelity_traces(fig)
    assert list(points.x) == [r[1] for r in OK] and list(points.y) == [r[2] for r in OK]
    assert list(points.customdata) == [3, 7, 11, 2] and 9 not in list(points.customdata)
    assert "trial %{customdata}" in points.hovertemplate
    assert (list(chosen.x), list(chosen.y), list(chosen.customdata)) == ([0.55], [0.78], [7])
    assert chosen.marker.symbol == "star" and chosen.marker.symbol != points.marker.symbol
    assert fig.layout.title.text == f"{figures.FIDELITY_TITLE} (Kendall τ = 0.67, n = 4)"
    assert fig.layout.xaxis.title.text == "search score (supernet)"
    assert fig.layout.yaxis.title.text == "standalone accuracy"


def test_older_folders_compute_tau_and_label_the_proxy(tmp_path: Path) -> None:
    """No results.fidelity and no evaluator in run.json (a proxy search): tau is computed from the ok rows."""
    folder = write_baseline_run(tmp_path / "proxy", 20, seed=6)
    write_retrain(folder)
    fig = figures.fidelity_figure(load_run(folder))
    points, _ = fidelity_traces(fig)
    assert len(points.x) == 4
    assert fig.layout.title.text.endswith("(Kendall τ = 0.67, n = 4)")
    assert fig.layout.xaxis.title.text == "search accuracy (short proxy)"
    update_run_json(folder, evaluator={"name": "proxy"})
    assert figures.fidelity_figure(load_run(folder)).layout.xaxis.title.text == "search accuracy (short proxy)"


@pytest.mark.parametrize(("rows", "n"), [
    (((3, 0.40, 0.70, "ok", True), (9, 0.60, 0.05, "failed", False)), 1),  # one ok row: no pair to rank
    (((3, 0.50, 0.70, "ok", True), (7, 0.50, 0.78, "ok", False), (11, 0.50, 0.74, "ok", False)), 3),  # constant score
])
def test_undefined_tau_is_n_a(tmp_path: Path, rows: tuple, n: int) -> None:
    folder = write_baseline_run(tmp_path / "few", 20, seed=7)
    write_retrain(folder, rows)
    fig = figures.fidelity_figure(load_run(folder))
    assert fig.layout.title.text.endswith(f"(Kendall τ = n/a, n = {n})")
    assert len(fidelity_traces(fig)[0].x) == n


def test_no_retrain_or_no_ok_row_draws_nothing(tmp_path: Path) -> None:
    folder = write_baseline_run(tmp_path / "plain", 20, seed=8)
    run = load_run(folder)
    assert run.retrain is None and summary.fidelity(run) is None and figures.fidelity_figure(run) is None
    assert not _graphs(tables.runs_overview([run]))
    write_retrain(folder, ((9, 0.60, None, "failed", False),))
    failed = load_run(folder)
    assert len(tables.retrain_frame(failed)) == 1 and figures.fidelity_figure(failed) is None
    assert not _graphs(tables.runs_overview([failed]))


# --- where it is shown ----------------------------------------------------------------------------


def _graphs(component: Any) -> list[dcc.Graph]:
    found = [component] if isinstance(component, dcc.Graph) else []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and not isinstance(child, str):
            found += _graphs(child)
    return found


def test_runs_view_shows_the_figure_under_the_retraining_table(supernet_run: Path, tmp_path: Path) -> None:
    plain = write_baseline_run(tmp_path / "plain", 10, seed=9)
    graphs = _graphs(tables.runs_overview([load_run(plain), load_run(supernet_run)]))
    assert [g.id for g in graphs] == ["fidelity-graph-1"]  # the second run's: the first has no retrain.csv
    points, _ = fidelity_traces(graphs[0].figure)
    assert list(points.y) == [r[2] for r in OK]


def test_report_includes_the_figure(supernet_run: Path, tmp_path: Path) -> None:
    plain = write_baseline_run(tmp_path / "plain", 10, seed=9)
    text = write_report([supernet_run, plain], tmp_path / "r.html").read_text()
    assert text.count('id="fig-fidelity-') == 1 and 'id="fig-fidelity-0"' in text
    # The figure travels as JSON, where τ is escaped.
    assert "search score (supernet)" in text and json.dumps("Kendall τ = 0.67, n = 4")[1:-1] in text
    alone = write_report([plain], tmp_path / "plain.html").read_text()
    assert "fig-fidelity" not in alone and figures.FIDELITY_TITLE not in alone
