"""``effsearch scale``: the compound grid at phi = 1 (unless coefficients are given), then the family.

A thin layer over :func:`effsearch.compound.run_scale`: parse the options into configs, make one
library call (it runs or resumes the grid on Ray Tune, writes the family and ``run.json``), and print
the grid and family tables. ``--train`` then trains each member to keep
(:func:`effsearch.compound.train_members`); ``--compare`` instead measures compound against
single-dimension scaling at matched MACs (:func:`effsearch.compound.run_compare`).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    proxy_config_from_args,
)
from effsearch.errors import EffsearchError

if TYPE_CHECKING:
    from rich.table import Table

    from effsearch.compound.family import Family
    from effsearch.compound.grid import GridConfig
    from effsearch.compound.run import ScaleResult
    from effsearch.compound.tune import GridResult

EXAMPLES = """
  effsearch scale --baseline results/demo --phi 1..7         grid search, then B1..B7-style members
  effsearch scale --baseline efficientnet-b0 --coefficients 1.2,1.1,1.15 --phi 0..7
                                                the paper's coefficients: no grid, family only
  effsearch scale --baseline efficientnet-b0 --preset official --phi 0..7   the released B0..B7 table
  effsearch scale --baseline my_net.yaml --grid-step 0.1 --scheduler asha --epochs 9 --workers 2
                                                a coarser grid, poor points stopped early by ASHA
  effsearch scale --baseline results/demo --out results/demo-scale   run again to resume it
  effsearch scale --baseline efficientnet-b0 --coefficients 1.4,1.1,1.1 --ignore-constraint --phi 1,3,5
  effsearch scale --compare --out results/demo-scale --dataset fashion-mnist --epochs 10
                                                compound against width-, depth- and resolution-only at
                                                phi 1 and 2, matched MACs, 3 seeds each (run again to resume)
  effsearch scale --compare --baseline results/demo --coefficients 1.2,1.1,1.15 --phi 1 --seeds 5 --out results/cmp
  effsearch scale --baseline results/demo --coefficients 1.2,1.1,1.15 --phi 0..3 --train --dataset fashion-mnist
                                                the family, each member trained and scored on the test split
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
    what.add_argument("--phi", default=None, metavar="PHIS",
                      help="phi values: 1..7, 3, 0..7 or 1,3,5 (default: 0..7; 1,2 with --compare)")
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
    grid.add_argument("--scheduler", choices=("fifo", "asha"), default="fifo",
                      help="fifo trains every point fully; asha stops poor points early (default: fifo)")
    grid.add_argument("--asha-grace", type=COUNT, default=1, metavar="EPOCHS", help="ASHA: epochs before a point can be stopped (default: 1)")
    grid.add_argument("--asha-reduction", type=float_range(1, lo_open=True), default=3.0, metavar="RF", help="ASHA: keep the top 1/RF at each rung (default: 3)")
    where = parser.add_argument_group("where to run")
    where.add_argument("--out", type=Path, default=None, help="results folder (default: results/scale-<time>); reuse it to resume")
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


# --------------------------------------------------------------------------- resolving the inputs


def grid_config_from_args(args: argparse.Namespace) -> GridConfig:
    from effsearch.compound.grid import GridConfig

    ranges = {f"{n}_range": parse_numbers(getattr(args, f"{n}_range"), 2, f"--{n}-range", "1,1.5") for n in ("alpha", "beta", "gamma")}
    return GridConfig(step=args.grid_step, tolerance=args.tolerance, **ranges)


def _progress(total: int) -> Callable[[dict[str, Any], int], None]:
    """One stderr line per finished point; a resumed grid counts on from the points it already had."""
    done = [0]

    def on_point(record: dict[str, Any], already: int) -> None:
        if record.get("replayed"):
            return  # finished in an earlier run: already counted
        done[0] += 1
        acc = record.get("accuracy")
        print(
            f"[{already + done[0]}/{total}] alpha={record['alpha']:g} beta={record['beta']:g} gamma={record['gamma']:g}: "
            f"accuracy {'-' if acc is None else f'{acc:.4f}'} ({record.get('status')}, {record.get('epoch')} epochs, "
            f"{record.get('train_seconds') or 0:.1f} s)",
            file=sys.stderr, flush=True,
        )

    return on_point


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


def family_table(family: Family, trained: list[dict[str, Any]] | None = None) -> Table:
    from rich.table import Table

    from effsearch.compound.family import growth
    from effsearch.units import format_count

    accuracy = _accuracy_by_name(trained)
    rule = "official B0..B7 table" if family.rule == "official" else (
        f"alpha={family.alpha:g} beta={family.beta:g} gamma={family.gamma:g}")
    table = Table(title=f"family of {family.baseline.name or 'the baseline'} ({rule})", title_justify="left")
    latency = any(m.latency_ms is not None for m in family.members)
    cols = ["phi", "name", "depth", "width", "res", "stage channels", "repeats", "params", "MACs", "x/step"]
    for col in [*cols, *(["latency"] if latency else []), *(["train px", "test top-1"] if accuracy else [])]:
        table.add_column(col, justify="left" if col in ("name", "stage channels", "repeats") else "right")
    for m, step in zip(family.members, growth(family), strict=True):
        row = [str(m.phi), m.name, f"{m.depth:.3f}", f"{m.width:.3f}", str(m.resolution), " ".join(map(str, m.channels)),
               " ".join(map(str, m.repeats)), format_count(m.params), format_count(m.macs), "" if step is None else f"{step:.2f}"]
        if latency:
            row.append("" if m.latency_ms is None else f"{m.latency_ms:.1f} ms")
        if accuracy:
            row += accuracy.get(m.name, ["", ""])
        table.add_row(*row)
    return table


def _accuracy_by_name(rows: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    """Member name -> [training side, mean test top-1 (± std over seeds)] of ``train_members``' rows."""
    from effsearch.compound.trained import trained_entry

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows or []:
        groups.setdefault(row["name"], []).append(row)
    return {name: [str(e["train_resolution"]), _mean_std(e["test_accuracy"], e["test_accuracy_std"])]
            for name, e in ((n, trained_entry(g)) for n, g in groups.items())}


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


# --------------------------------------------------------------------------- the command

LONG_RUNNING = True
"""The CLI installs the stop handlers (Ctrl-C and SIGTERM stop the grid gracefully; run again to resume)."""


def configs(args: argparse.Namespace) -> tuple[Any, Any]:
    """The :class:`ScaleConfig` and :class:`ScaleRunConfig` of the options (one-line errors)."""
    from effsearch.compound.run import ScaleConfig, ScaleRunConfig
    from effsearch.runtime.results import default_folder

    coeffs = parse_numbers(args.coefficients, 3, "--coefficients", "1.2,1.1,1.15") if args.coefficients else None
    scale = ScaleConfig(phis=tuple(parse_phis(args.phi or "0..7")), rule="official" if args.preset == "official" else "compound",
                        coefficients=coeffs, grid=grid_config_from_args(args), resolution_multiple=args.resolution_multiple,
                        ignore_constraint=args.ignore_constraint, latency=args.latency, seed=args.seed)
    run = ScaleRunConfig(out=args.out or default_folder("scale"), workers=args.workers, ray_address=args.ray_address,
                         cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                         max_failures=args.max_failures, scheduler=args.scheduler, asha_grace=args.asha_grace,
                         asha_reduction=args.asha_reduction, verbose=args.verbose)
    return scale, run


def run(args: argparse.Namespace) -> int:
    from effsearch.compound.run import newest_baseline, run_scale

    if args.compare:
        return run_compare_command(args)
    if not args.train and (args.seeds is not None or args.train_images is not None):
        raise EffsearchError("--seeds and --train-images set the trainings of --compare and --train; add one of them")
    scale, where = configs(args)
    train = train_config_from_args(args) if args.train else None
    baseline = args.baseline
    if baseline is None:
        baseline = newest_baseline()
        print(f"effsearch: using the newest baseline run, {baseline} (pass --baseline to choose another)", file=sys.stderr)
    proxy = data = on_point = on_start = None
    if scale.needs_grid:
        proxy, data = proxy_config_from_args(args), dataset_from_args(args)
        if not args.quiet:
            on_start, on_point = _announce_grid(scale, where, proxy, data)
    # Loaded before the family is written, so a data set that cannot be loaded writes nothing.
    train_data = _training_data(args, data) if train is not None else None
    result = run_scale(baseline=baseline, scale=scale, run=where, proxy=proxy, data=data, argv=sys.argv, on_point=on_point,
                       on_start=on_start)
    trained = _train_members(args, result, train, train_data) if train is not None else None
    if args.json:
        print(json.dumps(summary_dict(result, trained), default=str))
    else:
        _print(result, trained)
    return 0


def summary_dict(result: ScaleResult, trained: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The grid and the family as one JSON-ready object (``--json``): family.json's document plus the grid.

    With ``--train`` the family is family.json as rewritten with each member's ``trained`` entry, and
    ``trained`` lists every training.
    """
    from effsearch.compound.family import family_to_dict

    grid = None
    if result.grid is not None:
        grid = {"rows": result.grid.rows, "selected": next((r for r in result.grid.rows if r.get("selected")), None)}
    family = family_to_dict(result.family) if trained is None else json.loads((Path(result.out) / "family.json").read_text())
    out = {"out": str(result.out), "coefficients": list(result.coefficients), "coefficients_from": result.coefficients_from,
           "baseline": result.baseline_source, "grid": grid, "family": family}
    if trained is not None:
        out["trained"] = trained
    return out


def _announce_grid(scale: Any, where: Any, proxy: Any, data: Any) -> tuple[Callable[[], None], Callable[[dict[str, Any]], None]]:
    """The header line (printed once every check has passed: a refused run prints one error line) and the per-point lines."""
    from effsearch.compound.grid import grid_points
    from effsearch.compound.ledger import LEDGER, finished_points, read_ledger
    from effsearch.compound.trainable import epoch_budget

    total = len(grid_points(scale.grid))
    already = [0]

    def on_start() -> None:
        already[0] = len(finished_points(read_ledger(Path(where.out) / LEDGER)))
        print(f"effsearch: {total} grid points at phi = 1 on {data.name}, {epoch_budget(proxy)} epochs each "
              f"({where.scheduler}); results in {where.out}", file=sys.stderr)

    progress = _progress(total)

    def on_point(record: dict[str, Any]) -> None:
        progress(record, already[0])

    return on_start, on_point


def _print(result: ScaleResult, trained: list[dict[str, Any]] | None = None) -> None:
    out = console()
    if result.grid is not None:
        out.print(grid_table(result.grid))
    out.print(family_table(result.family, trained))
    for warning in result.family.warnings:
        out.print(f"[yellow]warning:[/yellow] {warning}")
    from effsearch.arch.timmcompat import timm_export

    lossy = [m.name for m in result.family.members if timm_export(m.spec).differs]
    if lossy:
        out.print(f"[yellow]note:[/yellow] timm's builder does not rebuild {', '.join(lossy)} exactly from the exported "
                  "arch_def; family.json says where (timm_faithful, timm_differs)")
    wrote = "family.yaml, family.json, members/" + (", grid.csv" if result.grid is not None else "")
    wrote += ", members-trained/" if trained is not None else ""
    out.print(f"wrote {wrote} and run.json to {result.out}")


# --------------------------------------------------------------------------- --train and --compare

_TRAIN_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "threads", "device", "kernels")


def train_config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~effsearch.train.TrainConfig` of ``--compare`` / ``--train`` (effsearch train's defaults)."""
    from effsearch.train import TrainConfig

    return TrainConfig(**{f: getattr(args, f) for f in _TRAIN_FIELDS if getattr(args, f, None) is not None})


def _training_data(args: argparse.Namespace, loaded: Any = None) -> Any:
    data = loaded if loaded is not None else dataset_from_args(args)
    return data.subset(train=args.train_images, seed=0) if args.train_images else data


def _epochs(train: Any) -> str:
    return f"{train.epochs:g} epoch{'s' * (train.epochs != 1)}"


def _seeds(args: argparse.Namespace, default: int) -> tuple[int, ...]:
    return tuple(range(args.seed, args.seed + (args.seeds or default)))


def _on_training(quiet: bool) -> Callable[[dict[str, Any]], None] | None:
    """One stderr line as each training starts and ends; trainings found finished are not listed."""
    if quiet:
        return None

    def show(e: dict[str, Any]) -> None:
        head = f"[{e['index']}/{e['total']}] {e['name']} seed {e['seed']}"
        if e["event"] == "start":
            state = f"resuming after epoch {e['epochs_done']}" if e["epochs_done"] else "training"
            print(f"{head}: {state} at {e['train_resolution']}px in {e['folder']}", file=sys.stderr, flush=True)
        elif not e["found"]:
            row = e["row"]
            print(f"{head}: test top-1 {row['test_accuracy']:.4f} ({row['train_seconds'] or 0:.0f} s)", file=sys.stderr, flush=True)

    return show


def _train_members(args: argparse.Namespace, result: ScaleResult, train: Any, data: Any) -> list[dict[str, Any]]:
    from effsearch.compound.trained import train_members

    seeds = _seeds(args, 1)
    if not args.quiet:
        print(f"effsearch: training {len(result.family.members)} member(s) x {len(seeds)} seed(s) on {data.name}, "
              f"{_epochs(train)} each, into {Path(result.out) / 'members-trained'}", file=sys.stderr)
    return train_members(result.family, data, train, result.out, seeds=seeds, base_resolution=args.proxy_resolution,
                         on_training=_on_training(args.quiet))


def _compare_source(args: argparse.Namespace) -> tuple[Any, tuple[float, float, float], int, str]:
    """The baseline, coefficients and resolution multiple to compare, and where the coefficients came from."""
    from effsearch.arch.specio import load_spec
    from effsearch.compound.family import load_family
    from effsearch.compound.run import ScaleConfig, newest_baseline

    if args.preset == "official":
        raise EffsearchError("--compare needs compound coefficients, and --preset official has none; give --coefficients")
    family = None
    if args.out is not None and any((Path(args.out) / n).is_file() for n in ("family.json", "family.yaml")):
        family = load_family(args.out)
    if args.coefficients:
        coeffs = parse_numbers(args.coefficients, 3, "--coefficients", "1.2,1.1,1.15")
        # The same checks as the scale stage's (>= 1, on the constraint unless --ignore-constraint).
        coeffs = ScaleConfig(phis=(1,), coefficients=coeffs, grid=grid_config_from_args(args),
                             ignore_constraint=args.ignore_constraint).coefficients
        origin = "given"
    elif family is not None and family.rule == "compound":
        coeffs, origin = (family.alpha, family.beta, family.gamma), f"the family in {args.out}"
    elif family is not None:
        raise EffsearchError(f"the family in {args.out} follows the official B0..B7 table, not alpha^phi; give --coefficients")
    else:
        where = f"{args.out} has no family.json" if args.out is not None else "no --out folder was given"
        raise EffsearchError(f"--compare needs the compound coefficients and {where}; give --coefficients A,B,G, or --out "
                             "a scale results folder whose grid has chosen them (effsearch scale writes family.json there)")
    if args.baseline is not None:
        baseline = load_spec(args.baseline)
    elif family is not None:
        baseline = family.baseline
    else:
        source = newest_baseline()
        print(f"effsearch: using the newest baseline run, {source} (pass --baseline to choose another)", file=sys.stderr)
        baseline = load_spec(source)
    multiple = args.resolution_multiple or (family.resolution_multiple if family is not None else None)
    return baseline, coeffs, multiple or 8, origin


def run_compare_command(args: argparse.Namespace) -> int:
    """``--compare``: check every input, then one :func:`~effsearch.compound.run_compare` call, then the table."""
    from effsearch.compound.compare_run import CompareConfig, run_compare
    from effsearch.runtime.results import default_folder

    baseline, coeffs, multiple, origin = _compare_source(args)
    config = CompareConfig(coefficients=coeffs, phis=tuple(parse_phis(args.phi or "1,2")), seeds=_seeds(args, 3),
                           resolution_multiple=multiple, base_resolution=args.proxy_resolution)
    train = train_config_from_args(args)
    data = _training_data(args)
    out = args.out or default_folder("compare")
    if not args.quiet:
        a, b, g = coeffs
        print(f"effsearch: compound (alpha={a:g} beta={b:g} gamma={g:g}, {origin}) against width-, depth- and "
              f"resolution-only scaling at phi {', '.join(map(str, config.phis))} on {data.name}: "
              f"{1 + 4 * len(config.phis)} networks x {len(config.seeds)} seed(s), {_epochs(train)} each; "
              f"results in {out}", file=sys.stderr)
    result = run_compare(baseline, data, config, train, out, on_training=_on_training(args.quiet))
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


def compare_table(document: dict[str, Any]) -> Table:
    """compare.json as a table: one row per variant and phi with its MACs, match, and test top-1 over seeds."""
    from rich.table import Table

    from effsearch.compound.verdict import LABELS
    from effsearch.units import format_count

    summary = {(s["variant"], s["phi"]): s for s in document.get("summary") or []}
    data = (document.get("data") or {}).get("name", "the data")
    table = Table(title=f"compound against single-dimension scaling on {data} (test top-1 over seeds)", title_justify="left")
    for col in ("phi", "variant", "width", "depth", "res", "train px", "MACs", "MAC match", "test top-1", "n"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in document.get("variants") or []:
        s = summary.get((v["variant"], v["phi"]), {})
        match = "" if v["variant"] in ("baseline", "compound") else f"{100 * v['macs_mismatch']:+.1f}%"
        table.add_row(str(v["phi"]), LABELS.get(v["variant"], v["variant"]), f"{v['width_mult']:.3g}", f"{v['depth_mult']:.3g}",
                      str(v["resolution"]), str(v.get("train_resolution", "")), format_count(v["macs"]), match,
                      _mean_std(s.get("mean"), s.get("std")), str(s.get("n", 0)))
    return table
