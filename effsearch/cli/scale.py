"""``effsearch scale``: the compound grid at phi = 1 (unless coefficients are given), then the family.

A thin layer over :mod:`effsearch.grid`, :mod:`effsearch.scale_search` and :mod:`effsearch.family`:
parse and check the options, run the grid through Ray Tune into the results folder (resuming it when
the folder already holds this grid), write ``family.yaml`` / ``family.json`` / ``members/`` and
``run.json``, and print the family table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effsearch.cli.common import add_command, add_proxy_args, console, dataset_from_args, proxy_config_from_args
from effsearch.errors import EffsearchError

if TYPE_CHECKING:
    from rich.table import Table

    from effsearch.family import Family
    from effsearch.grid import GridConfig
    from effsearch.scale_search import GridResult, TuneSettings

EXAMPLES = """
  effsearch scale --baseline results/baseline-demo --phi 1..7         grid search, then B1..B7-style members
  effsearch scale --baseline efficientnet-b0 --coefficients 1.2,1.1,1.15 --phi 0..7
                                                the paper's coefficients: no grid, family only
  effsearch scale --baseline efficientnet-b0 --preset official --phi 0..7   the released B0..B7 table
  effsearch scale --baseline my_net.yaml --grid-step 0.1 --scheduler asha --epochs 9 --workers 2
                                                a coarser grid, poor points stopped early by ASHA
  effsearch scale --baseline results/baseline-demo --out results/scale-demo   run again to resume it
  effsearch scale --baseline efficientnet-b0 --coefficients 1.4,1.1,1.1 --ignore-constraint --phi 1,3,5
"""

_PHI_ITEM = re.compile(r"^\s*(\d+)\s*(?:\.\.\s*(\d+)\s*)?$")


def parse_phis(text: str) -> list[int]:
    """``1..7`` -> [1..7]; also ``3``, ``0..7``, ``1,3,5`` and mixes such as ``0,2..4``."""
    values: list[int] = []
    for item in str(text).split(","):
        match = _PHI_ITEM.match(item)
        if not match:
            raise EffsearchError(f"--phi {text!r} is malformed; use whole numbers such as 1..7, 3, 0..7 or 1,3,5")
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if hi < lo:
            raise EffsearchError(f"--phi range {item.strip()} runs backwards; write it low to high, e.g. {hi}..{lo}")
        values.extend(range(lo, hi + 1))
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
    what.add_argument("--phi", default="0..7", metavar="PHIS", help="phi values: 1..7, 3, 0..7 or 1,3,5 (default: 0..7)")
    what.add_argument("--coefficients", metavar="A,B,G", default=None, help="use these alpha,beta,gamma and skip the grid")
    what.add_argument("--preset", choices=("official",), default=None,
                      help="'official': apply the released B0..B7 width/depth/resolution table instead of alpha^phi")
    what.add_argument("--resolution-multiple", type=int, default=None, metavar="M",
                      help="round resolutions to a multiple of M (default: 8; 4 with --preset official)")
    what.add_argument("--ignore-constraint", action="store_true",
                      help="accept --coefficients whose alpha*beta^2*gamma^2 is not within --tolerance of 2")
    what.add_argument("--latency", action="store_true", help="measure each member's CPU latency (slow for large members)")
    grid = parser.add_argument_group("the grid")
    grid.add_argument("--grid-step", type=float, default=0.05, help="step on every axis (default: 0.05)")
    grid.add_argument("--tolerance", type=float, default=0.1, help="keep |alpha*beta^2*gamma^2 - 2| <= this (default: 0.1)")
    for name, default in (("alpha", "1,2"), ("beta", "1,1.5"), ("gamma", "1,1.5")):
        grid.add_argument(f"--{name}-range", default=default, metavar="LO,HI", help=f"{name} from LO to HI (default: {default})")
    grid.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                      help="fifo trains every point fully; asha stops poor points early (default: fifo)")
    grid.add_argument("--asha-grace", type=int, default=1, metavar="EPOCHS", help="ASHA: epochs before a point can be stopped (default: 1)")
    grid.add_argument("--asha-reduction", type=float, default=3.0, metavar="RF", help="ASHA: keep the top 1/RF at each rung (default: 3)")
    where = parser.add_argument_group("where to run")
    where.add_argument("--out", type=Path, default=None, help="results folder (default: results/scale-<time>); reuse it to resume")
    where.add_argument("--workers", type=int, default=None, help="grid points trained at once (default: one per CPU)")
    where.add_argument("--ray-address", default=None, metavar="ADDR", help="run on this Ray cluster (e.g. auto or ray://host:10001)")
    where.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs reserved per grid point (default: 1)")
    where.add_argument("--gpus-per-trial", type=float, default=None, help="GPUs per grid point (default: the local GPUs shared)")
    where.add_argument("--max-failures", type=int, default=2, help="retries of a grid point whose worker crashed (default: 2)")
    where.add_argument("-v", "--verbose", action="store_true", help="also show Ray Tune's own progress output")
    add_proxy_args(parser)
    return parser


# --------------------------------------------------------------------------- resolving the inputs


def newest_baseline(root: Path | None = None) -> Path:
    """The most recently written baseline results folder under ``results/``."""
    from effsearch.results import DEFAULT_ROOT

    root = root or DEFAULT_ROOT
    found = sorted(root.glob("*/baseline.yaml"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not found:
        raise EffsearchError(
            f"no --baseline given and no baseline run under {root}/; pass --baseline efficientnet-b0, a spec file "
            "or a results folder, or run 'effsearch baseline' first"
        )
    return found[-1].parent


def resolve_baseline(arg: str | None) -> tuple[Any, str]:
    """The baseline spec and where it came from (recorded in run.json)."""
    from effsearch.specio import load_spec

    if arg is None:
        folder = newest_baseline()
        print(f"effsearch: using the newest baseline run, {folder} (pass --baseline to choose another)", file=sys.stderr)
        return load_spec(folder), str(folder)
    return load_spec(arg), arg


def grid_config_from_args(args: argparse.Namespace) -> GridConfig:
    from effsearch.grid import GridConfig

    ranges = {f"{n}_range": parse_numbers(getattr(args, f"{n}_range"), 2, f"--{n}-range", "1,1.5") for n in ("alpha", "beta", "gamma")}
    return GridConfig(step=args.grid_step, tolerance=args.tolerance, **ranges)


def check_constraint(coeffs: tuple[float, ...], tolerance: float, ignore: bool) -> None:
    from effsearch.family import check_coefficients
    from effsearch.scaling import flops_ratio

    check_coefficients(*coeffs)
    ratio = flops_ratio(*coeffs)
    if abs(ratio - 2) > tolerance and not ignore:
        a, b, g = coeffs
        raise EffsearchError(
            f"coefficients {a:g},{b:g},{g:g} give alpha*beta^2*gamma^2 = {ratio:.3f}, not 2 +/- {tolerance:g}; "
            "choose coefficients on the constraint, raise --tolerance, or pass --ignore-constraint"
        )


def _settings(args: argparse.Namespace) -> TuneSettings:
    import os

    from effsearch.scale_search import TuneSettings

    workers = getattr(args, "workers", None)
    address = getattr(args, "ray_address", None)
    gpus = args.gpus_per_trial
    if gpus is None:
        gpus = _local_gpu_share(workers or os.cpu_count() or 1) if address is None else 0.0
    return TuneSettings(
        scheduler=args.scheduler, cpus_per_trial=args.cpus_per_trial, gpus_per_trial=gpus, max_failures=args.max_failures,
        max_concurrent=workers, ray_address=address,
        num_cpus=None if address or not workers else max(1, int(workers * args.cpus_per_trial + 0.999)),
        grace_period=args.asha_grace, reduction_factor=args.asha_reduction, verbose=args.verbose,
    )


def _local_gpu_share(workers: int) -> float:
    """Share this machine's GPUs between the concurrent points (none without CUDA)."""
    try:
        import torch

        count = torch.cuda.device_count()
    except Exception:  # no usable CUDA torch: CPU trials
        count = 0
    return min(1.0, count / workers) if count else 0.0


# --------------------------------------------------------------------------- the grid


def _progress(total: int, already: int = 0) -> Callable[[dict[str, Any]], None]:
    """One stderr line per finished point; a resumed grid counts on from the points it already has."""
    done = [already]

    def on_point(record: dict[str, Any]) -> None:
        if record.get("replayed"):
            return  # finished in an earlier run: already counted
        done[0] += 1
        acc = record.get("accuracy")
        print(
            f"[{done[0]}/{total}] alpha={record['alpha']:g} beta={record['beta']:g} gamma={record['gamma']:g}: "
            f"accuracy {'-' if acc is None else f'{acc:.4f}'} ({record.get('status')}, {record.get('epoch')} epochs, "
            f"{record.get('train_seconds') or 0:.1f} s)",
            file=sys.stderr, flush=True,
        )

    return on_point


def run_grid_from_args(args: argparse.Namespace, baseline: Any, folder: Path, multiple: int) -> GridResult:
    """Load the data, build the proxy config, run (or resume) the grid; returns the GridResult."""
    from effsearch.grid import grid_points
    from effsearch.scale_search import LEDGER, epoch_budget, finished_points, read_ledger, run_grid

    points = grid_points(grid_config_from_args(args))
    settings = _settings(args)
    proxy = proxy_config_from_args(args)
    epochs = epoch_budget(proxy)
    data = dataset_from_args(args)
    already = len(finished_points(read_ledger(folder / LEDGER)))
    print(f"effsearch: {len(points)} grid points at phi = 1 on {data.name}, {epochs} epochs each "
          f"({settings.scheduler}); results in {folder}", file=sys.stderr)
    return run_grid(baseline, points, data=data, proxy=proxy, folder=folder, settings=settings, seed=args.seed,
                    resolution_multiple=multiple, on_point=_progress(len(points), already))


def grid_table(result: GridResult, top: int = 10) -> Table:
    from rich.table import Table

    from effsearch.units import format_count

    rows = [r for r in result.rows if r["accuracy"] is not None]
    rows.sort(key=lambda r: (not r["selected"], r["status"] != "ok", -float(r["accuracy"]), r["macs"] or 0))
    counts = {s: sum(r["status"] == s for r in result.rows) for s in ("ok", "stopped", "failed", "pending")}
    title = f"grid at phi = 1: {len(result.rows)} points (" + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + ")"
    table = Table(title=title, title_justify="left")
    for col in ("", "alpha", "beta", "gamma", "a*b^2*g^2", "accuracy", "epochs", "MACs", "params", "status"):
        table.add_column(col, justify="left" if col in ("", "status") else "right")
    for r in rows[:top]:
        table.add_row(
            "*" if r["selected"] else "", f"{r['alpha']:g}", f"{r['beta']:g}", f"{r['gamma']:g}", f"{r['flops_ratio']:.3f}",
            f"{r['accuracy']:.4f}", str(r["epochs"]), format_count(r["macs"]), format_count(r["params"]), r["status"],
        )
    return table


# --------------------------------------------------------------------------- the family


def family_table(family: Family) -> Table:
    from rich.table import Table

    from effsearch.family import growth
    from effsearch.units import format_count

    rule = "official B0..B7 table" if family.rule == "official" else (
        f"alpha={family.alpha:g} beta={family.beta:g} gamma={family.gamma:g}")
    table = Table(title=f"family of {family.baseline.name or 'the baseline'} ({rule})", title_justify="left")
    latency = any(m.latency_ms is not None for m in family.members)
    cols = ["phi", "name", "depth", "width", "res", "stage channels", "repeats", "params", "MACs", "x/step"]
    for col in [*cols, *(["latency"] if latency else [])]:
        table.add_column(col, justify="left" if col in ("name", "stage channels", "repeats") else "right")
    for m, step in zip(family.members, growth(family), strict=True):
        row = [str(m.phi), m.name, f"{m.depth:.3f}", f"{m.width:.3f}", str(m.resolution), " ".join(map(str, m.channels)),
               " ".join(map(str, m.repeats)), format_count(m.params), format_count(m.macs), "" if step is None else f"{step:.2f}"]
        if latency:
            row.append("" if m.latency_ms is None else f"{m.latency_ms:.1f} ms")
        table.add_row(*row)
    return table


def _latency_fn() -> Callable[[Any], float]:
    try:
        from effsearch.latency import measure_latency
    except ImportError as exc:
        raise EffsearchError(f"--latency needs effsearch.latency, which failed to import ({exc}); drop --latency") from None

    def latency(spec: Any) -> float:
        result = measure_latency(spec)
        return float(result["latency_ms"] if isinstance(result, dict) else result)

    return latency


# --------------------------------------------------------------------------- the command


def _check_options(args: argparse.Namespace) -> tuple[list[int], str, tuple[float, float, float] | None]:
    from effsearch.family import check_phis

    rule = "official" if args.preset == "official" else "compound"
    phis = check_phis(parse_phis(args.phi), rule)
    if rule == "official" and args.coefficients:
        raise EffsearchError("--preset official applies the released table, not coefficients; drop one of them")
    coeffs = None
    if args.coefficients:
        coeffs = parse_numbers(args.coefficients, 3, "--coefficients", "1.2,1.1,1.15")
        check_constraint(coeffs, args.tolerance, args.ignore_constraint)
    if args.resolution_multiple is not None and args.resolution_multiple < 1:
        raise EffsearchError(f"--resolution-multiple {args.resolution_multiple} is invalid; use a whole number >= 1, e.g. 8")
    return phis, rule, coeffs


def run(args: argparse.Namespace) -> int:
    from effsearch.family import OFFICIAL_RESOLUTION_MULTIPLE, make_family, save_family
    from effsearch.results import default_folder
    from effsearch.scaling import RESOLUTION_MULTIPLE

    phis, rule, coeffs = _check_options(args)
    baseline, source = resolve_baseline(args.baseline)
    folder = Path(args.out) if args.out else default_folder("scale")
    multiple = args.resolution_multiple or (OFFICIAL_RESOLUTION_MULTIPLE if rule == "official" else RESOLUTION_MULTIPLE)
    grid = None
    if rule == "official":
        coeffs = PAPER_COEFFICIENTS  # recorded for reference; the table, not alpha^phi, makes the members
    elif coeffs is None:
        grid = run_grid_from_args(args, baseline, folder, multiple)
        _write_run_json(args, folder, source, rule, phis, multiple, None, grid)
        if not grid.complete:
            raise KeyboardInterrupt  # the CLI says how to resume; grid.csv and tune/ hold what finished
        if grid.best is None:
            raise EffsearchError(f"no grid point trained successfully; see the reasons in {folder / 'grid.csv'}")
        coeffs = (grid.best.alpha, grid.best.beta, grid.best.gamma)
    family = make_family(baseline, phis, alpha=coeffs[0], beta=coeffs[1], gamma=coeffs[2], rule=rule,
                         resolution_multiple=multiple, latency=_latency_fn() if args.latency else None)
    save_family(family, folder)
    _write_run_json(args, folder, source, rule, phis, multiple, coeffs, grid)
    _print(family, grid, folder)
    return 0


PAPER_COEFFICIENTS = (1.2, 1.1, 1.15)


def _write_run_json(args: argparse.Namespace, folder: Path, source: str, rule: str, phis: list[int], multiple: int,
                    coeffs: tuple[float, ...] | None, grid: Any) -> None:
    from effsearch.results import write_run_json

    config: dict[str, Any] = {
        "baseline": source, "phi": phis, "rule": rule, "resolution_multiple": multiple,
        "coefficients": None if coeffs is None else dict(zip(("alpha", "beta", "gamma"), coeffs, strict=True)),
        "coefficients_from": "grid" if grid is not None else ("official" if rule == "official" else "given"),
        "ignore_constraint": args.ignore_constraint, "tolerance": args.tolerance,
    }
    if grid is not None:
        config.update(grid={"step": args.grid_step, "alpha_range": args.alpha_range, "beta_range": args.beta_range,
                            "gamma_range": args.gamma_range, "points": len(grid.rows), "complete": grid.complete},
                      scheduler=args.scheduler, dataset=args.dataset, epochs=args.epochs,
                      workers=getattr(args, "workers", None), ray_address=getattr(args, "ray_address", None),
                      selected=None if grid.best is None else grid.best.index)
    folder.mkdir(parents=True, exist_ok=True)
    write_run_json(folder, kind="scale", seed=getattr(args, "seed", None), config=config)


def _print(family: Family, grid: GridResult | None, folder: Path) -> None:
    out = console()
    if grid is not None:
        out.print(grid_table(grid))
    out.print(family_table(family))
    for warning in family.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    wrote = "family.yaml, family.json, members/" + (", grid.csv" if grid is not None else "")
    out.print(f"wrote {wrote} and run.json to {folder}")
