"""Weight sharing on Fashion-MNIST: what a supernet score costs, how well it ranks, and what it does to the search.

Every figure is on the real Fashion-MNIST (Debian's ``dataset-fashion-mnist``), the ``mnasnet`` space,
at one stated budget (``BUDGET`` below). Results are cached in ``benchmarks/results/supernet.json``
(keyed by architecture and seed), so each step resumes and later steps reuse earlier trainings.

    .venv/bin/python benchmarks/bench_supernet.py standalone   # 20 uniform architectures x 2 seeds, standalone
    .venv/bin/python benchmarks/bench_supernet.py supernet     # train the supernet(s) (--rule sandwich|uniform)
    .venv/bin/python benchmarks/bench_supernet.py fidelity     # + 10 from the supernet's top; Kendall tau vs noise ceiling
    .venv/bin/python benchmarks/bench_supernet.py cost         # scoring vs standalone proxy training, same process
    .venv/bin/python benchmarks/bench_supernet.py table        # score every architecture of a space (--shard i/n)
    .venv/bin/python benchmarks/bench_supernet.py search       # controller / random / TPE with the supernet evaluator
    .venv/bin/python benchmarks/bench_supernet.py summary      # the search table and the table's fidelity
    .venv/bin/python benchmarks/bench_supernet.py ablation     # digits: which choices share weights well

Sizes are chosen for two CPU cores (see benchmarks/README.md, "Weight sharing", for what was run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch

from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig, train_and_evaluate
from effsearch.search.space import load_space

RESULTS = Path(__file__).parent / "results" / "supernet.json"
SPACE = "mnasnet"  # --space changes it
RESOLUTION = 16
STEPS = 150  # the standalone budget of every fidelity figure: 150 steps of 64 images (0.2 epochs)
VAL = 2000  # standalone validation images (a fixed stratified subset of the held-out split)
UNIFORM, TOP, SEEDS = 20, 10, (0, 1)


def budget(threads: int = 1) -> ProxyConfig:
    return ProxyConfig(steps=STEPS, epochs=None, resolution=RESOLUTION, threads=threads)


def load() -> dict:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"standalone": {}, "scores": {}, "runs": {}}


def _merge(into: dict, new: dict) -> dict:
    for k, v in new.items():
        into[k] = _merge(into[k], v) if isinstance(v, dict) and isinstance(into.get(k), dict) else v
    return into


def save(results: dict) -> None:
    """Merge into the file (steps may run in parallel processes), atomically."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    merged = _merge(load(), results)
    tmp = RESULTS.with_name(f".{RESULTS.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
    tmp.replace(RESULTS)


def key(params: dict) -> str:
    return json.dumps(params, sort_keys=True)


def uniform_archs(space, n: int = UNIFORM, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    return [{name: rng.choice(values) for name, values in space.decisions} for _ in range(n)]


def standalone(archs: list[dict], data, results: dict, threads: int) -> None:
    space = load_space(SPACE)
    val = data.subset(val=VAL, seed=0)
    for i, params in enumerate(archs):
        for seed in SEEDS:
            k = f"{key(params)}|{seed}"
            if k in results["standalone"]:
                continue
            m = train_and_evaluate(space.to_spec(params), val, budget(threads), seed=seed)
            results["standalone"][k] = {"accuracy": m["accuracy"], "status": m["status"], "seconds": m["train_seconds"],
                                        "macs": m["macs"]}
            save(results)
            print(f"standalone {i + 1}/{len(archs)} seed {seed}: acc {m['accuracy']:.4f} ({m['train_seconds']:.0f} s)",
                  flush=True)


def supernet_folder(rule: str) -> Path:
    return Path("results") / f"bench-supernet-{SPACE}-{rule}"


SUPERNET_IMAGES = 12000  # a stratified quarter of the training split, for two cores
SUPERNET_EPOCHS = {"sandwich": 2, "uniform": 8}  # the same number of sub-network passes (4 per sandwich step)


def train(rule: str, data, threads: int) -> dict:
    from effsearch.supernet.train import SupernetConfig, train_supernet

    config = SupernetConfig(epochs=SUPERNET_EPOCHS[rule], rule=rule, train_images=SUPERNET_IMAGES)
    start = time.perf_counter()
    meta = train_supernet(SPACE, data, budget(threads), config, supernet_folder(rule), on_epoch=print)
    print(f"supernet {rule}: {time.perf_counter() - start:.0f} s in this call", flush=True)
    return meta


def scorer(rule: str, data, threads: int):
    from effsearch.supernet.evaluator import SupernetEvaluator

    evaluator = SupernetEvaluator(supernet_folder(rule), space=load_space(SPACE), data=data, proxy=budget(threads))
    evaluator.prepare(data=data, proxy=budget(threads))
    return evaluator


def kendall(xs, ys) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(xs, ys).statistic)


def fidelity(rule: str, data, results: dict, threads: int, pool: int, n_uniform: int = UNIFORM, n_top: int = TOP) -> None:
    """Scores of the 20 uniform architectures and of the top 10 of ``pool`` sampled ones; tau vs the noise ceiling."""
    space, evaluate = load_space(SPACE), scorer(rule, data, threads)
    scores = results["scores"].setdefault(f"{SPACE}-{rule}", {})

    def score(params):
        k = key(params)
        if k not in scores:
            m = evaluate(space.to_spec(params), data, budget(threads))
            scores[k] = {"accuracy": m["accuracy"], "seconds": m["eval_seconds"], "macs": m["macs"]}
            save(results)
        return scores[k]["accuracy"]

    uniform = uniform_archs(space, n_uniform)
    for params in uniform:
        score(params)
    top = []
    if n_top:
        sampled = uniform_archs(space, pool, seed=7)
        top = sorted(sampled, key=lambda p: -score(p))[:n_top]
    standalone(uniform + top, data, results, threads)
    archs = uniform + top
    acc = {s: [results["standalone"][f"{key(p)}|{s}"]["accuracy"] for p in archs] for s in SEEDS}
    mean = [statistics.fmean(pair) for pair in zip(*acc.values(), strict=True)]
    sup = [scores[key(p)]["accuracy"] for p in archs]
    tau, ceiling = kendall(sup, mean), kendall(acc[SEEDS[0]], acc[SEEDS[1]])
    tau_u = kendall(sup[:n_uniform], mean[:n_uniform])
    meta = json.loads((supernet_folder(rule) / "supernet.json").read_text())
    report = {"space": SPACE, "rule": rule, "n": len(archs), "kendall_tau": round(tau, 3),
              "noise_ceiling": round(ceiling, 3), "ratio": round(tau / ceiling, 3) if ceiling > 0 else None,
              "tau_uniform_only": round(tau_u, 3), "pool": pool if n_top else 0,
              "top_mean_standalone": round(statistics.fmean(mean[n_uniform:]), 4) if n_top else None,
              "uniform_mean_standalone": round(statistics.fmean(mean[:n_uniform]), 4),
              "supernet_steps": meta["history"][-1]["steps"], "supernet_seconds": round(sum(r["seconds"] for r in meta["history"])),
              "largest_smallest": [meta["history"][-1]["largest_accuracy"], meta["history"][-1]["smallest_accuracy"]],
              "score_range": [min(sup), max(sup)], "standalone_range": [min(mean), max(mean)]}
    results.setdefault("fidelity", {})[f"{SPACE}-{rule}"] = report
    save(results)
    print(json.dumps(report), flush=True)


def cost(rule: str, data, results: dict, threads: int, steps: int) -> None:
    """Scoring against standalone proxy training at the default budget, same architectures, same process."""
    space, evaluate = load_space(SPACE), scorer(rule, data, threads)
    default = ProxyConfig(threads=threads, resolution=RESOLUTION)
    planned = math.ceil(default.epochs * (len(data.train_y) // default.batch_size))
    rows = []
    for params in uniform_archs(space)[:5]:
        spec = space.to_spec(params)
        evaluate(spec, data, budget(threads))  # warm
        start = time.perf_counter()
        for _ in range(3):
            evaluate(spec, data, budget(threads))
        scoring = (time.perf_counter() - start) / 3
        m = train_and_evaluate(spec, data.subset(val=VAL, seed=0), default.replace(steps=steps))
        full = m["train_seconds"] / m["steps"] * planned + m["eval_seconds"] * len(data.val_y) / VAL
        rows.append({"macs": m["macs"], "score_s": round(scoring, 3), "standalone_s": round(full, 1),
                     "ratio": round(full / scoring, 1)})
        print(rows[-1], flush=True)
    meta = json.loads((supernet_folder(rule) / "supernet.json").read_text())
    train_s = sum(r["seconds"] for r in meta["history"])
    mean_full = statistics.fmean(r["standalone_s"] for r in rows)
    results.setdefault("cost", {})[f"{SPACE}-{rule}"] = {
        "rows": rows, "planned_steps": planned, "measured_steps": steps, "supernet_train_s": round(train_s),
        "break_even_candidates": round(train_s / mean_full, 2),
        "median_ratio": statistics.median(r["ratio"] for r in rows)}
    save(results)
    print(json.dumps(results["cost"][f"{SPACE}-{rule}"]), flush=True)


TABLES = Path(__file__).parent / "results" / "supernet-table"


def table_path(rule: str) -> Path:
    return TABLES / f"{SPACE}-{rule}.csv"


def every_architecture(space) -> list[tuple[str, dict]]:
    """(blocks key, decisions) for every architecture of the space, once each, in a fixed random order."""
    from itertools import product

    from effsearch.search.loop import blocks_key

    names = [name for name, _ in space.decisions]
    seen = {}
    for values in product(*(v for _, v in space.decisions)):
        params = dict(zip(names, values, strict=True))
        seen.setdefault(blocks_key(space.to_spec(params)), params)
    order = sorted(seen.items())
    random.Random(0).shuffle(order)  # a partial table is a uniform sample of the space
    return order


def read_table(rule: str) -> dict[str, dict]:
    """Every score written so far, from all shards: blocks key -> row."""
    import csv

    rows = {}
    for path in sorted(TABLES.glob(f"{SPACE}-{rule}*.csv")):
        with path.open() as f:
            rows.update({r["blocks"]: r for r in csv.DictReader(f)})
    return rows


def table(rule: str, data, threads: int, shard: tuple[int, int]) -> None:
    """Score every architecture of the space with the supernet (shard i of n, resumable, one row per line).

    Scoring is deterministic (fixed calibration and validation subsets, a fixed supernet), so a search
    that reads this table sees exactly the scores it would compute live; the samplers can then run
    1,000 evaluations each for many seeds on two cores.
    """
    import csv

    i, n = shard
    space, evaluate = load_space(SPACE), scorer(rule, data, threads)
    todo = every_architecture(space)[i::n]
    path = table_path(rule).with_suffix(f".{i}of{n}.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    done = read_table(rule)
    fields = ["blocks", "accuracy", "loss", "macs", "params", "seconds"]
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        if new:
            writer.writeheader()
        start = time.perf_counter()
        left = [(k, p) for k, p in todo if k not in done]
        for j, (k, params) in enumerate(left):
            m = evaluate(space.to_spec(params), data, budget(threads))
            writer.writerow({"blocks": k, "accuracy": m["accuracy"], "loss": round(m["loss"], 5), "macs": m["macs"],
                             "params": m["params"], "seconds": m["eval_seconds"]})
            f.flush()
            if j % 50 == 0:
                rate = (time.perf_counter() - start) / (j + 1)
                print(f"shard {i}/{n}: {j + 1}/{len(left)} scored, {rate:.2f} s each", flush=True)


class TableEvaluator:
    """The supernet evaluator read from its table (scored live, once, for an architecture not in it).

    ``verify`` trains the finalists standalone at the fidelity figures' budget and validation subset,
    cached in supernet.json by architecture and seed like every other standalone figure here.
    """

    name = "supernet"

    def __init__(self, rule: str, data, threads: int):
        self.rule, self.threads, self.rows = rule, threads, read_table(rule)
        self.live = None
        self.verify = Standalone(threads)
        self.identity = json.loads((supernet_folder(rule) / "supernet.json").read_text())["identity"]

    def describe(self) -> dict:
        from effsearch.supernet.score import ScoreConfig

        return {"name": "supernet", "supernet": self.identity, "score": ScoreConfig().to_dict(), "table": True}

    def __call__(self, spec, data, proxy, *, seed: int = 0, on_epoch=None) -> dict:
        from effsearch.engine.adapt import adapt_for_proxy
        from effsearch.proxy.trainer import base_metrics
        from effsearch.search.loop import blocks_key

        row = self.rows.get(blocks_key(spec))
        if row is None:
            if self.live is None:
                self.live = scorer(self.rule, data, self.threads)
            return self.live(spec, data, proxy, seed=seed)
        proxy_spec = adapt_for_proxy(spec, proxy.resolution, num_classes=data.num_classes, in_chans=data.in_chans,
                                     min_feature=proxy.min_feature)
        metrics = base_metrics(spec, proxy_spec, data, proxy, 0)
        metrics.update(accuracy=float(row["accuracy"]), loss=float(row["loss"]), eval_seconds=float(row["seconds"]),
                       device="cpu", kernels="torch", evaluator="supernet", score_images=1000)
        return metrics


class Standalone:
    """Standalone proxy training of a finalist, on the fidelity figures' 2,000 validation images, cached."""

    name = "proxy"

    def __init__(self, threads: int):
        self.threads = threads

    def describe(self) -> dict:
        return {"name": "proxy", "val": VAL}

    def __call__(self, spec, data, proxy, *, seed: int = 0, on_epoch=None) -> dict:
        from effsearch.search.loop import blocks_key

        results = load()
        k = f"{blocks_key(spec)}|{seed}|{proxy.epochs}"
        hit = results.setdefault("verified", {}).get(k)
        if hit is None:
            hit = train_and_evaluate(spec, data.subset(val=VAL, seed=0), proxy, seed=seed)
            hit = {key: v for key, v in hit.items() if isinstance(v, (int, float, str)) or v is None}
            save({"verified": {k: hit}})
        return dict(hit)


TARGET = 400e6
RETRAIN_EPOCHS = STEPS * 64 / 48000  # the finalists get the fidelity figures' standalone budget: 150 steps
CHECKPOINTS = (25, 50, 100, 200, 300, 500, 750, 1000)


def search(rule: str, data, results: dict, threads: int, trials: int, seeds: list[int], samplers: list[str]) -> None:
    """Each sampler x seed: a search scored by the supernet, then its top 3 retrained standalone."""
    from effsearch.search import RunConfig, SearchConfig, run_baseline_search
    from effsearch.search.evaluators import register_evaluator
    from effsearch.search.reward import RewardConfig

    register_evaluator("supernet-table", lambda arg, **_: TableEvaluator(arg, data, threads), replace=True)
    runs = results["runs"].setdefault(f"{SPACE}-{rule}", {})
    for sampler in samplers:
        for seed in seeds:
            name = f"{sampler}-s{seed}-t{trials}"
            start = time.perf_counter()
            result = run_baseline_search(
                search=SearchConfig(space=SPACE, sampler=sampler, evaluator=f"supernet-table:{rule}",
                                    trials=trials, seed=seed, retrain_top=3, retrain_epochs=RETRAIN_EPOCHS),
                reward=RewardConfig(target=TARGET), proxy=budget(threads),
                run=RunConfig(out=Path("results") / f"bench-search-{SPACE}-{rule}" / name, progress=False), data=data)
            frame = result.exported.trials.sort_values("number")
            best = frame["reward"].fillna(0).cummax().tolist()
            retrain = result.exported.retrain
            ok = retrain[retrain["status"] == "ok"]
            runs[name] = {
                "sampler": sampler, "seed": seed, "trials": len(frame), "best_curve": best,
                "final_best": best[-1], "scored": int((frame["status"] == "ok").sum()),
                "cached": int((frame["status"] == "cached").sum()), "rejected": int((frame["status"] == "rejected").sum()),
                "verified_best_reward": float(ok["reward"].max()) if len(ok) else None,
                "verified_best_accuracy": float(ok.sort_values("reward").iloc[-1]["accuracy_long"]) if len(ok) else None,
                "verified": ok[["number", "accuracy_short", "accuracy_long", "reward", "macs"]].to_dict("records"),
                "fidelity_tau": (result.exported.fidelity or {}).get("kendall_tau"),
                "seconds": round(time.perf_counter() - start),
            }
            save(results)
            r = runs[name]
            print(f"{name}: best score-reward {r['final_best']:.4f}, verified best reward {r['verified_best_reward']}, "
                  f"{r['scored']} scored / {r['cached']} cached / {r['rejected']} rejected, {r['seconds']} s", flush=True)


def table_rewards(rule: str) -> list[float]:
    """The score-reward of every architecture in the table, best first."""
    from effsearch.search.reward import RewardConfig, reward

    config = RewardConfig(target=TARGET)
    return sorted((reward(float(r["accuracy"]), float(r["macs"]), config) for r in read_table(rule).values()),
                  reverse=True)


def _spread(values: list[float], digits: int = 4) -> str:
    if not values:
        return ""
    sd = f" ± {statistics.stdev(values):.{digits}f}" if len(values) > 1 else ""
    return f"{statistics.fmean(values):.{digits}f}{sd}"


def summarise(rule: str, results: dict) -> None:
    """The search table: best reward by evaluations, rank in the space, verified best, evaluations to random's best."""
    import bisect

    runs = list(results["runs"].get(f"{SPACE}-{rule}", {}).values())
    everything = table_rewards(rule)
    ascending = sorted(everything)

    def rank(value: float) -> int:  # 1 = the best architecture of the whole space
        return len(ascending) - bisect.bisect_left(ascending, value - 1e-12) if ascending else 0

    if everything:
        print(f"{len(everything)} architectures in the table; best score-reward {everything[0]:.4f}, "
              f"10th {everything[min(9, len(everything) - 1)]:.4f}, median {everything[len(everything) // 2]:.4f}")
    by = {}
    for r in sorted(runs, key=lambda r: r["seed"]):
        by.setdefault(r["sampler"], []).append(r)
    random_final = {r["seed"]: r["final_best"] for r in by.get("random", [])}
    print("| sampler | seeds | " + " | ".join(f"best @{n}" for n in CHECKPOINTS) + " | rank in space, final best | "
          "distinct architectures | evals to random's final best | verified best reward | verified best accuracy |")
    print("|---" * (len(CHECKPOINTS) + 7) + "|")
    for sampler, rows in by.items():
        cells = []
        for n in CHECKPOINTS:
            vals = [r["best_curve"][n - 1] for r in rows if len(r["best_curve"]) >= n]
            cells.append(f"{statistics.fmean(vals):.4f}" if len(vals) == len(rows) else "")
        ranks = ", ".join(str(rank(r["final_best"])) for r in rows) if everything else ""
        distinct = ", ".join(str(r["scored"]) for r in rows)
        reach = []
        for r in rows:
            goal = random_final.get(r["seed"])
            hit = next((i + 1 for i, v in enumerate(r["best_curve"]) if goal is not None and v >= goal), None)
            reach.append(str(hit) if hit else "never")
        ver = [r["verified_best_reward"] for r in rows if r["verified_best_reward"] is not None]
        acc = [r["verified_best_accuracy"] for r in rows if r["verified_best_accuracy"] is not None]
        print(f"| {sampler} | {len(rows)} | " + " | ".join(cells) + f" | {ranks} | {distinct} | {', '.join(reach)} | "
              f"{_spread(ver)} | {_spread(acc)} |")


def table_fidelity(rule: str, results: dict) -> None:
    """Kendall tau between the table's scores and every architecture trained standalone with both seeds."""
    from effsearch.search.loop import blocks_key

    space, rows = load_space(SPACE), read_table(rule)
    pairs = {}
    for k, v in results["standalone"].items():
        params, seed = k.rsplit("|", 1)
        pairs.setdefault(params, {})[int(seed)] = v["accuracy"]
    sup, mean, a0, a1 = [], [], [], []
    names = {name for name, _ in space.decisions}
    for params, accs in pairs.items():
        decisions = json.loads(params)
        if set(decisions) != names:  # an architecture of another space
            continue
        row = rows.get(blocks_key(space.to_spec(decisions)))
        if row is None or not all(s in accs for s in SEEDS):
            continue
        sup.append(float(row["accuracy"]))
        mean.append(statistics.fmean(accs[s] for s in SEEDS))
        a0.append(accs[SEEDS[0]])
        a1.append(accs[SEEDS[1]])
    if len(sup) < 3:
        return print(f"fewer than 3 architectures with standalone results and a table score ({len(sup)})")
    meta = json.loads((supernet_folder(rule) / "supernet.json").read_text())
    tau, ceiling = kendall(sup, mean), kendall(a0, a1)
    report = {"space": SPACE, "rule": rule, "n": len(sup), "kendall_tau": round(tau, 3),
              "noise_ceiling": round(ceiling, 3), "ratio": round(tau / ceiling, 3) if ceiling > 0 else None,
              "supernet_steps": meta["history"][-1]["steps"],
              "supernet_seconds": round(sum(r["seconds"] for r in meta["history"])),
              "largest_smallest": [meta["history"][-1]["largest_accuracy"], meta["history"][-1]["smallest_accuracy"]],
              "score_range": [min(sup), max(sup)], "standalone_range": [min(mean), max(mean)]}
    results.setdefault("fidelity", {})[f"{SPACE}-{rule}-table"] = report
    save(results)
    print(json.dumps(report), flush=True)


ABLATION_FIXED = {"op": ["mbconv_e6"], "kernel": [3], "se": [0.25], "skip": ["identity"], "filters": [1.0], "layers": [0]}
ABLATIONS = {  # one searched dimension each, the rest fixed: which choices share weights well?
    "kernel": {"kernel": [3, 5]}, "expansion": {"op": ["mbconv_e3", "mbconv_e6"]}, "width": {"filters": [0.75, 1.0, 1.25]},
    "depth": {"layers": [-1, 0, 1]}, "se": {"se": [0, 0.25]}, "skip": {"skip": ["identity", "none"]},
    "op ds/mbconv": {"op": ["ds", "mbconv_e6"]}, "op conv/mbconv": {"op": ["conv", "mbconv_e6"]},
    "op (all four)": {"op": ["conv", "ds", "mbconv_e3", "mbconv_e6"]}, "mnasnet (all)": None, "small (all)": "small",
}


def ablation(threads: int, epochs: float, names: list[str]) -> None:
    """Digits (fast, so every variant fits): mean score of 8 random sub-networks after ``epochs`` uniform epochs."""
    import shutil

    import yaml

    from effsearch.search.space import parse_space
    from effsearch.supernet.evaluator import SupernetEvaluator
    from effsearch.supernet.train import SupernetConfig, train_supernet

    data, proxy = load_dataset("digits"), ProxyConfig(threads=threads)
    base = yaml.safe_load((Path(__file__).parents[1] / "effsearch/search_spaces/mnasnet.yaml").read_text())
    print("| searched | epochs (steps) | train loss, last epoch | 8 random sub-networks: min / mean / max |")
    print("|---|---|---|---|")
    for name in names:
        choices = ABLATIONS[name]
        if choices is None or isinstance(choices, str):
            space = load_space(choices or "mnasnet")
        else:
            space = parse_space({**base, "name": "ablation", "choices": {**ABLATION_FIXED, **choices}})
        out = Path("results") / "bench-ablation"
        shutil.rmtree(out, ignore_errors=True)
        meta = train_supernet(space, data, proxy, SupernetConfig(epochs=epochs, rule="uniform"), out)
        evaluate = SupernetEvaluator(out, space=space, data=data, proxy=proxy)
        rng = random.Random(0)
        accs = [evaluate(space.to_spec({n: rng.choice(v) for n, v in space.decisions}), data, proxy)["accuracy"]
                for _ in range(8)]
        last = meta["history"][-1]
        print(f"| {name} | {epochs:g} ({last['steps']}) | {last['train_loss']:.3f} | "
              f"{min(accs):.3f} / {statistics.fmean(accs):.3f} / {max(accs):.3f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["standalone", "supernet", "fidelity", "cost", "table", "search", "summary",
                                                   "ablation"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rule", default="uniform", choices=["sandwich", "uniform"])
    parser.add_argument("--space", default="mnasnet")
    parser.add_argument("--uniform", type=int, default=UNIFORM, help="uniformly sampled architectures (fidelity)")
    parser.add_argument("--top", type=int, default=TOP, help="architectures from the supernet's top (fidelity)")
    parser.add_argument("--epochs", type=float, default=None, help="supernet epochs (default: SUPERNET_EPOCHS[rule])")
    parser.add_argument("--only", default=None, help="ablation: variants to run, separated by ';'")
    parser.add_argument("--pool", type=int, default=200, help="sampled architectures the supernet's top 10 come from")
    parser.add_argument("--cost-steps", type=int, default=100, help="standalone steps timed for the cost ratio")
    parser.add_argument("--shard", default="0/1", help="table: score shard i of n (one process each)")
    parser.add_argument("--trials", type=int, default=1000, help="evaluations per search run")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--samplers", default="mnas,random,tpe")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global SPACE
    SPACE = args.space
    if args.epochs:
        SUPERNET_EPOCHS[args.rule] = args.epochs
    if args.step == "ablation":
        return ablation(args.threads, args.epochs or 4, list(ABLATIONS) if not args.only else args.only.split(";"))
    data = load_dataset("fashion-mnist")
    results = load()
    space = load_space(SPACE)
    if args.step == "standalone":
        standalone(uniform_archs(space, args.uniform), data, results, args.threads)
    elif args.step == "supernet":
        train(args.rule, data, args.threads)
    elif args.step == "fidelity":
        fidelity(args.rule, data, results, args.threads, args.pool, args.uniform, args.top)
    elif args.step == "cost":
        cost(args.rule, data, results, args.threads, args.cost_steps)
    elif args.step == "table":
        i, n = (int(x) for x in args.shard.split("/"))
        table(args.rule, data, args.threads, (i, n))
    elif args.step == "search":
        seeds, samplers = [int(x) for x in args.seeds.split(",")], args.samplers.split(",")
        search(args.rule, data, results, args.threads, args.trials, seeds, samplers)
        summarise(args.rule, results)
    elif args.step == "summary":
        table_fidelity(args.rule, results)
        summarise(args.rule, results)
    else:
        sys.exit(f"step {args.step} comes later")


if __name__ == "__main__":
    main()
