"""``effsearch scale``: the compound grid at phi = 1 (unless coefficients are given), then the family.

Parses the options, makes one library call and prints: :func:`effsearch.runs.scale` inherits the
baseline run's data set and proxy recipe, runs or resumes the grid and writes the family (members at
the given phi and at each named budget); ``--train`` then trains each member
(:func:`effsearch.compound.train_members`); ``--compare`` measures compound against single-dimension
scaling at matched MACs (:func:`effsearch.compound.run_compare`). Tables: :mod:`effsearch.cli.scale_tables`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from effsearch.cli.common import (
    COUNT,
    POSITIVE,
    WORKERS,
    add_command,
    add_output_args,
    add_proxy_args,
    console,
    dataset_from_args,
    float_range,
    int_range,
)
from effsearch.cli.scale_compare import run_compare_command, train_members
from effsearch.cli.scale_options import configs, proxy_overrides, train_config_from_args
from effsearch.cli.scale_progress import announce_grid
from effsearch.cli.scale_tables import family_table, grid_table
from effsearch.errors import EffsearchError

EXAMPLES = """
  effsearch scale --baseline results/demo --phi 1..7         grid search on the baseline's data, then B1..B7-style members
  effsearch scale --baseline efficientnet-b0 --coefficients 1.2,1.1,1.15 --phi 0..7
                                                the paper's coefficients: no grid, family only
  effsearch scale --baseline efficientnet-b0 --coefficients 1.2,1.1,1.15 --flops-target 100M,1.8G
                                                one member per MACs budget (phi solved; below B0 too)
  effsearch scale --baseline efficientnet-b0 --preset official --phi 0..7   the released B0..B7 table
  effsearch scale --baseline my_net.yaml --grid-step 0.1 --scheduler asha --epochs 9 --workers 2
  effsearch scale --baseline results/demo                    again: resumes results/demo-scale
  effsearch scale --compare --baseline results/demo --dataset fashion-mnist --epochs 10
                                                compound against width-, depth- and resolution-only at
                                                phi 1 and 2, matched MACs, 3 seeds each (run again to resume)
  effsearch scale --baseline results/demo --coefficients 1.2,1.1,1.15 --phi 0..3 --train
                                                the family, each member trained and scored on the test split
"""

LONG_RUNNING = True
"""The CLI installs the stop handlers (Ctrl-C and SIGTERM stop the grid gracefully; run again to resume)."""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "scale", help="grid-search alpha, beta, gamma at phi = 1 and emit the scaled family",
        description="Step two of the EfficientNet recipe: at phi = 1, train the baseline scaled by every "
        "(alpha, beta, gamma) with alpha*beta^2*gamma^2 ~ 2 on the proxy task (one Ray Tune trial each), keep "
        "the most accurate (ties: fewer MACs), and write the family for each phi.",
        examples=EXAMPLES,
    )
    what = parser.add_argument_group("what to scale")
    what.add_argument("--baseline", metavar="B", default=None,
                      help="a baseline results folder, a spec file or a preset (default: the newest baseline run under results/)")
    what.add_argument("--phi", default=None, metavar="PHIS",
                      help="phi values: 1..7, 3, 0..7, 1,3,5, or real ones such as -1,0.5 (default: 0..7, none with a "
                      "target; 1,2 with --compare)")
    what.add_argument("--flops-target", metavar="T[,T...]", default=None,
                      help="add the largest member within each MACs budget, e.g. 100M,1.8G (phi solved, < 0 scales down)")
    what.add_argument("--params-target", metavar="T[,T...]", default=None, help="likewise for a parameter budget, e.g. 5M")
    what.add_argument("--latency-target", metavar="T[,T...]", default=None,
                      help="likewise for measured CPU latency, e.g. 20ms (batch 1, one thread)")
    what.add_argument("--coefficients", metavar="A,B,G", default=None, help="use these alpha,beta,gamma and skip the grid")
    what.add_argument("--preset", choices=("official",), default=None,
                      help="'official': apply the released B0..B7 width/depth/resolution table instead of alpha^phi")
    what.add_argument("--resolution-multiple", type=COUNT, default=None, metavar="M",
                      help="round resolutions to a multiple of M (default: 8; 4 with --preset official)")
    what.add_argument("--ignore-constraint", action="store_true",
                      help="accept --coefficients whose alpha*beta^2*gamma^2 is not within --tolerance of 2")
    what.add_argument("--latency", action="store_true", help="measure each member's CPU latency (slow for large members)")
    grid = parser.add_argument_group("the grid")
    grid.add_argument("--grid-step", type=POSITIVE, default=0.05, help="step on every axis (default: 0.05)")
    grid.add_argument("--tolerance", type=float_range(0), default=0.1, help="keep |alpha*beta^2*gamma^2 - 2| <= this (default: 0.1)")
    for name, default in (("alpha", "1,2"), ("beta", "1,1.5"), ("gamma", "1,1.5")):
        grid.add_argument(f"--{name}-range", default=default, metavar="LO,HI", help=f"{name} from LO to HI (default: {default})")
    grid.add_argument("--grid-seeds", type=int_range(1, 100), default=1, metavar="N",
                      help="train each point with N seeds (--seed upwards) and rank points on their mean, when the "
                           "points differ by about the seeds' spread (default: 1; fifo only)")
    grid.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                      help="fifo trains every point fully; asha stops poor points early (default: fifo)")
    grid.add_argument("--asha-grace", type=COUNT, default=1, metavar="EPOCHS", help="ASHA: epochs before a point can be stopped (default: 1)")
    grid.add_argument("--asha-reduction", type=float_range(1, lo_open=True), default=3.0, metavar="RF", help="ASHA: keep the top 1/RF at each rung (default: 3)")
    where = parser.add_argument_group("where to run")
    where.add_argument("--out", type=Path, default=None, help="results folder (default: <baseline folder>-scale, or results/<baseline>-scale); "
                       "the same command resumes it")
    where.add_argument("--workers", type=WORKERS, default="auto",
                       help="grid points trained at once (default auto: measured once per machine, with --cpus-per-trial)")
    where.add_argument("--ray-address", default=None, metavar="ADDR", help="run on this Ray cluster (e.g. auto or ray://host:10001)")
    where.add_argument("--cpus-per-trial", type=POSITIVE, default=None,
                       help="CPUs (and threads) per grid point (default: the cores shared among the workers)")
    where.add_argument("--gpus-per-trial", type=float_range(0, 8), default=None, help="GPUs per grid point (default: the local GPUs shared)")
    where.add_argument("--max-failures", type=int_range(0), default=2, help="retries of a grid point whose worker crashed (default: 2)")
    add_output_args(where, ray="Ray Tune")
    _add_training_args(parser)
    add_proxy_args(parser, budgets=("epochs",))  # the grid is budgeted in epochs (ASHA's rungs)
    return parser


def _add_training_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "training to keep (docs/scaling.md)",
        "With --compare or --train, --dataset, --epochs, --batch-size, --lr, --optimizer, --threads, --device and --kernels "
        "set each training, with effsearch train's recipe and defaults (10 epochs, batch 128); --proxy-resolution is the "
        "baseline's training side (default: the data set's).")
    mode = group.add_mutually_exclusive_group()
    mode.add_argument("--compare", action="store_true",
                      help="train compound scaling against width-, depth- and resolution-only scaling matched to the same "
                      "MACs, for each --phi and seed, and say whether compound wins (no grid, no family written); the "
                      "coefficients come from --coefficients or from the family in --out")
    mode.add_argument("--train", action="store_true",
                      help="after writing the family, train each member and add its test top-1 to the table and family.json")
    group.add_argument("--seeds", type=int_range(1, 100), default=None, metavar="N",
                       help="train each network with N seeds, --seed upwards (default: 3 with --compare, 1 with --train)")
    group.add_argument("--train-images", type=COUNT, default=None, metavar="N",
                       help="train on a stratified subset of N images (default all)")


def run(args: argparse.Namespace) -> int:
    from effsearch.runs import scale as scale_stage

    if args.compare:
        return run_compare_command(args)
    if not args.train and (args.seeds is not None or args.train_images is not None):
        raise EffsearchError("--seeds and --train-images set the trainings of --compare and --train; add one of them")
    scale, where = configs(args)
    if args.baseline is None:
        from effsearch.runs import newest_run

        args.baseline = newest_run("baseline").folder
        print(f"effsearch: using the newest baseline run, {args.baseline} (pass --baseline to choose another)", file=sys.stderr)
    data = dataset_from_args(args) if args.dataset is not None else None
    train = train_config_from_args(args) if args.train else None
    on_start = on_point = None
    if scale.needs_grid and not args.quiet:
        on_start, on_point = announce_grid(scale, where, args)
    result_run = scale_stage(args.baseline, scale=scale, run=where, proxy=proxy_overrides(args), data=data,
                             argv=sys.argv, on_point=on_point, on_start=on_start)
    result = result_run.result
    trained = train_members(args, result_run, result, train, data) if train is not None else None
    if args.json:
        print(json.dumps(summary_dict(result_run, trained), default=str))
    else:
        _print(result_run, trained)
    return 0


def summary_dict(run: Any, trained: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The grid and the family as one JSON-ready object (``--json``): family.json's document plus the grid.

    With ``--train`` the family is family.json as rewritten with each member's ``trained`` entry, and
    ``trained`` lists every training.
    """
    result = run.result
    grid = None
    if result.grid is not None:
        grid = {"rows": result.grid.rows, "selected": next((r for r in result.grid.rows if r.get("selected")), None)}
    out = {"out": str(result.out), "coefficients": list(result.coefficients), "coefficients_from": result.coefficients_from,
           "baseline": result.baseline_source, "grid": grid, "family": run.document}
    if trained is not None:
        out["trained"] = trained
    return out


def _print(run: Any, trained: list[dict[str, Any]] | None = None) -> None:
    result, out = run.result, console()
    if result.grid is not None:
        out.print(grid_table(result.grid))
    out.print(family_table(result.family, trained))
    for warning in result.family.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    lossy = [m["name"] for m in run.document.get("members", []) if not m.get("timm_faithful", True)]
    if lossy:
        out.print(f"[yellow]note:[/yellow] timm's builder does not rebuild {', '.join(lossy)} exactly from the exported "
                  "arch_def; family.json says where (timm_faithful, timm_differs)")
    wrote = "family.yaml, family.json, members/" + (", grid.csv" if result.grid is not None else "")
    wrote += ", members-trained/" if trained is not None else ""
    out.print(f"wrote {wrote} and run.json to {result.out}")
