"""``effsearch list [KIND]``: the names effsearch accepts, each with one line on what it is."""

from __future__ import annotations

import argparse
import json

from effsearch.cli.common import add_command, console
from effsearch.errors import EffsearchError

EXAMPLES = """
  effsearch list                     everything: presets, spaces, ops, data sets, samplers, evaluators, objectives, plugins
  effsearch list presets             the networks 'show', 'evaluate' and 'scale --baseline' accept by name
  effsearch list spaces --json       built-in search spaces, machine-readable
  effsearch list plugins             installed plugins (entry points of group effsearch.plugins): loaded or why not
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from effsearch.search.catalog import KINDS

    parser = add_command(sub, "list", help="list presets, search spaces, ops, data sets, samplers, evaluators, plugins",
                         description="List the names effsearch accepts for its options, with a line on each.",
                         examples=EXAMPLES)
    parser.add_argument("kind", nargs="?", default=None, metavar="KIND",
                        help=f"one of {', '.join(KINDS)} (default: all)")
    parser.add_argument("--json", action="store_true", help="print one JSON object: kind -> {name: description}")
    return parser


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from effsearch.search.catalog import KINDS, catalog

    if args.kind is not None and args.kind not in KINDS:
        raise EffsearchError(f"unknown kind {args.kind!r}; use one of {', '.join(KINDS)}, or nothing for all")
    kinds = [args.kind] if args.kind else list(KINDS)
    found = {kind: catalog(kind) for kind in kinds}
    if args.json:
        print(json.dumps({kind: dict(rows) for kind, rows in found.items()}))
        return 0
    out = console()
    for kind, rows in found.items():
        table = Table(title=kind, title_justify="left", show_header=False)
        table.add_column("name", style="bold")
        table.add_column("what")
        for name, about in rows:
            table.add_row(name, about)
        if not rows:  # an empty box would leave the reader guessing
            table.add_row("-", "none installed" if kind == "plugins" else "none")
        out.print(table)
    return 0
