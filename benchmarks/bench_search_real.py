"""Controller vs random search on the real proxy task, at an equal budget of trials.

Each (sampler, seed) pair runs ``effsearch baseline``'s search (``run_baseline_search``) on the same
space, target, data set and proxy budget, with the same number of trials; every candidate is really
trained. Reported per pair: the best reward and its accuracy and MACs, how many distinct
architectures were trained (repeats reuse a result, so they cost nothing), and the wall time. The
reference is random search, measured in the same process on the same machine, so the ratios hold on
a noisy machine even where the seconds do not.

    .venv/bin/python benchmarks/bench_search_real.py --trials 24 --epochs 3 --seeds 0 1

Prints a markdown table for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig
from effsearch.search import RunConfig, SearchConfig, run_baseline_search
from effsearch.search.reward import RewardConfig
from effsearch.units import format_count, parse_count


def run_one(root: Path, *, sampler: str, seed: int, args: argparse.Namespace, data: object) -> dict:
    start = time.perf_counter()
    result = run_baseline_search(
        search=SearchConfig(space=args.space, sampler=sampler, trials=args.trials, seed=seed),
        reward=RewardConfig(target=parse_count(args.target)),
        proxy=ProxyConfig(epochs=args.epochs, threads=args.threads),
        run=RunConfig(out=root / f"{sampler}-s{seed}", progress=False),
        data=data,
    )
    trials = result.exported.trials
    best = result.baseline or {}
    ok = trials[trials["status"] == "ok"]
    return {
        "sampler": sampler, "seed": seed, "best_reward": best.get("reward"), "accuracy": best.get("accuracy"),
        "macs": best.get("macs"), "trained": len(ok), "mean_reward": ok["reward"].mean(),
        "last_half_mean": trials["reward"].iloc[len(trials) // 2:].mean(), "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mnasnet")
    parser.add_argument("--target", default="400M")
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training (1: a good neighbour)")
    parser.add_argument("--out", type=Path, default=None, help="keep the results folders here")
    args = parser.parse_args()
    data = load_dataset(None, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        for seed in args.seeds:
            for sampler in ("random", "mnas"):
                rows.append(run_one(root, sampler=sampler, seed=seed, args=args, data=data))
                r = rows[-1]
                print(f"# {sampler} seed {seed}: best reward {r['best_reward']:.4f} ({r['seconds']:.0f}s)", flush=True)
    print(f"\nspace {args.space}, target {args.target}, {args.trials} trials per run, proxy {data.name} "
          f"{args.epochs:g} epochs, seeds {args.seeds}\n")
    print("| sampler | seed | best reward | its accuracy | its MACs | distinct trained | mean reward | mean reward, 2nd half | wall time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['sampler']} | {r['seed']} | {r['best_reward']:.4f} | {r['accuracy']:.4f} | {format_count(r['macs'])} "
              f"| {r['trained']} | {r['mean_reward']:.4f} | {r['last_half_mean']:.4f} | {r['seconds']:.0f} s |")
    for key in ("best_reward", "last_half_mean"):
        med = {s: statistics.median(r[key] for r in rows if r["sampler"] == s) for s in ("random", "mnas")}
        print(f"\nmedian {key}: controller {med['mnas']:.4f}, random {med['random']:.4f}, "
              f"ratio controller / random = {med['mnas'] / med['random']:.4f}")
    secs = {s: sum(r["seconds"] for r in rows if r["sampler"] == s) for s in ("random", "mnas")}
    print(f"wall time ratio controller / random = {secs['mnas'] / secs['random']:.2f}")


if __name__ == "__main__":
    main()
