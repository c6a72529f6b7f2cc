"""The Family view's comparison of families: test top-1 against MACs, one line per scaled baseline."""

from __future__ import annotations

import html
import json
import math
import os
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from effsearch.review.dashboard import families_figures, tables
from effsearch.review.dashboard.app import Server, _tab_content, create_app
from effsearch.review.dashboard.cache import RunCache
from effsearch.review.dashboard.data import RunData, load_run
from effsearch.review.dashboard.families import COLUMNS, baseline_name, families_table, family_accuracy
from effsearch.review.dashboard.figures import colour
from effsearch.review.dashboard.report import render_report, write_report
from tests.fakeruns import write_baseline_run, write_compare_run, write_scale_run, write_trained_family
from tests.test_dashboard_browser import CHROMIUM, Watched, browser  # noqa: F401  (browser: the shared chromium fixture)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """results/ as a user who scaled three baselines leaves it: B0 trained and compared, MobileNetV2 and ResNet-18 trained,
    a search and an untrained scale run beside them."""
    root = tmp_path_factory.mktemp("results")
    write_trained_family(root / "b0-scale")
    write_compare_run(root / "b0-scale")
    write_trained_family(root / "mbv2-scale", "mobilenet-v2", seed=1)
    write_trained_family(root / "r18-scale", "resnet-18", seed=2, offset=-0.02)
    write_baseline_run(root / "demo", 10)
    write_scale_run(root / "demo-scale")
    return root


def _load(*folders: Path) -> list[RunData]:
    return [load_run(f) for f in folders]


def _family(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "family.json").read_text())


def _rows(frame: pd.DataFrame, family: str, source: str) -> pd.DataFrame:
    return frame[(frame["family"] == family) & (frame["source"] == source)].reset_index(drop=True)


# --- the frame ---------------------------------------------------------------------------------------


def test_one_family_per_scaled_baseline_with_its_trained_members(results: Path) -> None:
    runs = _load(*(results / n for n in ("demo", "b0-scale", "mbv2-scale", "r18-scale")))
    found = family_accuracy(runs)
    frame = found.frame
    assert list(frame.columns) == list(COLUMNS)
    assert list(dict.fromkeys(frame["family"])) == ["efficientnet-b0", "mobilenet-v2", "resnet-18"]  # the search is no family
    for folder, family in (("b0-scale", "efficientnet-b0"), ("mbv2-scale", "mobilenet-v2"), ("r18-scale", "resnet-18")):
        members = _family(results / folder)["members"]
        got = _rows(frame, family, "trained")
        assert got["member"].tolist() == [m["name"] for m in members] and got["phi"].tolist() == [0, 1, 2]
        assert got["macs"].tolist() == [m["macs"] for m in members] and got["params"].tolist() == [m["params"] for m in members]
        assert got["resolution"].tolist() == [m["resolution"] for m in members]
        assert got["test_accuracy"].tolist() == pytest.approx([m["trained"]["test_accuracy"] for m in members])
        assert got["std"].tolist() == pytest.approx([m["trained"]["test_accuracy_std"] for m in members])
        assert got["n"].tolist() == [2, 2, 2] and set(got["run"]) == {folder} and set(got["baseline"]) == {family}
        seeds = [r["test_accuracy"] for r in members[1]["trained"]["runs"]]
        assert got["test_accuracy"][1] == pytest.approx(statistics.fmean(seeds))
    assert found.notes == ()


def test_a_compare_run_adds_its_compound_line_to_its_family(results: Path) -> None:
    (run,) = _load(results / "b0-scale")
    line = _rows(family_accuracy([run]).frame, "efficientnet-b0", "compare")
    compare = pd.read_csv(results / "b0-scale" / "compare.csv")
    assert line["member"].tolist() == ["baseline-phi0", "compound-phi1", "compound-phi2"]  # no single-dimension variant
    for row in line.itertuples():
        variant = "baseline" if row.phi == 0 else "compound"
        seeds = compare[(compare["variant"] == variant) & (compare["phi"] == row.phi)]
        assert row.test_accuracy == pytest.approx(seeds["test_accuracy"].mean(), abs=1e-6)
        assert row.std == pytest.approx(seeds["test_accuracy"].std(ddof=1), abs=1e-6) and row.n == 3
        assert row.macs == seeds["macs"].iloc[0] and row.params == seeds["params"].iloc[0]
    summary = {(s["variant"], s["phi"]): s for s in json.loads((results / "b0-scale" / "compare.json").read_text())["summary"]}
    assert line["test_accuracy"].tolist() == pytest.approx([summary[("baseline", 0)]["mean"], summary[("compound", 1)]["mean"],
                                                           summary[("compound", 2)]["mean"]])
    # The comparison's compound members are the family's members: the same MACs.
    assert line["macs"].tolist() == _rows(family_accuracy([run]).frame, "efficientnet-b0", "trained")["macs"].tolist()


def test_a_folder_with_only_a_comparison_is_a_family_named_by_compare_json(tmp_path: Path) -> None:
    folder = write_compare_run(tmp_path / "mbv2-compare", "mobilenet-v2")
    (run,) = _load(folder)
    assert run.family is None and baseline_name(run) == "mobilenet-v2"
    frame = family_accuracy([run]).frame
    assert set(frame["family"]) == {"mobilenet-v2"} and set(frame["source"]) == {"compare"} and len(frame) == 3


def test_the_same_baseline_in_two_folders_is_two_families_named_by_their_folders(results: Path, tmp_path: Path) -> None:
    other = write_trained_family(tmp_path / "mbv2-long", "mobilenet-v2", seed=7, offset=0.03)
    runs = _load(results / "mbv2-scale", other, results / "r18-scale")
    frame = family_accuracy(runs).frame
    labels = list(dict.fromkeys(frame["family"]))
    assert labels == [f"mobilenet-v2 ({results / 'mbv2-scale'})", f"mobilenet-v2 ({other})", "resnet-18"]
    assert [len(_rows(frame, label, "trained")) for label in labels] == [3, 3, 3]  # never merged
    assert _rows(frame, labels[1], "trained")["test_accuracy"].tolist() == pytest.approx(
        [m["trained"]["test_accuracy"] for m in _family(other)["members"]])
    fig = families_figures.families_figure(runs)
    assert [t.name for t in fig.data] == labels


def test_the_label_falls_back_to_run_json_then_to_the_folder(tmp_path: Path) -> None:
    members = [{"phi": 0, "name": "x-phi0", "macs": 1e6, "trained": {"test_accuracy": 0.5, "n": 1}}]
    run = RunData(folder=tmp_path / "a", name="a", family={"members": members}, run={"config": {"baseline": "results/demo"}})
    assert baseline_name(run) == "demo"
    assert baseline_name(RunData(folder=tmp_path / "b", name="b", family={"members": members, "baseline": {"name": " "}})) == "b"


# --- partial and damaged files -------------------------------------------------------------------------


def test_a_family_without_trained_members_is_left_out_with_a_note(results: Path) -> None:
    runs = _load(results / "demo-scale", results / "r18-scale")
    found = family_accuracy(runs)
    assert set(found.frame["family"]) == {"resnet-18"}
    assert found.notes == ("demo-scale: not drawn: family.json has no trained members "
                           "(effsearch scale --train or --compare adds them)",)
    alone = family_accuracy(_load(results / "demo-scale"))
    assert not len(alone.frame) and list(alone.frame.columns) == list(COLUMNS)
    assert tables.families_view(_load(results / "demo-scale")) == []  # nothing to compare: the view shows nothing
    assert "effsearch scale --train" in families_figures.families_figure([]).layout.annotations[0].text


def test_a_partly_trained_family_is_drawn_with_what_it_has(tmp_path: Path) -> None:
    folder = write_trained_family(tmp_path / "mbv2-scale", "mobilenet-v2", phis=4, trained=(0, 1))
    found = family_accuracy(_load(folder))
    assert found.frame["phi"].tolist() == [0, 1]
    assert found.notes == ("mobilenet-v2: 2 of 4 members trained; φ 2, 3 not drawn",)


def test_one_seed_draws_points_without_error_bars_and_says_so(tmp_path: Path) -> None:
    folder = write_compare_run(tmp_path / "b0-compare", seeds=1)
    runs = _load(folder)
    found = family_accuracy(runs)
    assert found.frame["n"].tolist() == [1, 1, 1] and found.frame["std"].isna().all()
    assert found.notes == ("efficientnet-b0: compare.csv: one seed, so no error bars",)
    (trace,) = families_figures.families_figure(runs).data
    assert list(trace.error_y.array) == [0.0, 0.0, 0.0] and trace.customdata[0][3] == "– (one seed)"
    assert families_table(found.frame)["± std"].tolist() == ["", "", ""]


@pytest.mark.parametrize("content", [b"", b"variant,phi\n", b"\x00\x01\x02 not,a\ncsv", b"variant,phi,seed,macs\ncompound,1,0,100\n",
                                     b"variant,phi,seed,macs,test_accuracy\ncompound,x,0,100,0.5\nbaseline,0,0,,0.4\n"],
                         ids=["empty", "header-only", "binary", "no-accuracy", "bad-cells"])
def test_a_damaged_compare_csv_leaves_the_family_out_with_a_note(tmp_path: Path, content: bytes) -> None:
    folder = write_compare_run(tmp_path / "r18-compare", "resnet-18")
    (folder / "compare.csv").write_bytes(content)
    runs = _load(folder)
    found = family_accuracy(runs)
    assert not len(found.frame)
    assert found.notes == ("r18-compare: not drawn: compare.csv has no finished baseline or compound training "
                           "(effsearch scale --train or --compare adds them)",)
    render_report(runs)  # the report renders too


def test_damaged_trained_entries_give_what_they_hold(tmp_path: Path) -> None:
    folder = write_trained_family(tmp_path / "b0-scale", seeds=3)
    document = _family(folder)
    members = document["members"]
    seeds = [r["test_accuracy"] for r in members[0]["trained"]["runs"]]
    members[0]["trained"] = {"runs": members[0]["trained"]["runs"]}  # only the seeds: the mean, std and n from them
    members[1]["trained"] = {"test_accuracy": "n/a", "n": 3}  # no number: not a point
    members[2]["macs"] = None  # cannot be placed
    document["members"].append("not a member")
    (folder / "family.json").write_text(json.dumps(document))
    found = family_accuracy(_load(folder))
    assert found.frame["member"].tolist() == ["efficientnet-phi0"]
    row = found.frame.iloc[0]
    assert row["test_accuracy"] == pytest.approx(statistics.fmean(seeds)) and row["n"] == 3
    assert row["std"] == pytest.approx(statistics.stdev(seeds))
    assert found.notes == ("efficientnet-b0: 1 of 3 members trained; φ 1, 2 not drawn",)
    (folder / "family.json").write_text(json.dumps({**document, "members": "oops"}))
    (folder / "family.yaml").unlink()
    assert family_accuracy(_load(folder)).notes[0].startswith("b0-scale: not drawn: family.json has no trained members")
    (folder / "family.json").write_text("{ not json")
    (run,) = _load(folder)
    assert run.family is None and any("family.json could not be read" in n for n in run.notes)
    assert not len(family_accuracy([run]).frame) and family_accuracy([run]).notes == ()


# --- the figure, the page and the report ----------------------------------------------------------------


def test_the_figure_draws_one_line_per_family_and_source(results: Path) -> None:
    runs = _load(*(results / n for n in ("demo", "b0-scale", "mbv2-scale", "r18-scale")))
    found = family_accuracy(runs)
    fig = families_figures.families_figure(runs, found)
    assert [(t.meta["family"], t.meta["source"]) for t in fig.data] == [
        ("efficientnet-b0", "trained"), ("efficientnet-b0", "compare"), ("mobilenet-v2", "trained"), ("resnet-18", "trained")]
    assert [t.name for t in fig.data] == ["efficientnet-b0", "efficientnet-b0 · compare.csv", "mobilenet-v2", "resnet-18"]
    for trace in fig.data:
        points = _rows(found.frame, trace.meta["family"], trace.meta["source"])
        assert trace.meta["role"] == "family_accuracy"
        assert list(trace.x) == points["macs"].tolist() and list(trace.y) == pytest.approx(points["test_accuracy"].tolist())
        assert list(trace.error_y.array) == pytest.approx(points["std"].tolist())
        assert trace.line.color == colour([r.name for r in runs].index(trace.meta["run"]))
        assert trace.line.dash == ("dash" if trace.meta["source"] == "compare" else "solid")
        member, phi, params, std, n = trace.customdata[1]
        assert (member, phi, n) == (points["member"][1], "1", "2" if trace.meta["source"] == "trained" else "3")
        assert params.endswith("M") and std == f"{points['std'][1]:.4f}"
        assert all(k in trace.hovertemplate for k in ("customdata[0]", "φ=", "MACs", "params", "±", "n="))
    assert fig.layout.xaxis.type == "log" and "deployment resolution" in fig.layout.xaxis.title.text
    assert math.isclose(min(found.frame["macs"]), fig.data[2].x[0])  # MobileNetV2 phi 0 is the cheapest network


def test_the_family_tab_shows_the_comparison_first_with_its_caption(results: Path) -> None:
    cache = RunCache([results])  # 'effsearch dashboard' with no folder: every run under results/
    ids = [getattr(getattr(c, "children", None), "id", getattr(c, "id", None)) for c in _tab_content("family", cache)]
    assert ids[0] == "families-view" and "family-graph" in ids and "accuracy-graph" in ids and "family-table" in ids
    view = tables.families_view(cache.runs())
    graph, caption, note, table = view
    assert graph.id == "families-graph" and {t.meta["family"] for t in graph.figure.data} == {
        "efficientnet-b0", "mobilenet-v2", "resnet-18"}
    assert "deployment resolution" in caption.children and caption.id == "families-caption"
    assert note.children.startswith("demo-scale: not drawn")
    text = str(table)
    assert "mobilenet-v2-phi2" in text and "compound-phi1" in text and "resnet-18" in text


def test_the_report_has_the_comparison_in_its_family_section(results: Path, tmp_path: Path) -> None:
    runs = _load(results / "b0-scale", results / "mbv2-scale", results / "r18-scale")
    section = render_report(runs).split('id="section-family"')[1].split("</section>")[0]
    assert 'id="fig-families"' in section and 'id="fig-family"' in section
    assert section.index('id="fig-families"') < section.index('id="fig-family"')
    assert html.escape(families_figures.CAPTION) in section
    for member in ("efficientnet-phi2", "mobilenet-v2-phi1", "resnet-18-phi0", "compound-phi2"):
        assert member in section
    compare_only = write_compare_run(tmp_path / "b0-compare", seeds=2)
    section = render_report(_load(compare_only)).split('id="section-family"')[1].split("</section>")[0]
    assert 'id="fig-families"' in section and 'id="fig-family"' not in section  # no family.json: no sizes against φ
    untrained = render_report(_load(results / "demo-scale"))
    assert 'id="section-family"' in untrained and 'id="fig-families"' not in untrained
    out = write_report([results], tmp_path / "report.html")  # the CLI's path, over every run under results/
    assert 'id="fig-families"' in out.read_text()


def test_the_frame_is_computed_in_milliseconds(results: Path) -> None:
    import time

    runs = _load(*(results / n for n in ("b0-scale", "mbv2-scale", "r18-scale", "demo-scale")))
    start = time.perf_counter()
    for _ in range(10):
        family_accuracy(runs)
    assert (time.perf_counter() - start) / 10 < 1.0  # a few ms here; generous for shared CPUs
    assert np.isfinite(family_accuracy(runs).frame["macs"]).all()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)")
def test_family_tab_draws_every_family_in_a_browser(browser: Any, results: Path) -> None:  # noqa: F811  (the shared fixture)
    graph = "#families-graph .js-plotly-plot"
    watched = Watched(browser)
    page = watched.page
    with Server(create_app([results / "b0-scale", results / "mbv2-scale", results / "r18-scale"], poll_seconds=0.5),
                port=0) as srv:
        page.goto(srv.url)  # no trials: the Family tab opens first
        page.wait_for_function(f"() => document.querySelector('{graph}')?._fullData?.length > 0", timeout=60_000)
        drawn = page.evaluate(f"() => document.querySelector('{graph}')._fullData.map(t => [t.name, t._length])")
        assert drawn == [["efficientnet-b0", 3], ["efficientnet-b0 · compare.csv", 3], ["mobilenet-v2", 3], ["resnet-18", 3]]
        assert "deployment resolution" in page.inner_text("#families-caption")
        assert "resnet-18-phi2" in page.inner_text("#families-table")
        page.wait_for_selector("#family-graph .js-plotly-plot", timeout=60_000)  # the per-run figures stay below
        page.close()
    assert watched.errors == []
    assert all(u.startswith(srv.url) for u in watched.requests)
