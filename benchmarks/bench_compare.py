"""Compound against width-, depth- and resolution-only scaling, trained on Fashion-MNIST at matched MACs.

The same comparison as ``effsearch scale --compare``, through the library so that validation can use
a fixed stratified subset (the CLI validates on the whole 12,000-image split after every epoch,
which on two CPU cores costs more than the training at this budget). Each training is the full
``effsearch train`` recipe, scored once on the official t10k test split. Resumable: run it again.

    .venv/bin/python benchmarks/bench_compare.py --out benchmarks/results/compare \\
        --baseline results/examples/demo --coefficients 1.2,1.1,1.15 --phi 1,2 --seeds 0,1,2 \\
        --train-images 24000 --val-images 2000 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from effsearch.arch.specio import load_spec
from effsearch.compound import CompareConfig, run_compare
from effsearch.data import load_dataset
from effsearch.train import TrainConfig


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(v) for v in text.split(","))


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


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
    args = parser.parse_args(argv)
    data = load_dataset(args.dataset).subset(train=args.train_images, val=args.val_images, seed=0)
    start = time.perf_counter()

    def progress(event: dict) -> None:
        if event["event"] != "done":
            return
        row = event["row"]
        print(f"{time.perf_counter() - start:7.0f} s  {event['index']}/{event['total']} {row['variant']:<10} phi {row['phi']} "
              f"seed {row['seed']}: {row['macs'] / 1e6:7.1f}M MACs ({row['macs_mismatch']:+.1%}), {row['train_resolution']} px, "
              f"test {row['test_accuracy']:.4f}", flush=True)

    result = run_compare(load_spec(args.baseline), data,
                         CompareConfig(coefficients=args.coefficients, phis=args.phi, seeds=args.seeds),
                         TrainConfig(epochs=args.epochs, lr=args.lr), args.out, on_training=progress)
    print(json.dumps({"summary": result.summary, "verdicts": result.verdicts, "overall": result.overall}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
