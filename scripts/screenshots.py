"""Make the README's dashboard screenshots from real results folders (never by hand).

Serves ``effsearch dashboard`` for the given folders on a free loopback port, drives Debian's
chromium headless with Playwright, and writes one PNG per view to ``docs/img/``:

    .venv/bin/python scripts/screenshots.py results/examples/demo [results/examples/demo-scale] [--out docs/img]

``dashboard-pareto.png`` (with a Pareto point clicked, so its architecture shows), ``dashboard-learning.png``,
``dashboard-trials.png``, ``dashboard-runs.png`` (the runs side by side) and, when a folder holds a grid or a family, ``dashboard-grid.png`` and
``dashboard-family.png``. A view with nothing to show is skipped with a message.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from effsearch.errors import EffsearchError  # noqa: E402
from effsearch.review.dashboard import summary  # noqa: E402
from effsearch.review.dashboard.app import Server, create_app  # noqa: E402
from effsearch.review.dashboard.data import load_run  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
GRAPH_READY = "(sel) => { const g = document.querySelector(sel); return !!g && !!g._fullData && g._fullData.length > 0; }"
# The page position of the chosen baseline's star (or the middle of the first front) in the Pareto plot.
TARGET_JS = """() => {
  const gd = document.querySelector('#pareto-graph .js-plotly-plot');
  const t = gd._fullData.find(t => t.meta && t.meta.role === 'baseline') || gd._fullData.find(t => t.meta && t.meta.role === 'front');
  const k = t.meta.role === 'baseline' ? 0 : Math.floor(t._length / 2);
  const xa = gd._fullLayout[t.xaxis.replace('x', 'xaxis')], ya = gd._fullLayout[t.yaxis.replace('y', 'yaxis')];
  const box = gd.getBoundingClientRect();
  return {x: box.left + xa._offset + xa.l2p(xa.d2l(t.x[k])), y: box.top + ya._offset + ya.l2p(ya.d2l(t.y[k]))};
}"""


def _tab(page, label: str, ready: str, arg: str) -> None:
    page.get_by_text(label, exact=True).click()
    page.wait_for_function(ready, arg=arg, timeout=120_000)
    page.wait_for_timeout(600)  # let transitions and WebGL finish painting


def _shoot(page, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}")


def shoot(folders: list[Path], out: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    runs = [load_run(f) for f in folders]
    has_trials, has_grid = any(len(r.trials) for r in runs), any(r.grid is not None for r in runs)
    has_family = any(r.family for r in runs)
    out.mkdir(parents=True, exist_ok=True)
    with Server(create_app(folders), port=0) as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": 900}, device_scale_factor=1)
        page.goto(server.url)
        if has_trials:
            _tab(page, "Pareto front", GRAPH_READY, "#pareto-graph .js-plotly-plot")
            point = page.evaluate(TARGET_JS)
            page.mouse.click(point["x"], point["y"])
            page.wait_for_selector("#architecture-graph .js-plotly-plot", timeout=60_000)
            page.mouse.move(5, 5)  # no hover label in the picture
            _shoot(page, out / "dashboard-pareto.png")
            _tab(page, "Learning", GRAPH_READY, "#learning-graph .js-plotly-plot")
            _shoot(page, out / "dashboard-learning.png")
            _tab(page, "Trials", "(sel) => document.querySelectorAll(sel).length > 5", ".ag-row")
            _shoot(page, out / "dashboard-trials.png")
        else:
            print("no trials in these folders: Pareto, Learning and Trials screenshots skipped")
        _tab(page, "Runs", "(sel) => !!document.querySelector(sel)", "#runs-overview")
        _shoot(page, out / "dashboard-runs.png")
        for label, present, sel, name in (("Grid", has_grid, "#grid-graph .js-plotly-plot", "grid"),
                                          ("Family", has_family, "#family-graph .js-plotly-plot", "family")):
            if present:
                _tab(page, label, GRAPH_READY, sel)
                _shoot(page, out / f"dashboard-{name}.png")
            else:
                print(f"no {name} in these folders: its screenshot is skipped")
        browser.close()
    print(f"front sizes: {', '.join(f'{r.name} {len(summary.front(r))}' for r in runs if len(r.trials))}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="results folders (a real run, e.g. results/examples/demo)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNGs go (default docs/img)")
    parser.add_argument("--width", type=int, default=1400, help="browser width in pixels (default 1400)")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if not Path(CHROMIUM).exists():
        print(f"screenshots: error: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 1
    try:
        shoot(args.results, args.out, args.width)
    except EffsearchError as exc:
        print(f"screenshots: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
