"""``effsearch train SPEC --dataset D --epochs E --out DIR``: train a network to keep, then export it.

A thin layer over :mod:`effsearch.train` and :mod:`effsearch.export`: it parses the options, shows a
step bar and one line per epoch, and prints the closing table. Re-running the same command resumes
after a kill, or finds the training finished.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from effsearch.cli.common import COUNT, POSITIVE, SEED, add_command, console, float_range, int_range
from effsearch.errors import EffsearchError

LONG_RUNNING = True
EXAMPLES = """
  effsearch train results/demo --dataset fashion-mnist --adapt --epochs 10      the demo baseline at 28 px
  effsearch train results/demo-scale --phi 2 --epochs 10      a family member, on the data its baseline was searched on
  effsearch train efficientnet-b0 --dataset cifar10 --fit-data --epochs 30     at 224 px (the spec's): use a GPU
  effsearch train my_net.yaml --dataset folder:~/pets --resolution 128 --epochs 20 --out results/pets-net
  effsearch train results/demo --dataset fashion-mnist --adapt --epochs 10     again: resumes, or finds it done
  effsearch export results/trained/baseline-400M-fashion-mnist                 the deployment files again
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "train", help="train a network with a full recipe, score it on the test split and export it",
        description="Train SPEC (a preset, a spec file or a results folder) to keep: warm-up and cosine decay, label "
        "smoothing, the spec's dropout and stochastic depth, an EMA of the weights, augmentation that suits the data. "
        "A checkpoint ends every epoch and re-running the same command resumes. At the end the weights with the better "
        "validation top-1 (EMA or live) are scored once on the data set's test split, which no search reads, and "
        "exported (safetensors, torch.export, ONNX checked with onnxruntime, timm's state dict). See docs/train.md.",
        examples=EXAMPLES,
    )
    parser.add_argument("spec", metavar="SPEC", help="preset name, spec YAML/JSON file, or results folder (baseline, scale "
                        "with --phi, or a trained network)")
    net = parser.add_argument_group("the network")
    net.add_argument("--phi", type=float, default=None, metavar="PHI",
                     help="the member of a scale results folder's family to train (its phi as the family table shows it)")
    net.add_argument("--resolution", type=int_range(8, 1024), default=None, metavar="PX",
                     help="training input size; images are resized (default: the spec's, or the data set's with --adapt)")
    mode = net.add_mutually_exclusive_group()
    mode.add_argument("--fit-data", action="store_true", help="give the spec a classifier for the data's classes and a stem for its channels")
    mode.add_argument("--adapt", action="store_true", help="train the network as the search's proxy does: fitted to the data "
                      "and with the earliest strides dropped for small images (default resolution: the data set's)")
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", metavar="NAME[:PATH]", default=None,
                      help="digits, cifar10[:PATH], cifar100[:PATH], mnist[:PATH], fashion-mnist[:PATH], folder:PATH or "
                      "npz:FILE (default: the data set a baseline or scale folder was searched on, else digits)")
    data.add_argument("--data-dir", metavar="DIR", default=None, help="cache folder for downloaded data sets")
    data.add_argument("--val-fraction", type=float_range(0, 1, lo_open=True, hi_open=True), default=None, metavar="F",
                      help="share of the training data held out for validation (default 0.2)")
    data.add_argument("--train-images", type=COUNT, default=None, metavar="N", help="train on a stratified subset of N images (default all)")
    recipe = parser.add_argument_group("recipe (defaults in docs/train.md)")
    recipe.add_argument("--epochs", type=COUNT, default=None, metavar="E", help="training epochs (default 10)")
    recipe.add_argument("--batch-size", type=COUNT, default=None, metavar="B", help="batch size (default 128)")
    recipe.add_argument("--lr", type=POSITIVE, default=None, help="peak learning rate (default 0.2 x batch/128 for SGD, 0.004 x batch/128 for AdamW)")
    recipe.add_argument("--optimizer", choices=("sgd", "adamw"), default=None, help="sgd (Nesterov, default) or adamw")
    recipe.add_argument("--label-smoothing", type=float_range(0, 1, hi_open=True), default=None, metavar="S", help="default 0.1")
    recipe.add_argument("--ema-decay", type=float_range(0, 1, lo_open=True, hi_open=True), default=None, metavar="D",
                        help="EMA decay per step (default 0.9998, warmed up)")
    recipe.add_argument("--no-ema", action="store_true", help="train without an EMA of the weights")
    recipe.add_argument("--augment", choices=("none", "flip", "crop", "crop-flip"), default=None,
                        help="default: crop-flip for natural images and Fashion-MNIST, crop for MNIST, none for digits")
    run = parser.add_argument_group("run")
    run.add_argument("--out", type=Path, default=None, help="training folder (default results/trained/<spec name>-<dataset>)")
    run.add_argument("--seed", type=SEED, default=0, help="seed for initialisation, data order and augmentation (default 0)")
    run.add_argument("--threads", type=int_range(1, 1024), default=None, help="CPU threads (default: OMP_NUM_THREADS or all usable cores)")
    run.add_argument("--device", default=None, help="auto (default: cuda when available), cpu, cuda or cuda:N")
    run.add_argument("--kernels", default=None, choices=("auto", "fused", "fast", "torch"), help="CPU layer path (default auto)")
    run.add_argument("--no-export", action="store_true", help="do not write export/ (run 'effsearch export DIR' later)")
    run.add_argument("--quiet", action="store_true", help="no progress display, only the final summary")
    run.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    return parser


_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "label_smoothing", "ema_decay", "augment", "threads", "device", "kernels")


def _config(args: argparse.Namespace) -> Any:
    from effsearch.train import TrainConfig

    if args.no_ema and args.ema_decay is not None:
        raise EffsearchError("--no-ema and --ema-decay contradict each other; give one")
    values = {f: getattr(args, f) for f in _FIELDS if getattr(args, f) is not None}
    if args.no_ema:
        values["ema_decay"] = None
    return TrainConfig(**values, resolution=None)


def run(args: argparse.Namespace) -> int:
    from effsearch.cli.common import dataset_from_args
    from effsearch.runs.training import DataMismatch, prepare_training

    mode = "adapt" if args.adapt else "fit" if args.fit_data else None
    try:
        training = prepare_training(args.spec, phi=args.phi, config=_config(args), out=args.out, seed=args.seed, mode=mode,
                                    resolution=args.resolution, train_images=args.train_images,
                                    data=dataset_from_args(args) if args.dataset is not None else None,
                                    load=lambda: dataset_from_args(args))
    except DataMismatch as exc:
        raise EffsearchError(f"{exc.problem}; pass --fit-data (a classifier and stem for the data) or --adapt (the proxy's "
                             "network for small images), or train on data it was made for") from None
    spec, data, config, out = training.spec, training.data, training.config, training.out
    show = console(stderr=args.json)
    done = training.epochs_done()
    if training.finished:
        show.print(f"the training in {out} is finished ({done} epochs); nothing to train", highlight=False, soft_wrap=True)
    elif not args.quiet:
        start = f"resuming after epoch {done}" if done else "starting"
        show.print(f"training {spec.name or 'the network'} on {data.name} at {spec.resolution}px for {config.epochs:g} epochs "
                   f"({len(data.train_y):,} images, batch {config.batch_size}, augment {config.augment_for(data)}); "
                   f"{start}; folder {out}", highlight=False, soft_wrap=True)
    metrics = _train_with_progress(training, show, quiet=args.quiet)
    exported = None
    if not args.no_export:
        from effsearch.export import export_model

        exported = export_model(out)
    if args.json:
        print(json.dumps({**metrics, "folder": str(out), "export": exported}, default=str))
    else:
        show.print(_table(metrics, out, exported))
    return 0


def _train_with_progress(training: Any, show: Any, *, quiet: bool) -> dict[str, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    best: list[float] = []
    bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[status]}"), console=show, transient=True, disable=quiet or not show.is_terminal)
    task = bar.add_task("train", total=None, status="")

    def on_step(step: int, total: int, loss: float) -> None:
        val = f"  best val {max(best):.4f}" if best else ""
        bar.update(task, completed=step, total=total or None, status=f"loss {loss:.4f}{val}")

    def on_epoch(r: dict[str, Any]) -> None:
        best.append(max(r["val_accuracy"], r["ema_val_accuracy"] or 0.0))
        if not quiet:
            ema = f"  ema {r['ema_val_accuracy']:.4f}" if r["ema_val_accuracy"] is not None else ""
            bar.console.print(f"epoch {r['epoch']}: train loss {r['train_loss']:.4f}  val {r['val_accuracy']:.4f}{ema}  "
                              f"lr {r['lr']:.3g}  {r['seconds']:.0f} s  {r['images_per_s']:.0f} img/s",
                              highlight=False, markup=False, soft_wrap=True)

    with bar:
        return training.run(on_epoch=on_epoch, on_step=on_step)


def _table(m: dict[str, Any], out: Path, exported: dict[str, Any] | None) -> Any:
    from rich.table import Table

    from effsearch.export.files import timm_not_written
    from effsearch.units import format_count

    table = Table(title=f"{m['name'] or 'network'} on {m['dataset']}: trained", title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("test top-1", f"{m['test_accuracy']:.4f} on {m['test_images']:,} images ({m['test_split']})"),
        ("validation top-1", f"{m['val_accuracy']:.4f} ({m['weights']} weights)"),
        ("params / MACs", f"{format_count(m['params'])} / {format_count(m['macs'])} at {m['resolution']}px"),
        ("latency (batch 1, CPU)", f"{m['latency_ms']:.2f} ms on {m['latency']['threads']} thread(s)"),
        ("epochs / steps", f"{m['epochs']} / {m['steps']}"),
        ("train seconds", f"{m['train_seconds']:.0f} on {m['device']}"),
        ("folder", str(out)),
    ]
    if exported:
        names = ", ".join(exported["files"].values())
        rows.append(("exported", f"{names} (ONNX within {exported.get('onnx_max_abs_diff', 0):.1e} of PyTorch)"
                     if "onnx" in exported["files"] else names))
        if not exported.get("timm", {}).get("written", True):
            rows.append(("timm", timm_not_written(exported["timm"])))
    for name, value in rows:
        table.add_row(name, value)
    return table
