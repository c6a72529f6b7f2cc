"""A table of trained networks on Fashion-MNIST: every architecture of a micro space x seeds, for sampler benchmarks.

Every distinct network of ``benchmarks/specs/micro.yaml`` (648: op and width searched in four MBConv
stages) is trained standalone by effsearch's own proxy trainer (``train_and_evaluate``) on the real
Fashion-MNIST (Debian's ``dataset-fashion-mnist``) at one stated budget (``BUDGET`` below), once per
seed. A sampler benchmark (controller, TPE, random) can then query real, seeded accuracies instead of
training live. Rows go to ``benchmarks/results/micro-table/table.csv``:

    .venv/bin/python benchmarks/bench_table_build.py build --seeds 0,1,2 --threads 1   # all rows, resumable
    .venv/bin/python benchmarks/bench_table_build.py build --seeds 0,1,2 --shard 0/2   # one process per shard
    .venv/bin/python benchmarks/bench_table_build.py build --seeds 0 --limit 8         # the first 8 archs (timing)
    .venv/bin/python benchmarks/bench_table_build.py summary                           # ranges, seed noise, tau

The order is seed-major: every architecture with seed 0 (in a fixed shuffled order, so a partial
table is a uniform sample of the space), then seed 1, and so on. Each row is appended and flushed as
its training finishes (under an exclusive lock, so shards can share the file); a rerun skips the rows
already present, so a killed build loses at most the training in progress. A table holds one budget:
a build with another budget (or space) is refused.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import io
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path

SPACE_FILE = Path(__file__).resolve().parent / "specs" / "micro.yaml"
ROOT = Path(__file__).resolve().parent / "results" / "micro-table"  # --results changes it; tests monkeypatch it
DATASET = "fashion-mnist"
RESOLUTION = 12  # proxy input size: 12 px (stem stride dropped by the proxy's adaptation: maps 12/6/3/2)
STEPS = 60  # steps of 64 images (3,840 images, 0.08 epochs): about 1.9 s per training on one thread
OPTIMIZER = "adamw"  # at its default lr (0.002 for 64 images); see below
VAL = 2000  # validation images: a fixed stratified subset (seed 0) of the held-out split
BUDGET = f"{DATASET} {RESOLUTION}px {STEPS} steps {OPTIMIZER} val {VAL}"
# Why AdamW: in pilots of 20 architectures x 2 seeds at this budget, SGD (the proxy's default) left
# the networks closer together than its seed noise (Kendall tau between the seeds 0.20 on this
# space, -0.08 with kernel {3, 5} searched instead of width); AdamW spread them to 0.66-0.78 at
# tau 0.52. A table of one budget; the sizing was for two CPU cores, one of them busy.
FIELDS = ["blocks", "decisions", "seed", "accuracy", "loss", "macs", "params", "seconds", "train_seconds",
          "eval_seconds", "status", "budget", "space"]


class Refused(SystemExit):
    """A one-line refusal (exit status 1, the message on stderr)."""

    def __init__(self, message: str):
        super().__init__(f"bench_table_build: {message}")


def table_path() -> Path:
    return ROOT / "table.csv"


def budget(threads: int = 1, steps: int = STEPS, resolution: int = RESOLUTION):
    from effsearch.proxy import ProxyConfig

    return ProxyConfig(steps=steps, epochs=None, resolution=resolution, optimizer=OPTIMIZER, threads=threads)


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def every_architecture(space) -> list[tuple[str, dict]]:
    """(blocks key, decisions) for every distinct network of the space, once each, in a fixed random order.

    Decision vectors that give the same network (same block strings) count once, with the first
    vector in product order; the order is the sorted keys shuffled by ``random.Random(0)``.
    """
    from effsearch.search.flight import blocks_key

    names = [name for name, _ in space.decisions]
    seen: dict[str, dict] = {}
    for values in itertools.product(*(v for _, v in space.decisions)):
        params = dict(zip(names, values, strict=True))
        seen.setdefault(blocks_key(space.to_spec(params)), params)
    order = sorted(seen.items())
    random.Random(0).shuffle(order)
    return order


def plan(archs: list[tuple[str, dict]], seeds: list[int]) -> list[tuple[int, str, dict]]:
    """Seed-major: every architecture with the first seed, then the next seed, ..."""
    return [(seed, key, params) for seed in seeds for key, params in archs]


# ---------------------------------------------------------------- the table file


def read_table(path: Path | None = None) -> list[dict]:
    """Every complete row written so far (a torn last line of a killed build is left out)."""
    path = path or table_path()
    if not path.is_file():
        return []
    raw = path.read_bytes()
    text = raw[:raw.rfind(b"\n") + 1].decode()  # whatever follows the last newline is half a row
    rows = []
    for row in csv.DictReader(io.StringIO(text, newline="")):
        try:
            float(row["accuracy"])
            int(row["seed"])
            float(row["seconds"])
        except (KeyError, TypeError, ValueError):
            continue
        if row.get("space") is None or row.get("budget") is None:
            continue
        rows.append(row)
    return rows


def append_row(path: Path, row: dict) -> None:
    """Append one row under an exclusive lock: the header on a new file, a torn last row dropped first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    with path.open("a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            size = os.fstat(f.fileno()).st_size
            if size:
                f.seek(max(0, size - 65536))
                tail = f.read()
                if not tail.endswith(b"\n"):  # a build killed mid-write left half a row: drop it
                    size -= len(tail) - (tail.rfind(b"\n") + 1)
                    f.truncate(size)
            if size == 0:
                writer.writeheader()
            writer.writerow(row)
            f.write(out.getvalue().encode())
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def check_table(rows: list[dict], space_name: str, budget_text: str) -> None:
    """One table, one space and one budget."""
    other = sorted({(r["space"], r["budget"]) for r in rows} - {(space_name, budget_text)})
    if other:
        space_name_, budget_ = other[0]
        raise Refused(f"{table_path()} holds rows of space {space_name_!r} at budget {budget_!r}, not {space_name!r} "
                      f"at {budget_text!r}: another space or budget is another table (use another --results folder)")


# ---------------------------------------------------------------- build


def build(space, data, proxy, seeds: list[int], *, budget_text: str = BUDGET, shard: tuple[int, int] = (0, 1),
          limit: int | None = None, log=print) -> dict:
    """Train every (architecture, seed) of shard ``i`` of ``n`` missing from the table; returns counts.

    ``data`` is the data set already cut to its validation subset; ``proxy`` the ProxyConfig budget
    (``budget_text`` names it in every row). ``limit`` keeps the first architectures of the fixed order.
    """
    from effsearch.proxy import train_and_evaluate

    i, n = shard
    archs = every_architecture(space)[:limit]
    path = table_path()
    rows = read_table(path)
    check_table(rows, space.name, budget_text)
    done = {(r["blocks"], int(r["seed"])) for r in rows}
    todo = [job for job in plan(archs, seeds)[i::n] if (job[1], job[0]) not in done]
    total = len(plan(archs, seeds)[i::n])
    log(f"{space.describe()}; shard {i}/{n}: {len(todo)} trainings to run ({total - len(todo)} of {total} in "
        f"{path}); budget {budget_text}, {proxy.threads} thread(s)")
    start, written, failed = time.perf_counter(), 0, 0
    for j, (seed, key, params) in enumerate(todo):
        t0 = time.perf_counter()
        m = train_and_evaluate(space.to_spec(params), data, proxy, seed=seed)
        wall = time.perf_counter() - t0
        elapsed = time.perf_counter() - start
        eta = elapsed / (j + 1) * (len(todo) - j - 1)
        stamp = f"[{time.strftime('%H:%M:%S', time.gmtime(elapsed))}] {j + 1}/{len(todo)} seed {seed}"
        if m["status"] != "ok":
            failed += 1
            log(f"{stamp}: FAILED {key} ({m['reason']})")
            continue
        append_row(path, {"blocks": key, "decisions": json.dumps(params), "seed": seed,
                          "accuracy": m["accuracy"], "loss": round(m["loss"], 5), "macs": m["macs"],
                          "params": m["params"], "seconds": round(wall, 3), "train_seconds": m["train_seconds"],
                          "eval_seconds": m["eval_seconds"], "status": m["status"], "budget": budget_text,
                          "space": space.name})
        written += 1
        log(f"{stamp}: acc {m['accuracy']:.4f}, {m['macs'] / 1e6:.1f}M MACs, {wall:.2f} s; "
            f"eta {time.strftime('%H:%M:%S', time.gmtime(eta))}")
    if failed:
        log(f"{failed} training(s) failed; rerun the same command to retry them")
    return {"todo": len(todo), "written": written, "failed": failed}


# ---------------------------------------------------------------- summary


def kendall(xs: list[float], ys: list[float]) -> float | None:
    from scipy.stats import kendalltau

    if len(xs) < 3:
        return None
    tau = float(kendalltau(xs, ys).statistic)
    return None if math.isnan(tau) else tau


def _sd(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def summarise(space=None, rows: list[dict] | None = None) -> dict:
    """Counts, ranges, seed noise and rank agreement of the table so far (the last row of a duplicate wins)."""
    rows = read_table() if rows is None else rows
    acc: dict[str, dict[int, float]] = {}
    macs: dict[str, float] = {}
    seconds = []
    for r in rows:
        acc.setdefault(r["blocks"], {})[int(r["seed"])] = float(r["accuracy"])
        macs[r["blocks"]] = float(r["macs"])
        seconds.append(float(r["seconds"]))
    seeds = sorted({s for v in acc.values() for s in v})
    values = [a for v in acc.values() for a in v.values()]
    out: dict = {"space_archs": space.size if space is not None else None, "archs": len(acc),
                 "rows": sum(len(v) for v in acc.values()), "rows_per_seed": {s: sum(s in v for v in acc.values()) for s in seeds},
                 "budget": sorted({r["budget"] for r in rows}),
                 "accuracy_range": [min(values), max(values)] if values else None,
                 "macs_range": [min(macs.values()), max(macs.values())] if macs else None,
                 "seconds_mean": statistics.fmean(seconds) if seconds else None,
                 "between_arch_sd": {s: _sd([v[s] for v in acc.values() if s in v]) for s in seeds}, "pairs": []}
    complete = [v for v in acc.values() if all(s in v for s in seeds)]
    if len(seeds) > 1 and complete:
        means = [statistics.fmean(v.values()) for v in complete]
        out["mean_over_seeds"] = {"archs": len(complete), "range": [min(means), max(means)], "sd": _sd(means),
                                  "within_arch_sd": math.sqrt(statistics.fmean(statistics.variance(v.values())
                                                                               for v in complete))}
    for s, t in itertools.combinations(seeds, 2):
        both = [v for v in acc.values() if s in v and t in v]
        diffs = [v[s] - v[t] for v in both]
        out["pairs"].append({"seeds": [s, t], "archs": len(both),
                             "tau": kendall([v[s] for v in both], [v[t] for v in both]),
                             "diff_mean": statistics.fmean(diffs) if diffs else None, "diff_sd": _sd(diffs)})
    return out


def _f(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def render(s: dict) -> str:
    lines = [f"{s['archs']} architectures" + (f" of {s['space_archs']}" if s["space_archs"] else "") +
             f", {s['rows']} rows (per seed: " + ", ".join(f"{k}: {v}" for k, v in s["rows_per_seed"].items()) +
             f"); budget {', '.join(s['budget']) or '-'}"]
    if s["accuracy_range"] is None:
        return lines[0]
    lines.append(f"accuracy {s['accuracy_range'][0]:.4f}-{s['accuracy_range'][1]:.4f}; MACs at 224 px "
                 f"{s['macs_range'][0] / 1e6:.1f}M-{s['macs_range'][1] / 1e6:.1f}M; mean {s['seconds_mean']:.2f} s per training")
    lines.append("SD of accuracy across architectures, per seed: " +
                 ", ".join(f"seed {k} {_f(v)}" for k, v in s["between_arch_sd"].items()))
    if "mean_over_seeds" in s:
        m = s["mean_over_seeds"]
        lines.append(f"mean over the seeds ({m['archs']} architectures with every seed): {m['range'][0]:.4f}-"
                     f"{m['range'][1]:.4f}, SD across architectures {_f(m['sd'])}, within-architecture (seed) SD "
                     f"{_f(m['within_arch_sd'])}")
    if s["pairs"]:
        lines += ["", "| seeds | architectures | Kendall tau | mean difference | SD of the difference |", "|---|---|---|---|---|"]
        for p in s["pairs"]:
            lines.append(f"| {p['seeds'][0]} vs {p['seeds'][1]} | {p['archs']} | {_f(p['tau'], 3)} | "
                         f"{_f(p['diff_mean'])} | {_f(p['diff_sd'])} |")
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help=f"results folder (default {ROOT})")
    sub = parser.add_subparsers(dest="step", required=True)
    b = sub.add_parser("build", help="train every architecture x seed missing from table.csv")
    b.add_argument("--seeds", default="0,1,2")
    b.add_argument("--threads", type=int, default=1)
    b.add_argument("--shard", default="0/1", help="train shard i of n of the seed-major plan (one process each)")
    b.add_argument("--limit", type=int, default=None, help="only the first N architectures of the fixed order")
    s = sub.add_parser("summary", help="counts, ranges, seed-to-seed Kendall tau and noise")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = parser.parse_args(argv)
    if args.results is not None:
        ROOT = args.results.resolve()
    from effsearch.search.space import load_space

    space = load_space(SPACE_FILE)
    if args.step == "summary":
        result = summarise(space)
        print(json.dumps(result, indent=1) if args.json else render(result))
        return 0
    try:
        i, n = (int(x) for x in args.shard.split("/"))
    except ValueError:
        raise Refused(f"--shard {args.shard!r}: expected i/n, e.g. 0/2") from None
    if not 0 <= i < n:
        raise Refused(f"--shard {args.shard!r}: expected 0 <= i < n")
    import torch

    from effsearch.data import load_dataset

    torch.set_num_threads(args.threads)
    data = load_dataset(DATASET).subset(val=VAL, seed=0)
    result = build(space, data, budget(args.threads), ints(args.seeds), shard=(i, n), limit=args.limit,
                   log=lambda text: print(text, flush=True))
    print(render(summarise(space)), flush=True)
    return 1 if result["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
