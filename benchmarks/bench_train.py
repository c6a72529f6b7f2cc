"""Trained networks side by side: test-split top-1, params, MACs and CPU latency, from ``effsearch train`` folders.

Accuracy, params and MACs come from each folder's ``metrics.json``; latency is measured again here,
all networks in this one process, batch 1, one after another in rounds (so a noisy neighbour hits
every network alike), and reported as a ratio against the first folder (the named reference).

    .venv/bin/python benchmarks/bench_train.py results/trained/efficientnet-b0-fashion-mnist \\
        results/trained/baseline-400M-fashion-mnist

benchmarks/README.md ("Trained on Fashion-MNIST") has the figures and the commands that made the folders.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from effsearch.arch.specio import load_spec
from effsearch.proxy.latency import measure_latency
from effsearch.units import format_count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="finished 'effsearch train' folders; the first is the reference")
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds (median reported)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for latency (default: all usable cores)")
    args = parser.parse_args(argv)
    rows = []
    for folder in args.folders:
        metrics = json.loads((folder / "metrics.json").read_text())
        rows.append({"folder": folder, "metrics": metrics, "spec": load_spec(folder / "spec.yaml"), "latency": []})
    for _ in range(args.rounds):
        for row in rows:
            row["latency"].append(measure_latency(row["spec"], threads=args.threads, min_run_time=0.3)["latency_ms"])
    reference = statistics.median(rows[0]["latency"])
    print(f"{'network':<28} {'test top-1':>10} {'params':>8} {'MACs':>8} {'px':>4} {'epochs':>6} {'latency ms':>10} {'x ref':>6}")
    for row in rows:
        m, lat = row["metrics"], statistics.median(row["latency"])
        print(f"{m['name']:<28} {m['test_accuracy']:>10.4f} {format_count(m['params']):>8} {format_count(m['macs']):>8} "
              f"{m['resolution']:>4} {m['epochs']:>6} {lat:>10.2f} {lat / reference:>6.2f}")
    print(f"reference: {rows[0]['metrics']['name']}; test split: {rows[0]['metrics']['test_split']}; "
          f"latency: batch 1, median of {args.rounds} rounds, {measure_latency.__module__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
