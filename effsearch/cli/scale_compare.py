"""``effsearch scale --train`` and ``--compare``: the trainings after (or instead of) the family."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from effsearch.cli.common import console, dataset_from_args
from effsearch.cli.scale_options import (
    grid_config_from_args,
    parse_numbers,
    parse_phis,
    seeds_from_args,
    train_config_from_args,
)
from effsearch.cli.scale_progress import on_training
from effsearch.cli.scale_tables import compare_table
from effsearch.errors import EffsearchError


def _epochs(train: Any) -> str:
    return f"{train.epochs:g} epoch{'s' * (train.epochs != 1)}"


def training_data(args: argparse.Namespace, loaded: Any, run: Any) -> Any:
    """``--dataset`` when given, else the data set the run (or its baseline) recorded, else the default."""
    from effsearch.runs import data_of
    from effsearch.runs.inherit import load_recorded_data

    recorded = data_of(run)
    data = loaded if loaded is not None else (load_recorded_data(recorded, str(run.folder)) if recorded
                                              else dataset_from_args(args))
    return data.subset(train=args.train_images, seed=0) if args.train_images else data


def train_members(args: argparse.Namespace, run: Any, result: Any, train: Any, data: Any) -> list[dict[str, Any]]:
    from effsearch.compound.trained import train_members

    data = training_data(args, data, run)
    seeds = seeds_from_args(args, 1)
    if not args.quiet:
        print(f"effsearch: training {len(result.family.members)} member(s) x {len(seeds)} seed(s) on {data.name}, "
              f"{_epochs(train)} each, into {Path(result.out) / 'members-trained'}", file=sys.stderr)
    return train_members(result.family, data, train, result.out, seeds=seeds, base_resolution=args.proxy_resolution,
                         on_training=on_training(args.quiet))


def run_compare_command(args: argparse.Namespace) -> int:
    """``--compare``: check every input, then one :func:`~effsearch.compound.run_compare` call, then the table."""
    from effsearch.compound.compare_run import CompareConfig, run_compare
    from effsearch.compound.run import ScaleConfig
    from effsearch.runs import compare_inputs

    if args.preset == "official":
        raise EffsearchError("--compare needs compound coefficients, and --preset official has none; give --coefficients")
    coeffs = parse_numbers(args.coefficients, 3, "--coefficients", "1.2,1.1,1.15") if args.coefficients else None
    # The same checks as the scale stage's (>= 1, on the constraint unless --ignore-constraint).
    def check(coefficients: tuple[float, float, float]) -> tuple[float, float, float]:
        return ScaleConfig(phis=(1,), coefficients=coefficients, grid=grid_config_from_args(args),
                           ignore_constraint=args.ignore_constraint).coefficients

    inputs = compare_inputs(baseline=args.baseline, coefficients=coeffs, out=args.out,
                            resolution_multiple=args.resolution_multiple, check=check)
    if args.baseline is None and inputs["baseline_run"] is not None:
        print(f"effsearch: using the newest baseline run, {inputs['baseline_run']} (pass --baseline to choose another)",
              file=sys.stderr)
    config = CompareConfig(coefficients=inputs["coefficients"], phis=tuple(parse_phis(args.phi or "1,2")),
                           seeds=seeds_from_args(args, 3), resolution_multiple=inputs["resolution_multiple"],
                           base_resolution=args.proxy_resolution)
    train = train_config_from_args(args)
    data = training_data(args, dataset_from_args(args) if args.dataset is not None else None, inputs["baseline_run"])
    out = inputs["out"]
    if not args.quiet:
        a, b, g = inputs["coefficients"]
        print(f"effsearch: compound (alpha={a:g} beta={b:g} gamma={g:g}, {inputs['origin']}) against width-, depth- and "
              f"resolution-only scaling at phi {', '.join(map(str, config.phis))} on {data.name}: "
              f"{1 + 4 * len(config.phis)} networks x {len(config.seeds)} seed(s), {_epochs(train)} each; "
              f"results in {out}", file=sys.stderr)
    result = run_compare(inputs["baseline"], data, config, train, out, on_training=on_training(args.quiet))
    if args.json:
        print(json.dumps({"out": str(out), **result.document}, default=str))
        return 0
    show = console()
    show.print(compare_table(result.document))
    for line in [v["text"] for v in result.verdicts] + [o["text"] for o in result.overall]:
        show.print(line, highlight=False, markup=False, soft_wrap=True)
    show.print(f"verdict rule: {result.document['spread_rule']}", highlight=False, markup=False, soft_wrap=True)
    show.print(f"wrote compare.csv, compare.json and compare/ ({result.planned} trainings, {result.trained} trained now) to {out}",
               highlight=False, markup=False, soft_wrap=True)
    return 0
