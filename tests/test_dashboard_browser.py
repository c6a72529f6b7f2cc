"""The dashboard and the report in a real browser: Debian's chromium, headless, driven by Playwright.

The page is served on a free loopback port from a thread; the static report is opened from disk.
Counts are read from what plotly drew (the graph div's data and its SVG points) and compared with
the pure computation in :mod:`effsearch.review.analysis`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from effsearch.review.dashboard import summary
from effsearch.review.dashboard.app import Server, create_app
from effsearch.review.dashboard.data import load_run
from effsearch.review.dashboard.report import write_report
from tests.fakeruns import write_baseline_run, write_scale_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing (apt-get install chromium)"),
]

# Per run, the number of points plotly has in each trace with meta.role == role: from its data and from the DOM.
COUNT_JS = """([sel, role]) => {
  const gd = document.querySelector(sel);
  if (!gd || !gd._fullData) return null;
  const data = {}, drawn = {};
  let axis = null;
  gd._fullData.filter(t => t.meta && t.meta.role === role).forEach(t => { data[t.meta.run] = t._length; axis = t.meta.axis; });
  gd.querySelectorAll('.scatterlayer .trace').forEach(g => {
    const t = g.__data__ && g.__data__[0] && g.__data__[0].trace;
    if (t && t.meta && t.meta.role === role) drawn[t.meta.run] = g.querySelectorAll('path.point').length;
  });
  return {data, drawn, axis};
}"""

# Page coordinates of point k of the front of run `name`, and the trial it stands for.
POINT_JS = """([sel, name, k]) => {
  const gd = document.querySelector(sel);
  const t = gd._fullData.find(t => t.meta && t.meta.role === 'front' && t.meta.run === name);
  const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(xa.d2l(t.x[k])), y: box.top + ya._offset + ya.l2p(ya.d2l(t.y[k])),
          number: t.customdata[k][1]};
}"""
PARETO = "#pareto-graph .js-plotly-plot"


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("results")
    return [write_baseline_run(root / "mnas", 60, seed=1, running=1),
            write_baseline_run(root / "random", 40, seed=2, sampler="random", hard=True),
            write_scale_run(root / "scale")]


@pytest.fixture(scope="module")
def server(folders: list[Path]) -> Iterator[Server]:
    with Server(create_app(folders, poll_seconds=0.5), port=0) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that records console errors, uncaught exceptions and every URL it requests."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    watched = Watched(browser)
    yield watched
    watched.page.close()


def wait_for_front(page: Any, sel: str = PARETO) -> dict[str, Any]:
    page.wait_for_function(f"() => {{ const r = ({COUNT_JS})(['{sel}', 'front']); return r && Object.keys(r.data).length > 0; }}",
                           timeout=60_000)
    return page.evaluate(COUNT_JS, [sel, "front"])


def test_page_loads_every_view_without_console_errors(server: Server, page: Watched) -> None:
    p = page.page
    p.goto(server.url)
    wait_for_front(p)
    checks = {"Learning": "#learning-graph .js-plotly-plot", "Trials": ".ag-row", "Grid": "#grid-graph .js-plotly-plot",
              "Family": "#family-graph .js-plotly-plot", "Runs": "#runs-overview"}
    for tab, selector in checks.items():
        p.get_by_text(tab, exact=True).click()
        p.wait_for_selector(selector, timeout=60_000)
    p.get_by_text("Family", exact=True).click()
    p.wait_for_function("() => document.querySelector('#family-graph .js-plotly-plot')?._fullData?.length > 0")
    assert "B7" in p.inner_text("#family-table")
    assert page.errors == []
    assert all(u.startswith(server.url) for u in page.requests), "the page must not fetch anything from outside"


def test_pareto_points_drawn_equal_the_computation(server: Server, page: Watched, folders: list[Path]) -> None:
    runs = {f.name: load_run(f) for f in folders}
    expected = {name: len(summary.front(run)) for name, run in runs.items() if len(run.trials)}
    p = page.page
    p.goto(server.url)
    counts = wait_for_front(p)
    assert counts["data"] == expected and counts["drawn"] == expected
    p.get_by_text("params", exact=True).click()
    params = {name: len(summary.front(run, "params")) for name, run in runs.items() if len(run.trials)}
    p.wait_for_function(f"() => ({COUNT_JS})(['{PARETO}', 'front']).axis === 'params'", timeout=30_000)
    counts = p.evaluate(COUNT_JS, [PARETO, "front"])
    assert counts["data"] == params and counts["drawn"] == params
    assert page.errors == []


def test_clicking_a_point_shows_its_architecture(server: Server, page: Watched, folders: list[Path]) -> None:
    p = page.page
    p.goto(server.url)
    wait_for_front(p)
    run = load_run(folders[0])
    front = summary.front(run)
    point = p.evaluate(POINT_JS, [PARETO, "mnas", len(front) // 2])
    p.mouse.move(point["x"], point["y"])
    p.mouse.click(point["x"], point["y"])
    p.wait_for_selector("#architecture-title", timeout=30_000)
    assert p.inner_text("#architecture-title").startswith(f"mnas · trial {point['number']}")
    blocks = run.trials.loc[run.trials["number"] == point["number"], "blocks"].iloc[0].split()
    shown = p.locator("#architecture-blocks code").all_inner_texts()
    assert shown == blocks
    assert p.locator("#architecture-stages tbody tr").count() == len(blocks) + 3  # stem, stages, head, classifier
    p.wait_for_function("() => document.querySelector('#architecture-graph .js-plotly-plot')?._fullData?.length === 2")
    assert page.errors == []


def test_clicking_a_table_row_shows_its_architecture(server: Server, page: Watched, folders: list[Path]) -> None:
    p = page.page
    p.goto(server.url)
    p.get_by_text("Trials", exact=True).click()
    p.wait_for_selector(".ag-row[row-index='4']", timeout=60_000)
    p.locator(".ag-row[row-index='4'] .ag-cell[col-id='accuracy']").first.click()
    p.wait_for_function("() => document.querySelector('#architecture-title')?.innerText.startsWith('mnas · trial 4 ')",
                        timeout=30_000)
    header = p.locator(".ag-header-cell[col-id='accuracy'] .ag-header-cell-label").first
    header.click()
    header.click()  # second click: descending, best first
    best = max(load_run(f).trials["accuracy"].max() for f in folders[:2])
    p.wait_for_function(f"() => document.querySelector(\".ag-row[row-index='0'] .ag-cell[col-id='accuracy']\")"
                        f"?.innerText === '{best:.4f}'", timeout=30_000)
    assert page.errors == []


def test_page_refreshes_while_a_search_runs(browser: Any, tmp_path: Path) -> None:
    folder = write_baseline_run(tmp_path / "live", 20, seed=5, running=1)
    watched = Watched(browser)
    p = watched.page
    with Server(create_app([folder], poll_seconds=0.3), port=0) as srv:
        p.goto(srv.url)
        before = wait_for_front(p)["data"]["live"]
        assert before == len(summary.front(load_run(folder)))
        time.sleep(0.05)
        write_baseline_run(folder, 80, seed=5)  # the search exported 60 more trials
        after = len(summary.front(load_run(folder)))
        assert after != before
        p.wait_for_function(f"() => ({COUNT_JS})(['{PARETO}', 'front']).data.live === {after}", timeout=30_000)
        # The status line is another callback of the same poll, with no order between them: a poll
        # that fired while the files were half written shows the old count, and the next poll (the
        # files' signature changed again) corrects it. So wait for it, as for the front.
        p.wait_for_function("() => document.querySelector('#status')?.innerText.includes('80 trials')", timeout=30_000)
        p.close()  # before the server stops, or its next poll fails to connect
    assert watched.errors == []


def test_static_report_opens_offline_and_shows_its_plots(browser: Any, folders: list[Path], tmp_path: Path) -> None:
    out = write_report(folders, tmp_path / "report.html")
    watched = Watched(browser)
    p = watched.page
    p.goto(out.as_uri())
    p.wait_for_function("() => { const g = [...document.querySelectorAll('.js-plotly-plot')];"
                        " return g.length > 0 && g.every(d => d._fullLayout && d._fullData.length > 0); }", timeout=60_000)
    graphs = p.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(d => d.id)")
    assert {"fig-pareto-macs", "fig-learning", "fig-grid", "fig-family"} <= set(graphs)
    runs = {f.name: load_run(f) for f in folders}
    counts = p.evaluate(COUNT_JS, ["#fig-pareto-macs", "front"])
    expected = {name: len(summary.front(run)) for name, run in runs.items() if len(run.trials)}
    assert counts["data"] == expected and counts["drawn"] == expected
    p.get_by_role("button", name="params").click()
    assert p.locator("#fig-pareto-params").is_visible() and not p.locator("#fig-pareto-macs").is_visible()
    p.close()
    assert watched.errors == []
    assert watched.requests == [out.as_uri()], "the report must not fetch anything"


def test_runs_view_draws_the_fidelity_of_the_retrained(browser: Any, tmp_path: Path) -> None:
    from tests.test_dashboard_fidelity import OK, TAU, update_run_json, write_retrain

    folder = write_baseline_run(tmp_path / "supernet", 20, seed=5)
    write_retrain(folder)
    update_run_json(folder, evaluator={"name": "supernet"},
                    results={"fidelity": {"kendall_tau": TAU, "n": len(OK), "evaluator": "supernet"}})
    watched = Watched(browser)
    p = watched.page
    with Server(create_app([folder], poll_seconds=5), port=0) as srv:
        p.goto(srv.url)
        wait_for_front(p)
        p.get_by_text("Runs", exact=True).click()
        sel = "#fidelity-graph-0 .js-plotly-plot"
        p.wait_for_function(f"() => document.querySelector('{sel}')?._fullData?.length > 0", timeout=60_000)
        counts = p.evaluate(COUNT_JS, [sel, "fidelity"])
        assert counts["data"] == {"supernet": len(OK)} and counts["drawn"] == {"supernet": len(OK)}
        assert "Kendall τ = 0.67, n = 4" in p.inner_text("#fidelity-graph-0")
        p.close()
    assert watched.errors == []


def test_learning_view_draws_the_rungs_of_a_multi_fidelity_run(browser: Any, tmp_path: Path) -> None:
    from effsearch.review.dashboard import rung_figures, rungs
    from tests.fakeruns import write_multifidelity_run

    folder = write_multifidelity_run(tmp_path / "asha", 30, seed=3)
    expected = {t.meta["role"]: t.meta["trials"] for t in rung_figures.rungs_figure(load_run(folder)).data}
    watched = Watched(browser)
    p = watched.page
    with Server(create_app([folder], poll_seconds=5), port=0) as srv:
        p.goto(srv.url)
        wait_for_front(p)
        p.get_by_text("Learning", exact=True).click()
        sel = "#rungs-graph-0 .js-plotly-plot"
        p.wait_for_function(f"() => document.querySelector('{sel}')?._fullData?.length > 0", timeout=60_000)
        drawn = p.evaluate(f"() => Object.fromEntries(document.querySelector('{sel}')._fullData"
                           ".map(t => [t.meta.role, t.meta.trials]))")
        assert drawn == expected and set(drawn) == {"stopped", "finalist", "chosen"}
        ticks = p.locator(f"{sel} .xtick text").all_text_contents()  # SVG text has no innerText
        assert ticks == ["rung 0 (1x)", "rung 1 (3x)", "rung 2 (9x, 2 seeds)"]
        assert p.inner_text("#rungs-pick-0") == f"Pick: {rungs.pick_line(load_run(folder))}"
        assert "rung 2 (9x, 2 seeds)" in p.inner_text("#rungs-table-0")
        p.close()
    assert watched.errors == []
