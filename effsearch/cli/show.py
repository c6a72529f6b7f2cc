"""``effsearch show SPEC``: per-stage table of an architecture with params and MACs.

SPEC is anything effsearch reads or writes: a preset, a spec file, a baseline results folder (or a
file in it), a scale results folder or its ``family.json`` / ``family.yaml`` (the members' table;
``--phi N`` shows one member's stages), or a supernet folder (its training history).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from effsearch.cli.common import add_command, add_spec_overrides, apply_spec_overrides, console

EXAMPLES = """
  effsearch show efficientnet-b0
  effsearch show efficientnet-b0 --width 1.1 --depth 1.2 --resolution 260
  effsearch show results/demo                   the baseline a search found
  effsearch show results/demo-scale             the family a scale run emitted (--phi 3: one member's stages)
  effsearch show my_net.yaml --json             machine-readable: params, macs, resolution, stages
"""
def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "show", help="print an architecture's stages, params and MACs (or a family's members)",
        description="Print a per-stage table of SPEC (a preset, a spec file or a results folder) with "
        "params and MACs at the deployment resolution; for a family (a scale results folder, family.json or "
        "family.yaml) the members' table, and for a supernet folder its training history.", examples=EXAMPLES,
    )
    parser.add_argument("spec", metavar="SPEC", help="preset name, spec YAML/JSON file, or results folder")
    parser.add_argument("--phi", type=float, default=None, help="a family's member to show stage by stage")
    add_spec_overrides(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def _target(text: str) -> tuple[str, Path | None]:
    """What SPEC names: ("family" | "supernet" | "spec", its path when it is a file or folder)."""
    from effsearch.runs import ScaleRun, SupernetRun, run_kind
    from effsearch.runs.folders import RUN_FILES

    path = Path(text)
    kind = run_kind(path)
    if path.name in ("family.json", "family.yaml") or (kind is ScaleRun and ScaleRun(path).has_family):
        return "family", path
    if kind is SupernetRun:
        return "supernet", path if path.is_dir() else path.parent
    if kind is not None and path.is_file() and path.name in RUN_FILES:
        path = path.parent  # trials.csv, study.db...: the folder's network
    return "spec", path if path.exists() else None


def run(args: argparse.Namespace) -> int:
    from effsearch.arch.summary import spec_summary, spec_table

    kind, path = _target(args.spec)
    if kind == "supernet":
        return _show_supernet(path, args.json)
    if kind == "family":
        from effsearch.compound.family import family_to_dict, load_family

        family = load_family(path)
        if args.phi is None:
            if args.json:
                print(json.dumps(family_to_dict(family), indent=2, default=str))
            else:
                from effsearch.cli.scale_tables import family_table

                console().print(family_table(family))
            return 0
        spec = family.member(args.phi).spec
    else:
        if args.phi is not None:
            from effsearch.errors import EffsearchError

            raise EffsearchError(f"--phi picks a member of a family; {args.spec} is a single network")
        from effsearch.runs import network

        spec = network(str(path) if path is not None else args.spec)[0]
    spec = apply_spec_overrides(spec, args)
    if args.json:
        print(json.dumps(spec_summary(spec), indent=2))
    else:
        console().print(spec_table(spec))
    return 0


def _show_supernet(path: Path, as_json: bool) -> int:
    from rich.table import Table

    from effsearch.supernet.folder import read_meta

    meta: dict[str, Any] = read_meta(path) or {}
    if as_json:
        print(json.dumps(meta, indent=2, default=str))
        return 0
    ident = meta.get("identity", {})
    data = ident.get("data", {})
    table = Table(title=f"supernet of space {ident.get('space')} on {data.get('name')} at {data.get('resolution')}px "
                        f"({ident.get('rule')}, {meta.get('epochs_done', 0)} of {ident.get('epochs', 0):g} epochs"
                        f"{', finished' if meta.get('finished') else ''})", title_justify="left")
    for name in ("epoch", "steps", "train loss", "largest top-1", "smallest top-1", "seconds"):
        table.add_column(name, justify="right")
    for r in meta.get("history", []):
        table.add_row(str(r["epoch"]), str(r["steps"]), f"{r['train_loss']:.4f}", f"{r['largest_accuracy']:.4f}",
                      f"{r['smallest_accuracy']:.4f}", f"{r['seconds']:.0f}")
    console().print(table)
    return 0
