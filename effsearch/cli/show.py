"""``effsearch show SPEC``: per-stage table of an architecture with params and MACs."""

from __future__ import annotations

import argparse
import json

from effsearch.cli.common import add_command, add_spec_overrides, apply_spec_overrides, console

EXAMPLES = """
  effsearch show efficientnet-b0
  effsearch show efficientnet-b0 --width 1.1 --depth 1.2 --resolution 260
  effsearch show results/baseline-demo          the baseline a search found
  effsearch show my_net.yaml --json             machine-readable: params, macs, resolution, stages
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "show", help="print an architecture's stages, params and MACs",
        description="Print a per-stage table of SPEC (a preset, a spec file or a results folder) with "
        "params and MACs at the deployment resolution.", examples=EXAMPLES,
    )
    parser.add_argument("spec", metavar="SPEC", help="preset name, spec YAML/JSON file, or results folder")
    add_spec_overrides(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    from effsearch.arch.specio import load_spec
    from effsearch.arch.summary import spec_summary, spec_table

    spec = apply_spec_overrides(load_spec(args.spec), args)
    if args.json:
        print(json.dumps(spec_summary(spec), indent=2))
    else:
        console().print(spec_table(spec))
    return 0
