"""``effsearch report RESULTS... -o report.html``: the dashboard's plots in one offline HTML file."""

from __future__ import annotations

import argparse

from effsearch.cli.common import add_command

EXAMPLES = """
  effsearch report results/demo -o demo.html                    one run
  effsearch report results/mnas results/random -o compare.html  several runs side by side
  effsearch report results/baseline results/scale -o family.html --title "400M family"
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "report", help="write a self-contained HTML report (same plots as the dashboard, works offline)",
        description="Write one static HTML file with the Pareto fronts, learning curves, trials, grid and family of "
        "the given results folders. plotly.js is inlined, so the file opens anywhere without a network.",
        examples=EXAMPLES,
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="results folders")
    parser.add_argument("-o", "--out", "--output", dest="output", default="report.html",
                        help="HTML file to write (default report.html; --out as in every other command)")
    parser.add_argument("--title", default=None, help="title at the top of the report")
    return parser


def run(args: argparse.Namespace) -> int:
    from effsearch.review.dashboard.report import write_report
    from effsearch.units import format_count

    path = write_report(args.results, args.output, title=args.title)
    print(f"wrote {path} ({format_count(path.stat().st_size)}B); open it in any browser, no server needed")
    return 0
