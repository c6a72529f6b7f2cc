"""Search throughput: the default layout (``--workers auto``) against one worker on every core, same trials.

The reference is what ``effsearch baseline`` did before: one candidate at a time in the driver
process, with as many intra-op threads as there are cores (``--workers 1 --threads N``). The other
side is the default, ``workers="auto"``: the layout :mod:`effsearch.engine.parallel` measured for
this machine and input size (on two cores: two worker processes of one thread each). Optionally a
local Ray cluster of one single-thread worker per core shows what Ray's start-up costs on one machine.

Every run is a real search (:func:`effsearch.run_baseline_search`) with the random sampler, whose
proposals do not depend on results, so every layout trains exactly the same candidates; each run is
timed whole (start-up of workers included) in this process, and layouts are interleaved over rounds
so a busy machine slows all alike. The figure is candidates per minute and the ratio against the
reference (median over rounds).

    python benchmarks/bench_parallel.py                              # digits, 16 trials, 2 rounds
    python benchmarks/bench_parallel.py --dataset fashion-mnist --trials 12 --steps 150 --ray
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the effsearch command does (before torch loads)

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from effsearch.data import load_dataset
from effsearch.engine.device import usable_cores
from effsearch.engine.latency import processor_name
from effsearch.proxy import ProxyConfig
from effsearch.search import RunConfig, SearchConfig, run_baseline_search
from effsearch.search.reward import RewardConfig


def one_search(out: Path, *, data, proxy: ProxyConfig, trials: int, workers, ray: bool) -> tuple[float, dict]:
    """Seconds for a whole search of ``trials`` candidates, and where it ran."""
    start = time.perf_counter()
    result = run_baseline_search(search=SearchConfig(sampler="random", trials=trials, seed=0),
                                 reward=RewardConfig(target=4e8, reject_above=None), proxy=proxy,
                                 run=RunConfig(out=out, workers=workers, ray_address="local" if ray else None,
                                               progress=False), data=data)
    seconds = time.perf_counter() - start
    config = json.loads((out / "run.json").read_text())["config"]
    assert len(result.exported.trials) == trials
    return seconds, config["placement"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=float, default=None, help="proxy epochs (default: the proxy's, 2)")
    parser.add_argument("--steps", type=int, default=None, help="proxy steps instead of epochs")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ray", action="store_true", help="also a local Ray cluster with the default layout")
    args = parser.parse_args()

    cores = usable_cores()
    data = load_dataset(args.dataset)
    budget = {"steps": args.steps, "epochs": None} if args.steps else {"epochs": args.epochs or 2.0}
    proxy = ProxyConfig(**budget)
    layouts = {f"reference: 1 worker x {cores} threads": {"workers": 1, "threads": cores, "ray": False},
               "default (--workers auto)": {"workers": "auto", "threads": None, "ray": False}}
    if args.ray:
        layouts[f"Ray local cluster ({cores} x 1)"] = {"workers": cores, "threads": 1, "ray": True}
    print(f"processor: {processor_name()}, {cores} usable cores; {args.dataset}, {args.trials} random-sampler trials, "
          f"proxy {budget}, {args.rounds} rounds")
    seconds: dict[str, list[float]] = {name: [] for name in layouts}
    where: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, layout in list(layouts.items()):
                cfg = proxy.replace(threads=layout["threads"])
                took, placed = one_search(Path(tmp) / f"{r}-{len(seconds[name])}-{name[:3]}", data=data, proxy=cfg,
                                          trials=args.trials, workers=layout["workers"], ray=layout["ray"])
                seconds[name].append(took)
                where[name] = placed
                print(f"  round {r + 1}: {name}: {took:.1f} s ({placed['workers']} x {placed['threads']}, "
                      f"{placed['executor']}, {placed['source']})", flush=True)
    ref = next(iter(layouts))
    print("\n| layout | workers x threads | executor | seconds (median) | candidates / min | vs reference |")
    print("|---|---|---|---|---|---|")
    for name, runs in seconds.items():
        if not runs:
            continue
        med = statistics.median(runs)
        ratio = statistics.median(seconds[ref]) / med
        placed = where[name]
        print(f"| {name} | {placed['workers']} x {placed['threads']} | {placed['executor']} | {med:.1f} | "
              f"{args.trials / med * 60:.1f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
