"""``effsearch supernet --space S --dataset D --epochs E --out DIR``: train a weight-sharing supernet.

A thin layer over :func:`effsearch.supernet.train.train_supernet`: it parses the options, prints one
line per epoch and the closing table. Re-running the same command resumes after a kill.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from effsearch.cli.common import (
    COUNT,
    add_command,
    add_proxy_args,
    console,
    dataset_from_args,
    proxy_config_from_args,
    space_width,
)
from effsearch.errors import EffsearchError

LONG_RUNNING = True

EXAMPLES = """
  effsearch supernet --space mnasnet --dataset fashion-mnist --epochs 3 --out results/supernet
  effsearch baseline --flops-target 400M --dataset fashion-mnist --evaluator supernet:results/supernet
  effsearch supernet --space small --epochs 2 --rule sandwich     largest + smallest + 2 random per step
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "supernet", help="train a weight-sharing supernet that scores any candidate of a space in a fraction of a second",
        description="Train one over-parameterised network for a search space; every candidate of the space is a "
        "sub-network that inherits its weights, so 'effsearch baseline --evaluator supernet:DIR' scores candidates "
        "without training them. Each step trains one random sub-network (--rule uniform, the default) or the largest, "
        "the smallest and --random-subnets random ones distilled from the largest (--rule sandwich). A checkpoint is written every epoch; "
        "re-running the same command resumes.", examples=EXAMPLES,
    )
    what = parser.add_argument_group("what to train")
    what.add_argument("--space", default="mnasnet", help="built-in space name or space YAML file (default mnasnet)")
    what.add_argument("--space-width", type=width, default=None, metavar="W",
                      help="the space with its widths multiplied by W, as 'effsearch baseline --space-width' searches it "
                           "(give the multiplier that search's opening line and run.json name)")
    what.add_argument("--rule", choices=("sandwich", "uniform"), default=None,
                      help="uniform (default: one random sub-network per step) or sandwich (largest + smallest + "
                      "random ones, distilled from the largest)")
    what.add_argument("--random-subnets", type=COUNT, default=None, metavar="N", help="random sub-networks per sandwich step (default 2)")
    what.add_argument("--no-distill", action="store_true", help="train every sub-network on the labels, not on the largest's predictions")
    what.add_argument("--train-images", type=COUNT, default=None, metavar="N", help="train on a stratified subset of N images (default all)")
    parser.add_argument("--out", type=Path, default=None, help="supernet folder (default results/supernet-<space>-<dataset>-s<seed>)")
    add_proxy_args(parser)
    return parser


def width(text: str) -> float:
    value = space_width(text)
    if value == "auto":  # auto is fitted to a target, which a supernet does not have
        raise argparse.ArgumentTypeError("auto needs a target; give the multiplier the search fitted (its opening line "
                                         "and run.json's space_width name it), e.g. 0.38")
    return value


def _config(args: argparse.Namespace) -> Any:
    from effsearch.supernet.train import SupernetConfig

    if args.steps is not None or args.seconds is not None:
        raise EffsearchError("a supernet's budget is --epochs (each epoch ends with a checkpoint); --steps and "
                             "--seconds are for proxy training")
    values: dict[str, Any] = {"seed": args.seed}
    for name, value in (("epochs", args.epochs), ("rule", args.rule), ("random_subnets", args.random_subnets),
                        ("train_images", args.train_images)):
        if value is not None:
            values[name] = value
    if args.no_distill:
        values["distill"] = False
    return SupernetConfig(**values)


def run(args: argparse.Namespace) -> int:
    from effsearch.search.space import load_space
    from effsearch.search.space_fit import scale_space
    from effsearch.supernet.layout import layout_for
    from effsearch.supernet.train import SupernetTrainer

    config = _config(args)
    space = load_space(args.space)
    if args.space_width is not None:
        space = scale_space(space, args.space_width)
    layout_for(space)  # refuses a space that cannot share weights before the data loads
    proxy = proxy_config_from_args(args, epochs=1.0, steps=None, seconds=None)
    data = dataset_from_args(args)
    from effsearch.runtime.results import DEFAULT_ROOT

    wide = "" if args.space_width is None else f"-w{args.space_width:g}"  # another width is another supernet
    out = args.out or DEFAULT_ROOT / f"supernet-{space.name}{wide}-{data.name}-s{args.seed}"
    trainer = SupernetTrainer(space, data, proxy, config, out)
    show = console()
    done = int(trainer.meta["epochs_done"])
    if trainer.finished:
        show.print(f"the supernet in {out} is already trained ({done} epochs); nothing to do", highlight=False, soft_wrap=True)
    else:
        steps = max(1, len(trainer.data.train_y) // proxy.batch_size)
        per_step = 1 if config.rule == "uniform" else 2 + config.random_subnets
        start = f"resuming after epoch {done}" if done else "starting"
        show.print(f"supernet of space {space.name} on {data.name} at {trainer.resolution}px: {config.epochs:g} epochs of "
                   f"{steps} steps, {per_step} sub-network(s) per step ({config.rule}); {start}; folder {out}",
                   highlight=False, soft_wrap=True)
    meta = _train_with_progress(trainer, show)
    show.print(_table(meta))
    same = f" --proxy-resolution {args.proxy_resolution}" if args.proxy_resolution else ""
    if args.space_width is not None:
        same += f" --space-width {args.space_width:g}"
    show.print(f"use it with: effsearch baseline --dataset {args.dataset or 'digits'} --space {args.space}{same} "
               f"--evaluator supernet:{out}", highlight=False, soft_wrap=True)
    return 0


def _train_with_progress(trainer: Any, show: Any) -> dict[str, Any]:
    """A step bar with the loss and the last epoch's accuracies (on a terminal), and one line per epoch."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from effsearch.search.baseline import describe_epoch

    last = trainer.meta["history"][-1] if trainer.meta["history"] else None
    bar = Progress(TextColumn("[bold]supernet"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), TextColumn("{task.fields[status]}"), console=show, transient=True,
                   disable=not show.is_terminal)

    def status(loss: float | None) -> str:
        acc = f"  largest {last['largest_accuracy']:.4f} smallest {last['smallest_accuracy']:.4f}" if last else ""
        return (f"loss {loss:.4f}" if loss is not None else "") + acc

    task = bar.add_task("supernet", total=None, status=status(None))

    def on_step(step: int, total: int, loss: float) -> None:
        bar.update(task, completed=step, total=total, status=status(loss))

    def on_epoch(record: dict[str, Any]) -> None:
        nonlocal last
        last = record
        bar.console.print(describe_epoch(record), highlight=False, markup=False, soft_wrap=True)

    with bar:
        return trainer.run(on_epoch=on_epoch, on_step=on_step)


def _table(meta: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(title="supernet training", title_justify="left")
    for name in ("epoch", "steps", "train loss", "largest top-1", "smallest top-1", "seconds"):
        table.add_column(name, justify="right")
    for r in meta.get("history", []):
        table.add_row(str(r["epoch"]), str(r["steps"]), f"{r['train_loss']:.4f}", f"{r['largest_accuracy']:.4f}",
                      f"{r['smallest_accuracy']:.4f}", f"{r['seconds']:.0f}")
    return table
