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

from effsearch.arch.cost import count
from effsearch.arch.specio import load_spec
from effsearch.engine.latency import measure_latency
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
        source = json.loads((folder / "train.json").read_text()).get("source")
        deploy = load_spec(source) if source else None  # the spec as searched or preset (ImageNet head, 224 px)
        rows.append({"folder": folder, "metrics": metrics, "spec": load_spec(folder / "spec.yaml"), "deploy": deploy,
                     "latency": [], "deploy_latency": []})
    for _ in range(args.rounds):
        for row in rows:
            row["latency"].append(measure_latency(row["spec"], threads=args.threads, min_run_time=0.3)["latency_ms"])
            if row["deploy"] is not None:
                row["deploy_latency"].append(measure_latency(row["deploy"], threads=args.threads, min_run_time=0.3)["latency_ms"])
    ref, ref_deploy = statistics.median(rows[0]["latency"]), statistics.median(rows[0]["deploy_latency"] or [float("nan")])
    print(f"{'network':<20} {'test top-1':>10} {'trained as':>22} {'ms':>7} {'x ref':>6}   {'deployed as':>22} {'ms':>7} {'x ref':>6}")
    for row in rows:
        m, lat = row["metrics"], statistics.median(row["latency"])
        trained = f"{format_count(m['params'])} / {format_count(m['macs'])} {m['resolution']}px"
        line = f"{m['name']:<20} {m['test_accuracy']:>10.4f} {trained:>22} {lat:>7.2f} {lat / ref:>6.2f}"
        if row["deploy"] is not None:
            d, dlat = count(row["deploy"]), statistics.median(row["deploy_latency"])
            deployed = f"{format_count(d.params)} / {format_count(d.macs)} {row['deploy'].resolution}px"
            line += f"   {deployed:>22} {dlat:>7.2f} {dlat / ref_deploy:>6.2f}"
        print(line)
    print(f"params / MACs; reference: {rows[0]['metrics']['name']}; test split: {rows[0]['metrics']['test_split']}; "
          f"latency: CPU, batch 1, median of {args.rounds} rounds ({measure_latency.__module__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
