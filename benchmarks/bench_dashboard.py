"""Dashboard with 5,000 trials: time to first full render in chromium, against the same page with 50 trials.

Reference run: the same dashboard on a 50-trial results folder, measured in the same process and
browser, so the ratio shows what the trial count costs on whatever machine runs this. Both folders
are generated in the results schema (tests/fakeruns.py: real architectures and costs, synthetic
accuracies). Each measurement opens a fresh browser context (no cached scripts) and times, from
navigation start, until the view's plot holds every point (or the table shows its rows).

    .venv/bin/python benchmarks/bench_dashboard.py [--trials 5000] [--reference 50] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effsearch.review.dashboard import figures, summary  # noqa: E402
from effsearch.review.dashboard.app import Server, create_app  # noqa: E402
from effsearch.review.dashboard.data import load_run  # noqa: E402
from effsearch.review.dashboard.report import write_report  # noqa: E402
from tests.fakeruns import write_baseline_run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
# Every candidate point is in the plot (dominated + over budget + front), then two frames are painted.
PARETO_DONE = """(n) => {
  const gd = document.querySelector('#pareto-graph .js-plotly-plot');
  if (!gd || !gd._fullData) return false;
  const drawn = gd._fullData.filter(t => t.meta && ['dominated', 'over_budget', 'front'].includes(t.meta.role))
                            .reduce((s, t) => s + t._length, 0);
  return drawn === n;
}"""
LEARNING_DONE = """(n) => {
  const gd = document.querySelector('#learning-graph .js-plotly-plot');
  return !!gd && !!gd._fullData && gd._fullData.filter(t => t.meta && t.meta.role === 'value').reduce((s, t) => s + t._length, 0) === n;
}"""
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def _timed(page, action, condition: str, arg: int) -> float:
    start = time.perf_counter()
    action()
    page.wait_for_function(condition, arg=arg, timeout=120_000)
    page.evaluate(PAINTED)
    return time.perf_counter() - start


def measure(browser, folder: Path) -> dict[str, float]:
    """Seconds to first full render of the Pareto view, then to switch to Learning and to Trials."""
    run = load_run(folder)
    points, trials = len(summary.candidates(run)), len(run.trials)
    with Server(create_app([folder]), port=0) as server:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        out = {"pareto (first render)": _timed(page, lambda: page.goto(server.url), PARETO_DONE, points)}
        out["learning (tab switch)"] = _timed(page, lambda: page.get_by_text("Learning", exact=True).click(),
                                              LEARNING_DONE, trials)
        out["trials table (tab switch)"] = _timed(
            page, lambda: page.get_by_text("Trials", exact=True).click(),
            "() => document.querySelectorAll('.ag-row').length > 10", 0)
        context.close()
    return out


def open_report(browser, path: Path) -> float:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    done = ("() => { const g = [...document.querySelectorAll('.js-plotly-plot')];"
            " return g.length > 0 && g.every(d => d._fullLayout && d._fullData); }")
    seconds = _timed(page, lambda: page.goto(path.as_uri()), done, 0)
    page.close()
    return seconds


def server_side(folder: Path) -> float:
    """Seconds to load the folder and build the Pareto figure's JSON in Python (no browser)."""
    start = time.perf_counter()
    figures.pareto_figure([load_run(folder)]).to_json()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5000)
    parser.add_argument("--reference", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        big = write_baseline_run(Path(tmp) / f"t{args.trials}", args.trials, seed=0)
        ref = write_baseline_run(Path(tmp) / f"t{args.reference}", args.reference, seed=0)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            measure(browser, ref)  # warm-up: the OS file cache, chromium's first start
            rows = {}
            for name, folder in (("reference", ref), ("big", big)):
                runs = [measure(browser, folder) for _ in range(args.repeats)]
                rows[name] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            reports = {name: write_report([folder], Path(tmp) / f"{name}.html") for name, folder in (("reference", ref), ("big", big))}
            rows["reference"]["static report (open from disk)"] = statistics.median(open_report(browser, reports["reference"]) for _ in range(args.repeats))
            rows["big"]["static report (open from disk)"] = statistics.median(open_report(browser, reports["big"]) for _ in range(args.repeats))
            browser.close()
        rows["reference"]["server: load + Pareto figure JSON"] = statistics.median(server_side(ref) for _ in range(args.repeats))
        rows["big"]["server: load + Pareto figure JSON"] = statistics.median(server_side(big) for _ in range(args.repeats))

    print(f"dashboard render times, median of {args.repeats}; reference = the same page with {args.reference} trials")
    print(f"| view | {args.reference} trials (reference) | {args.trials} trials | ratio |")
    print("|---|---|---|---|")
    for view in rows["big"]:
        a, b = rows["reference"][view], rows["big"][view]
        print(f"| {view} | {a:.2f} s | {b:.2f} s | {b / a:.2f}x |")


if __name__ == "__main__":
    main()
