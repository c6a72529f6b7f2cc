"""The ``effsearch`` command: a thin layer over the library API, one module per subcommand.

Each subcommand module defines ``add_parser(subparsers)`` and ``run(args) -> int`` (and
``LONG_RUNNING = True`` when Ctrl-C and SIGTERM should stop it at the next step and save). A user
error (:class:`~effsearch.errors.EffsearchError`), a malformed option included, becomes one line on
stderr and exit status 1; Ctrl-C exits 130 after the subcommand has saved what it completed.
"""

from __future__ import annotations

import os

# The command (not the library) may change process-wide settings. OpenMP threads that wait by
# sleeping instead of spinning: libgomp reads this once, when torch loads, so it is set before any
# command imports torch (an explicit setting wins). On cores shared with other processes (CI, Ray
# workers on one node) spinning threads starve each other: proxy training measured 7-10x faster
# with 2 threads on 2 busy cores (benchmarks/README.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib
import re
import sys

from effsearch import __version__
from effsearch.errors import EffsearchError

COMMANDS = ("list", "show", "evaluate", "supernet", "baseline", "scale", "train", "export", "dashboard", "report")

EPILOG = """examples:
  effsearch list                                 presets, search spaces, data sets, samplers by name
  effsearch show efficientnet-b0                 per-stage params and MACs of a preset
  effsearch baseline --flops-target 400M         search a baseline for a 400M-MAC budget
  effsearch scale --baseline results/demo --phi 1..7
  effsearch dashboard results/*                  review runs in the browser

run 'effsearch COMMAND --help' for each command's options and examples."""


def build_parser() -> argparse.ArgumentParser:
    from effsearch.cli.common import Parser

    parser = Parser(
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
        command.set_defaults(_run=module.run, _long_running=getattr(module, "LONG_RUNNING", False), _parser=command)
    return parser


_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")  # what str.splitlines splits on


def error(message: str, *, level: str = "error") -> int:
    # One line, whatever the message quotes (a folder name may hold a newline): line breaks escaped.
    text = "".join(ch.encode("unicode_escape").decode() if ch in _LINE_BREAKS else ch for ch in message.strip())
    print(f"effsearch: {level}: {text}", file=sys.stderr)
    return 1


def _load_plugins() -> None:
    """Load the installed plugins before parsing, so every registry offers their entries; a broken one is one line."""
    from effsearch.runtime.plugins import load_plugins

    # A warning, not an error: one broken package must not stop every command (nor `effsearch list`,
    # which shows why it failed).
    for plugin in load_plugins(warn=False):
        if plugin.error:
            error(plugin.message(), level="warning")


def main(argv: list[str] | None = None) -> int:
    _load_plugins()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except EffsearchError as exc:  # a usage mistake: one line, exit 1
        return error(str(exc))
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return _call(args)
    except BrokenPipeError:  # the reader went away (`effsearch show X --json | head -1`): not an error of ours
        _quiet_stdout()
        return 0
    except EffsearchError as exc:
        return error(flagify(str(exc), getattr(args, "_parser", None)))
    except KeyboardInterrupt:
        print("effsearch: interrupted; completed work is saved, run the same command again to resume", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot raise BrokenPipeError again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def flagify(message: str, parser: argparse.ArgumentParser | None) -> str:
    """Library messages name settings as Python does (``ignore_constraint``); say the flag instead."""
    if parser is None:
        return message
    for action in parser._actions:
        if action.option_strings and "_" in action.dest:
            flag = max(action.option_strings, key=len)
            message = re.sub(rf"\b{action.dest}(=True)?\b", flag, message)
    return message


def _call(args: argparse.Namespace) -> int:
    """Run the command; long-running ones stop at the next step on the first Ctrl-C or SIGTERM."""
    import warnings

    from effsearch.arch.timmcompat import TimmExportWarning

    with warnings.catch_warnings():
        # Commands say where timm differs in their own output (show's caption, the closing lines of
        # baseline and scale); the library's warning would repeat it as raw lines mid-progress.
        warnings.simplefilter("ignore", TimmExportWarning)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    if not getattr(args, "_long_running", False):
        return int(args._run(args) or 0)
    from effsearch.runtime.stop import stop_on_signals

    with stop_on_signals():  # from the start: a SIGTERM while torch loads must not kill the run unsaved
        return int(args._run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
