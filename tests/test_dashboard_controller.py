"""The MNAS controller's exploration (controller.csv) in the dashboard's Learning view and in the report."""

from __future__ import annotations

import html
import os
from pathlib import Path

import pandas as pd
import pytest

from effsearch.review.dashboard import controller_figures
from effsearch.review.dashboard.app import _tab_content
from effsearch.review.dashboard.cache import RunCache
from effsearch.review.dashboard.data import RunData, load_run
from effsearch.review.dashboard.figures import colour
from effsearch.review.dashboard.frames import CONTROLLER_COLUMNS
from effsearch.review.dashboard.report import render_report
from tests.fakeruns import write_baseline_run, write_controller_csv


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    mnas = write_controller_csv(write_baseline_run(root / "mnas", 12, seed=1), 12, batch=5, seed=1)
    slow = write_controller_csv(write_baseline_run(root / "slow", 12, seed=2), 3, batch=4, seed=2)
    return {"mnas": mnas, "slow": slow, "random": write_baseline_run(root / "random", 8, seed=3, sampler="random"),
            "early": write_baseline_run(root / "early", 4, seed=4)}  # mnas, but no update written yet


@pytest.fixture(scope="module")
def csv(folders: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(folders["mnas"] / "controller.csv")


def _traces(fig, role: str) -> dict[str, object]:
    return {t.meta["run"]: t for t in fig.data if t.meta["role"] == role}


# --- loading -----------------------------------------------------------------------------------------


def test_controller_csv_loads_with_the_run(folders: dict[str, Path], csv: pd.DataFrame) -> None:
    assert list(csv.columns) == list(CONTROLLER_COLUMNS)  # the fake writes the search's columns
    run = load_run(folders["mnas"])
    assert list(run.controller.columns) == list(CONTROLLER_COLUMNS) and not run.notes
    pd.testing.assert_frame_equal(run.controller, csv.astype(float), check_dtype=False)


def test_a_run_without_controller_csv_has_an_empty_frame(folders: dict[str, Path]) -> None:
    run = load_run(folders["random"])
    assert len(run.controller) == 0 and list(run.controller.columns) == list(CONTROLLER_COLUMNS)
    assert len(RunData(folder=folders["random"], name="bare").controller) == 0


def test_the_page_reloads_when_controller_csv_changes(tmp_path: Path) -> None:
    folder = write_baseline_run(tmp_path / "live", 6, seed=5)
    cache = RunCache([folder])
    before = cache.version()
    assert len(cache.runs()[0].controller) == 0
    write_controller_csv(folder, 2, batch=3)
    assert cache.version() != before and len(cache.runs()[0].controller) == 2


@pytest.mark.parametrize("content", [
    b"\xff\xfe\x00garbage\x00\x81",  # not text
    b'update,last_trial,entropy_share\n1,4,"0.9\n',  # an unterminated quote
    b"",  # created, not written yet
    b"update,entropy\n1,0.5\n",  # another version's columns: nothing to place on the trials axis
])
def test_a_damaged_controller_csv_does_not_break_loading(tmp_path: Path, content: bytes) -> None:
    folder = write_baseline_run(tmp_path / "damaged", 6, seed=6)
    (folder / "controller.csv").write_bytes(content)
    run = load_run(folder)
    assert len(run.trials) == 6 and len(run.controller) == 0
    assert controller_figures.controller_figure([run]).layout.annotations  # the message, not an error
    assert 'id="section-controller"' not in render_report([run])


def test_bad_cells_are_blank_and_rows_without_a_trial_are_dropped(tmp_path: Path) -> None:
    folder = write_baseline_run(tmp_path / "cells", 6, seed=7)
    (folder / "controller.csv").write_text("update,last_trial,entropy_share,extra\n2,9,0.5,x\nx,y,z,x\n1,4,abc,x\n")
    run = load_run(folder)
    assert run.controller["last_trial"].tolist() == [4, 9] and run.controller["entropy_share"].isna().tolist() == [True, False]
    fig = controller_figures.controller_figure([run])
    assert list(_traces(fig, "entropy_share")["cells"].y) == [None, 0.5]
    assert controller_figures.controller_line(run) == "controller: 2 updates, entropy share 0.50"


# --- the figure --------------------------------------------------------------------------------------


def test_the_figure_draws_the_csvs_values_per_run(folders: dict[str, Path], csv: pd.DataFrame) -> None:
    runs = [load_run(folders["random"]), load_run(folders["mnas"]), load_run(folders["slow"])]
    fig = controller_figures.controller_figure(runs)
    share, reward, baseline = (_traces(fig, r) for r in ("entropy_share", "reward_mean", "baseline"))
    assert set(share) == set(reward) == set(baseline) == {"mnas", "slow"}  # the random run has no controller
    assert list(share["mnas"].x) == (csv["last_trial"] + 1).tolist()
    assert list(share["mnas"].y) == csv["entropy_share"].tolist()
    assert list(reward["mnas"].y) == csv["reward_mean"].tolist() and list(baseline["mnas"].y) == csv["baseline"].tolist()
    assert list(baseline["mnas"].x) == list(share["mnas"].x)
    assert share["mnas"].line.color == reward["mnas"].line.color == colour(1)  # the run's colour, as in the learning view
    assert share["slow"].line.color == colour(2)
    assert share["mnas"].xaxis == "x" and reward["mnas"].xaxis == "x2" and fig.layout.xaxis.matches == "x2"  # shared x
    assert tuple(fig.layout.yaxis.range) == (0, 1.05)
    assert "entropy" in fig.layout.title.text and fig.layout.xaxis2.title.text == "trials seen at the update"


def test_without_controller_updates_the_figure_says_why(folders: dict[str, Path]) -> None:
    def message(*names: str) -> str:
        fig = controller_figures.controller_figure([load_run(folders[n]) for n in names])
        assert not fig.data
        return fig.layout.annotations[0].text

    assert message("random") == controller_figures.NOT_MNAS and "not mnas" in controller_figures.NOT_MNAS
    assert message("early") == message("random", "early") == controller_figures.NOT_YET


def test_the_learning_tab_holds_the_controller_graph(folders: dict[str, Path]) -> None:
    ids = [getattr(getattr(c, "children", None), "id", getattr(c, "id", None)) for c in
           _tab_content("learning", RunCache([folders["mnas"]]))]
    assert ids.index("learning-graph") < ids.index("controller-graph") < ids.index("rungs-view")


# --- the reading and the report ----------------------------------------------------------------------


def test_the_reading_line_states_updates_first_latest_and_the_fall_below_0_2(folders: dict[str, Path],
                                                                            csv: pd.DataFrame) -> None:
    below = csv[csv["entropy_share"] < 0.2].iloc[0]
    expected = (f"controller: 12 updates, entropy share {csv['entropy_share'].iloc[0]:.2f} -> "
                f"{csv['entropy_share'].iloc[-1]:.2f} (first below 0.2 after {int(below['last_trial']) + 1} trials)")
    assert controller_figures.controller_line(load_run(folders["mnas"])) == expected
    slow = pd.read_csv(folders["slow"] / "controller.csv")["entropy_share"]
    assert slow.min() >= 0.2  # never below 0.2: no clause
    assert controller_figures.controller_line(load_run(folders["slow"])) == (
        f"controller: 3 updates, entropy share {slow.iloc[0]:.2f} -> {slow.iloc[-1]:.2f}")
    assert controller_figures.controller_line(load_run(folders["random"])) is None


def test_the_report_has_a_controller_section_with_a_line_per_run(folders: dict[str, Path]) -> None:
    runs = [load_run(folders["mnas"]), load_run(folders["random"])]
    text = render_report(runs)
    section = text.split('id="section-controller"')[1].split("</section>")[0]
    assert 'id="fig-controller"' in section
    assert html.escape(f"mnas: {controller_figures.controller_line(runs[0])}") in section
    assert "random: no controller updates (sampler random)" in section
    assert 'id="section-controller"' not in render_report([runs[1]])


def test_the_report_cli_path_writes_the_section(folders: dict[str, Path], tmp_path: Path) -> None:
    from effsearch.review.dashboard.report import write_report

    out = write_report([folders["mnas"]], tmp_path / "report.html")
    assert 'id="section-controller"' in out.read_text() and os.path.getsize(out) > 0
