"""``effsearch scale``'s options as configs: phi lists, budgets, coefficients, the grid, the trainings."""

from __future__ import annotations

import argparse
import re
from typing import Any

from effsearch.cli.common import proxy_config_from_args
from effsearch.errors import EffsearchError

_PHI_ITEM = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:\.\.\s*(-?\d+)\s*)?$")
_TARGETS = {"flops_target": "macs", "params_target": "params", "latency_target": "latency_ms"}


def parse_phis(text: str) -> list[float]:
    """``1..7`` -> [1..7]; also ``3``, ``0..7``, ``1,3,5``, ``-2..0`` and real values such as ``-0.5,1.5``."""
    values: list[float] = []
    for item in str(text).split(","):
        match = _PHI_ITEM.match(item)
        if not match or (match.group(2) is not None and "." in match.group(1)):
            raise EffsearchError(f"--phi {text!r} is malformed; use numbers such as 1..7, 3, 0..7, 1,3,5 or -1,0.5")
        lo = float(match.group(1))
        hi = float(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise EffsearchError(f"--phi range {item.strip()} runs backwards; write it low to high, e.g. {hi:g}..{lo:g}")
        values.extend(range(int(lo), int(hi) + 1) if match.group(2) is not None else [int(lo) if lo.is_integer() else lo])
    if sorted(set(values)) != values:
        raise EffsearchError(f"--phi {text!r} repeats or is out of order; list each phi once, low to high")
    return values


def parse_numbers(text: str, count: int, flag: str, example: str) -> tuple[float, ...]:
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != count or not all(v == v and abs(v) != float("inf") for v in values):
        raise EffsearchError(f"{flag} {text!r} is malformed; give {count} comma-separated numbers, e.g. {example}")
    return values


def grid_config_from_args(args: argparse.Namespace) -> Any:
    from effsearch.compound.grid import GridConfig

    ranges = {f"{n}_range": parse_numbers(getattr(args, f"{n}_range"), 2, f"--{n}-range", "1,1.5") for n in ("alpha", "beta", "gamma")}
    return GridConfig(step=args.grid_step, tolerance=args.tolerance, **ranges)


def targets_from_args(args: argparse.Namespace) -> tuple[Any, ...]:
    from effsearch.compound.targets import Target
    from effsearch.search.objectives import get_objective

    targets = []
    for dest, objective in _TARGETS.items():
        flag = "--" + dest.replace("_", "-")
        for text in filter(None, (t.strip() for t in str(getattr(args, dest, None) or "").split(","))):
            targets.append(Target(objective=objective, value=get_objective(objective).parse(text, what=flag)))
    return tuple(targets)


def configs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The :class:`ScaleConfig` and :class:`ScaleRunConfig` of the options (one-line errors)."""
    from effsearch.compound.run import ScaleConfig, ScaleRunConfig

    coeffs = parse_numbers(args.coefficients, 3, "--coefficients", "1.2,1.1,1.15") if args.coefficients else None
    if args.grid_seeds > 1 and args.scheduler == "asha":
        raise EffsearchError(f"--grid-seeds {args.grid_seeds} trains each point's seeds one after another, so ASHA cannot "
                             "compare points epoch by epoch; use --scheduler fifo with several seeds")
    targets = targets_from_args(args)
    phis = parse_phis(args.phi) if args.phi else ([] if targets else list(range(8)))
    scale = ScaleConfig(phis=tuple(phis), targets=targets, rule="official" if args.preset == "official" else "compound",
                        coefficients=coeffs, grid=grid_config_from_args(args), resolution_multiple=args.resolution_multiple,
                        ignore_constraint=args.ignore_constraint, latency=args.latency, seed=args.seed,
                        grid_seeds=args.grid_seeds)
    run = ScaleRunConfig(out=args.out, workers=args.workers, ray_address=args.ray_address,
                         cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                         max_failures=args.max_failures, scheduler=args.scheduler, asha_grace=args.asha_grace,
                         asha_reduction=args.asha_reduction, verbose=args.verbose)
    return scale, run


_PROXY_FLAGS = ("epochs", "batch_size", "lr", "optimizer", "proxy_resolution", "threads", "device", "kernels")


def proxy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The proxy fields the user gave: they override what the grid inherits from the baseline run."""
    given = proxy_config_from_args(args)  # validates them
    fields = {"proxy_resolution": "resolution"}
    return {fields.get(f, f): getattr(given, fields.get(f, f)) for f in _PROXY_FLAGS if getattr(args, f, None) is not None}


_TRAIN_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "threads", "device", "kernels")


def train_config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~effsearch.train.TrainConfig` of ``--compare`` / ``--train`` (effsearch train's defaults)."""
    from effsearch.train import TrainConfig

    return TrainConfig(**{f: getattr(args, f) for f in _TRAIN_FIELDS if getattr(args, f, None) is not None})


def seeds_from_args(args: argparse.Namespace, default: int) -> tuple[int, ...]:
    return tuple(range(args.seed, args.seed + (args.seeds or default)))
