"""``effsearch dashboard [RESULTS ...]``: the review page in the browser, local and read-only."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import socket
import sys

from effsearch.cli.common import POSITIVE, add_command, int_range
from effsearch.errors import EffsearchError

EXAMPLES = """
  effsearch dashboard                                  every run under results/
  effsearch dashboard results/demo                     one run; open the printed URL
  effsearch dashboard results/mnas results/random      controller against random, side by side
  effsearch dashboard results/demo --port 8080         another port (0 picks a free one)
  effsearch dashboard results/demo --host 0.0.0.0      reachable from other machines (no authentication!)
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "dashboard", help="review runs in the browser: Pareto fronts, learning, trials, grid, family",
        description="Serve a read-only review page for one or several results folders (all runs under results/ "
        "when none is given). It never writes to a study and refreshes while a search is running.",
        examples=EXAMPLES,
    )
    parser.add_argument("results", nargs="*", metavar="RESULTS", help="results folders (default: the runs under results/)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int_range(0, 65535), default=8050, help="port to listen on (default 8050; 0 picks a free port)")
    parser.add_argument("--poll", type=POSITIVE, default=2.0, metavar="SECONDS",
                        help="how often the page checks the folders for new results (default 2)")
    return parser


def _check(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise EffsearchError(f"--port {args.port} is out of range; use 0..65535 (0 picks a free port)")
    if not args.poll > 0:
        raise EffsearchError(f"--poll {args.poll} must be a positive number of seconds, e.g. 2")
    try:
        socket.getaddrinfo(args.host, None)
    except (socket.gaierror, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise EffsearchError(f"--host {args.host!r} is not an address or a name this machine can resolve ({reason}); "
                             "use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args: argparse.Namespace) -> int:
    from effsearch.review.dashboard.app import Server, create_app
    from effsearch.review.dashboard.cache import discover

    _check(args)
    folders = args.results or discover()
    server = Server(create_app(folders, poll_seconds=args.poll), host=args.host, port=args.port)
    print(f"effsearch dashboard: {len(folders)} run{'s' * (len(folders) != 1)} at {server.url} (Ctrl-C stops)", flush=True)
    if not _is_loopback(args.host):
        print(f"effsearch dashboard: warning: listening on {args.host}; anyone who can reach this machine can read "
              "these results (there is no authentication)", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):  # werkzeug itself usually returns on Ctrl-C
        server.serve_forever()
    print("effsearch dashboard: stopped", file=sys.stderr)
    return 0
