"""Compound against width-, depth- and resolution-only scaling, trained on Fashion-MNIST at matched MACs.

The same comparison as ``effsearch scale --compare``, through the library so that validation can use
a fixed stratified subset (the CLI validates on the whole 12,000-image split after every epoch,
which on two CPU cores costs more than the training at this budget). Each training is the full
``effsearch train`` recipe, scored once on the official t10k test split. Resumable: run it again.

    .venv/bin/python benchmarks/bench_compare.py --out benchmarks/results/compare \\
        --baseline results/examples/demo --coefficients 1.2,1.1,1.15 --phi 1,2 --seeds 0,1,2 \\
        --train-images 24000 --val-images 2000 --epochs 1

On two cores: ``--shard 0/2`` and ``--shard 1/2`` side by side, then the same command without ``--shard``
(it finds every training finished and writes the table). Every finished training's row is appended
to ``OUT/rows.jsonl``, which is committed: a fresh clone resumes from it, since the training folders
(weights and checkpoints) are not.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from filelock import FileLock

from effsearch.arch.scaling import scale
from effsearch.arch.specio import load_spec
from effsearch.compound import CompareConfig
from effsearch.compound.compare import compare_variants
from effsearch.compound.compare_run import compare_head, plan, train_planned, write_tables
from effsearch.data import load_dataset
from effsearch.runtime.fingerprint import check_same
from effsearch.train import TrainConfig

LEDGER = "rows.jsonl"


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def recipe(args: argparse.Namespace) -> dict:
    """The TrainConfig fields the command line sets (the rest are effsearch train's)."""
    fields = {"epochs": args.epochs, "lr": args.lr, "threads": args.threads}
    if args.batch_size is not None:
        fields["batch_size"] = args.batch_size
    if args.augment is not None:
        fields["augment"] = args.augment
    if args.label_smoothing is not None:
        fields["label_smoothing"] = args.label_smoothing
    if args.no_ema:
        fields["ema_decay"] = None
    return fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/compare"))
    parser.add_argument("--baseline", default="results/examples/demo")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--coefficients", type=_floats, default=(1.2, 1.1, 1.15))
    parser.add_argument("--phi", type=_ints, default=(1, 2))
    parser.add_argument("--seeds", type=_ints, default=(0, 1, 2))
    parser.add_argument("--train-images", type=int, default=24000)
    parser.add_argument("--val-images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=None, help="peak learning rate (default: effsearch train's)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: effsearch train's (128)")
    parser.add_argument("--augment", default=None, help="none, flip, crop-flip (default: the data set's)")
    parser.add_argument("--no-ema", action="store_true", help="score the raw weights (no EMA)")
    parser.add_argument("--label-smoothing", type=float, default=None, help="default: effsearch train's (0.1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-width", type=float, default=None,
                        help="scale the baseline's widths by this first (a smaller network of the same family); "
                             "its channels round to the baseline's divisor times this (2 for 8 at 0.25), so it "
                             "scales as finely for its size as the full network does")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="train only every N-th training from the I-th (one process per core); run once more "
                             "without it to write compare.csv and compare.json from every finished training")
    parser.add_argument("--variants", default=None,
                        help="train only these kinds (comma-separated: baseline, compound, width, depth, resolution), "
                             "e.g. the baseline's seeds first to see their spread; like --shard, it writes no table")
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset).subset(train=args.train_images, val=args.val_images, seed=0)
    baseline = load_spec(args.baseline)
    if args.baseline_width is not None:
        baseline = narrowed(baseline, args.baseline_width)
    config = CompareConfig(coefficients=args.coefficients, phis=args.phi, seeds=args.seeds)
    start = time.perf_counter()

    def progress(event: dict) -> None:
        if event["event"] != "done":
            return
        row = event["row"]
        print(f"{time.perf_counter() - start:7.0f} s  {event['index']}/{event['total']} {row['variant']:<10} phi {row['phi']} "
              f"seed {row['seed']}: {row['macs'] / 1e6:7.1f}M MACs ({row['macs_mismatch']:+.1%}), {row['train_resolution']} px, "
              f"test {row['test_accuracy']:.4f}", flush=True)

    train = TrainConfig(**recipe(args))
    variants = compare_variants(baseline, config.coefficients, config.phis)
    planned = plan(variants, data, config.seeds, args.out, strides_of=baseline)
    head = compare_head(baseline, data, config, train, variants, data.default_resolution, len(planned))
    done = read_ledger(args.out, head)
    index, count = (int(v) for v in (args.shard or "0/1").split("/"))
    todo = [p for p in planned[index::count] if key(p) not in done]
    if args.variants:
        todo = [p for p in todo if p.variant.kind in args.variants.split(",")]
    if todo:
        train_planned(todo, data, train, on_training=progress,
                      on_row=lambda rows: append_ledger(args.out, head, rows[-1]), relative_to=args.out)
    if args.shard or args.variants:
        return 0
    done = read_ledger(args.out, head)
    rows = [done[key(p)] for p in planned if key(p) in done]
    document = write_tables(args.out, head, rows)
    print(json.dumps({k: document[k] for k in ("summary", "verdicts", "overall")}, indent=1, default=str))
    return 0


def narrowed(baseline, width: float):
    """``baseline`` at ``width`` of its channels, a stand-in that scales as the full network would.

    With the published divisor of 8, a quarter-width MobileNetV2 or B0 has 8-channel layers that
    any width multiplier from 1.11 doubles at once: width-only scaling could not come within 29% of
    the compound member's MACs, and compound at phi 2 cost 6.7x the baseline instead of about 4x.
    Rounding to the divisor times ``width`` (2 for 8 at 0.25) keeps the full network's step sizes
    relative to its channels.
    """
    divisor = max(1, round(baseline.channel_divisor * width))
    return scale(baseline, width=width, divisor=divisor).replace(name=f"{baseline.name}-w{width:g}")


def key(p) -> str:
    return row_key({"variant": p.variant.kind, "phi": p.variant.phi, "seed": p.seed})


def row_key(row: dict) -> str:
    return f"{row['variant']}-phi{row['phi']}-s{row['seed']}"


def _settings(head: dict) -> dict:
    # More seeds or phis add trainings to the same comparison; anything else makes it another one.
    kept = {k: v for k, v in head.items() if k not in ("phis", "seeds", "variants", "planned")}
    return json.loads(json.dumps(kept, default=str))  # as the ledger stores it


def read_ledger(out: Path, head: dict) -> dict[str, dict]:
    """The finished trainings recorded in ``OUT/rows.jsonl`` by key; refuses a ledger of other settings.

    The ledger is what a fresh clone resumes from: the training folders (weights, checkpoints) are
    too large to commit, so a finished training is known by its row.
    """
    path = out / LEDGER
    if not path.is_file():
        return {}
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    check_same(lines[0]["settings"], _settings(head), what=f"the comparison in {out}")
    return {line["key"]: line["row"] for line in lines[1:]}


def append_ledger(out: Path, head: dict, row: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    path = out / LEDGER
    with FileLock(str(path) + ".lock"):
        new = not path.is_file()
        with path.open("a") as f:
            if new:
                f.write(json.dumps({"settings": _settings(head)}, default=str) + "\n")
            f.write(json.dumps({"key": row_key(row), "row": row}, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
