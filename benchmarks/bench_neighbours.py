"""Where the controller's neighbours of the best trial start from, on a table of trained networks.

For each seed it reruns one search of ``bench_tables.py`` (the same seeded run) and records, at every
screened trial, the network the neighbours start from (of the best single values so far, the anchors,
the one nearest the table's best network): how many decisions it is from the table's best network,
whether that network was among the neighbours offered to the screen, and from which trial on the
last anchor had been the anchor (a lucky best single value can stay the anchor for the rest of a
run). With it, the share of trials that were neighbours and the policy's entropy at the end. It answers why a search misses the
table's best network: an anchor one step away offers it; an anchor in another basin never does.

    .venv/bin/python benchmarks/bench_neighbours.py --table micro --reward hard --noise seeds --seeds 800-829
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_tables

from effsearch.controller import propose
from effsearch.controller.learner import TRIAL_ATTR


def one_seed(table: bench_tables.Table, reward: str, noise: str, sampler: str, seed: int, budget: int) -> dict[str, Any]:
    """One search's anchors and neighbours (``propose._neighbours`` is wrapped for the run, then restored)."""
    true = table.true_rewards(reward)
    optimum = table.keys[int(np.argmax(true))]
    offered: list[tuple[int, tuple[int, ...], list[tuple[int, ...]]]] = []
    studies: list[optuna.Study] = []
    neighbours, create = propose._neighbours, optuna.create_study

    def wrapped(learner, number, count, rows, taken, anchors=propose.ANCHORS):
        out = neighbours(learner, number, count, rows, taken, anchors)
        starts = propose.anchors_of(rows, anchors)  # the anchor reported is the one nearest the table's best
        offered.append((number, min(starts, key=lambda a: sum(x != y for x, y in zip(a, optimum, strict=True))),
                        [tuple(a) for a, _ in out]))
        return out

    def creating(*args, **kwargs):
        studies.append(create(*args, **kwargs))
        return studies[-1]

    propose._neighbours, bench_tables.optuna.create_study = wrapped, creating
    try:
        run = bench_tables.one_run(table, reward, noise, sampler, seed, budget)
    finally:
        propose._neighbours, bench_tables.optuna.create_study = neighbours, create
    steps = [sum(a != b for a, b in zip(anchor, optimum, strict=True)) for _, anchor, _ in offered]
    anchor = offered[-1][1] if offered else None
    since = None  # the trial from which the last anchor was the anchor of every screened trial
    for number, start, _ in reversed(offered):
        if start != anchor:
            break
        since = number
    records = [t.system_attrs.get(TRIAL_ATTR) or {} for t in studies[-1].trials]
    history = run.get("history") or [{}]
    return {
        "seed": seed, "found": bool(run["best_at"]), "regret": run["regret"][-1], "screened": len(steps),
        "one_step": steps.count(1), "offered": sum(optimum in near for _, _, near in offered), "anchor_since": since,
        "last_steps": steps[-1] if steps else None,
        "better_than_anchor": int((true > true[table.index[anchor]]).sum()) if anchor else None,
        "neighbour_share": float(np.mean([bool(r.get("local")) and not r.get("optimum") for r in records])),
        "entropy_share": history[-1].get("entropy_share"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(bench_tables.TABLES), default="micro")
    parser.add_argument("--reward", default="hard")
    parser.add_argument("--noise", default="seeds")
    parser.add_argument("--sampler", default="mnas[local=2]")
    parser.add_argument("--seeds", default="800-829")
    parser.add_argument("--budget", type=int, default=100, help="evaluations per search")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = bench_tables.TABLES[args.table]()
    rows = [one_seed(table, args.reward, args.noise, args.sampler, s, args.budget) for s in bench_tables._seeds(args.seeds)]
    print("| seed | found best | regret | anchor one step from best (of screened trials) | best offered | "
          "anchor's steps from best at the end | networks better than it | the anchor since trial | neighbour share | "
          "entropy share |")
    print("|---" * 10 + "|")
    for r in rows:
        print(f"| {r['seed']} | {'yes' if r['found'] else 'no'} | {r['regret']:.2f} | {r['one_step']} / {r['screened']} | "
              f"{r['offered']} | {r['last_steps']} | {r['better_than_anchor']} | {r['anchor_since']} | {r['neighbour_share']:.2f} | "
              f"{r['entropy_share'] if r['entropy_share'] is None else round(r['entropy_share'], 2)} |")
    missed = [r for r in rows if not r["found"]]
    print(f"\n{args.table} {args.reward} {args.noise} {args.sampler}, {args.budget} evaluations: best network found in "
          f"{len(rows) - len(missed)} of {len(rows)} seeds; where missed, the anchor ended "
          f"{'-'.join(str(f(r['last_steps'] for r in missed)) for f in (min, max)) if missed else '-'} steps from it "
          f"(median {statistics.median(r['last_steps'] for r in missed) if missed else '-'}) and was never one step from it in "
          f"{sum(r['one_step'] == 0 for r in missed)} of {len(missed)}; it had been the anchor since trial "
          f"{statistics.median(r['anchor_since'] for r in missed) if missed else '-'} (median), and the best network "
          f"was offered as a neighbour and lost the screen in {sum(r['offered'] > 0 for r in missed)}; neighbours "
          f"{statistics.median(r['neighbour_share'] for r in rows):.2f} of the trials (median)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
