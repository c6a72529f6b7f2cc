"""The ``effsearch`` command: a thin layer over the library API, one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int``. A user error
(:class:`~effsearch.errors.EffsearchError`) becomes one line on stderr and exit status 1; argparse
errors exit 2; Ctrl-C exits 130 after the subcommand has saved what it completed.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from effsearch import __version__
from effsearch.errors import EffsearchError

COMMANDS = ("show", "evaluate", "baseline", "scale", "dashboard", "report")

EPILOG = """examples:
  effsearch show efficientnet-b0                 per-stage params and MACs of a preset
  effsearch baseline --flops-target 400M         search a baseline for a 400M-MAC budget
  effsearch scale --baseline results/baseline-demo --phi 1..7
  effsearch dashboard results/*                  review runs in the browser

run 'effsearch COMMAND --help' for each command's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="effsearch",
        description="Search an efficient ConvNet baseline for a compute budget and scale it into a family.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"effsearch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"effsearch.cli.{name}")
        command = module.add_parser(sub)
        command.set_defaults(_run=module.run)
    return parser


def error(message: str) -> int:
    print(f"effsearch: error: {message}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except EffsearchError as exc:
        return error(str(exc))
    except KeyboardInterrupt:
        from effsearch.interrupts import acknowledge

        acknowledge()
        print("effsearch: interrupted; completed work is saved, run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
