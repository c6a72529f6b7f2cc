"""Does the search pay? Its baseline against EfficientNet-B0 scaled to the same MACs and random search's pick.

Every network is trained by the real ``effsearch train`` command with one recipe and budget (``--adapt``,
the same epochs, seeds and one thread each) and scored once on Fashion-MNIST's official t10k test split,
which no search reads. Seeds are shared across networks (seed s trains every network with the same
initialisation seed and data order), so per-seed differences are paired.

    # the two searches (the README's recommended command, and the same with --sampler random)
    effsearch baseline --dataset fashion-mnist --flops-target 100M --rungs 3 --steps 150 --reward-beta auto \\
        --trials 1000 --timeout 2400 --out results/fmnist-100M-mnas
    effsearch baseline ... --sampler random --out results/fmnist-100M-random
    # B0 at the same budget (no grid: the paper's coefficients)
    effsearch scale --baseline efficientnet-b0 --coefficients 1.2,1.1,1.15 --flops-target 100M --out results/b0-100M-scale
    .venv/bin/python benchmarks/bench_versus.py train --network effsearch=results/fmnist-100M-mnas \\
        --network random=results/fmnist-100M-random --network b0=results/b0-100M-scale --seeds 0,1,2 --epochs 2
    .venv/bin/python benchmarks/bench_versus.py report

``proxy`` scores the same networks under the search's own top rung instead (``effsearch evaluate``: the
proxy's recipe without augmentation, ``--steps`` of 64 images, validation top-1, the same seeds for every
network, at the side ``--adapt`` would train them: 28 px times side/224), where a seed moves accuracy
far less than two epochs of ``effsearch train`` do; ``report --table proxy`` and ``--ours NAME`` choose
what is compared with what.

    .venv/bin/python benchmarks/bench_versus.py proxy --network effsearch=results/fmnist-100M-mnas \
        --network b0=results/b0-100M-scale --seeds 0,1,2 --steps 1350
    .venv/bin/python benchmarks/bench_versus.py report --table proxy

``train`` is resumable: it runs only the (network, seed) pairs missing from ``table.csv`` (rewritten
after each training), and ``effsearch train`` resumes an interrupted folder. A scale folder's member is
the one its ``--flops-target`` added (the largest within the budget), trained at the side ``effsearch train``
gives a member (the data's side times the member's resolution multiplier); ``FOLDER:PX`` trains it at PX.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parent / "results" / "versus"
DATASET = "fashion-mnist"
FIELDS = ["network", "source", "phi", "seed", "epochs", "test_top1", "val_top1", "weights", "macs", "params",
          "trained_macs", "train_seconds", "wall_seconds", "threads", "processor", "finished"]


PROXY_FIELDS = ["network", "source", "seed", "steps", "px", "val_top1", "macs", "trained_macs", "seconds", "threads",
                "processor", "finished"]


def read_table(name: str = "table.csv") -> list[dict]:
    path = ROOT / name
    return list(csv.DictReader(path.open())) if path.is_file() else []


def write_table(rows: list[dict], name: str = "table.csv") -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS if name == "table.csv" else PROXY_FIELDS)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["network"], int(r["seed"]))))
    tmp = ROOT / f"{name}.tmp"
    tmp.write_text(out.getvalue())
    tmp.replace(ROOT / name)


def proxy_spec(source: str) -> tuple[Path, int]:
    """The spec file ``effsearch evaluate`` is given for ``FOLDER[:PX]``, and the side it trains at.

    A scale folder's budget member is its member file; a search folder is its baseline. The side is
    28 px times the network's deployment side / 224 (what ``effsearch train --adapt`` trains), unless
    ``:PX`` gives one.
    """
    import yaml

    path, _, side = source.partition(":")
    folder = REPO / path
    phi = budget_member(folder)
    if phi is not None:
        member = next(m for m in json.loads((folder / "family.json").read_text())["members"] if m.get("target"))
        spec, resolution = folder / "members" / f"{member['name']}.yaml", int(member["resolution"])
    else:
        spec = folder / "baseline.yaml"
        resolution = int(yaml.safe_load(spec.read_text()).get("resolution", 224))
    return spec, int(side) if side else max(8, round(28 * resolution / 224))


def proxy_one(name: str, source: str, seed: int, steps: int, threads: int) -> dict:
    spec, px = proxy_spec(source)
    exe = Path(sys.executable).with_name("effsearch")
    cmd = [str(exe) if exe.exists() else "effsearch", "evaluate", str(spec), "--dataset", DATASET, "--steps", str(steps),
           "--proxy-resolution", str(px), "--seed", str(seed), "--threads", str(threads), "--json"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": str(threads)}, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["effsearch evaluate failed"])[-1])
    m = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    from effsearch.engine.memo import processor_name

    return {"network": name, "source": source, "seed": seed, "steps": steps, "px": px, "val_top1": m["accuracy"],
            "macs": m.get("macs", ""), "trained_macs": m.get("proxy_macs", ""),
            "seconds": round(time.perf_counter() - start, 1), "threads": threads, "processor": processor_name(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def proxy(networks: list[tuple[str, str]], seeds: list[int], steps: int, threads: int, jobs: int) -> int:
    rows = read_table("proxy.csv")
    if any(int(r["steps"]) != steps for r in rows):
        raise SystemExit(f"bench_versus: proxy.csv holds another step budget than {steps}; use another results folder")
    print(f"{steps} steps per proxy training, {threads} thread(s) x {jobs} job(s)", flush=True)
    return run_missing(rows, networks, seeds, jobs, lambda n, src, s: proxy_one(n, src, s, steps, threads), "proxy.csv",
                       lambda row: f"val {row['val_top1']:.4f} at {row['px']} px ({row['seconds']} s)")


def run_missing(rows: list[dict], networks: list[tuple[str, str]], seeds: list[int], jobs: int, one, name: str, says) -> int:
    """Each (network, seed) missing from ``rows``, ``jobs`` at a time; the table ``name`` rewritten after each."""
    done = {(r["network"], int(r["seed"])) for r in rows}
    todo = [(n, src, s) for s in seeds for n, src in networks if (n, s) not in done]
    print(f"{len(todo)} to run", flush=True)
    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(one, n, src, s): (n, s) for n, src, s in todo}
        for future in as_completed(futures):
            net, seed = futures[future]
            try:
                row = future.result()
            except Exception as exc:
                failed += 1
                print(f"{net} seed {seed}: FAILED ({exc})", flush=True)
                continue
            write_table([r for r in read_table(name) if (r["network"], int(r["seed"])) != (net, seed)] + [row], name)
            print(f"{net} seed {seed}: {says(row)}", flush=True)
    return 1 if failed else 0


def budget_member(folder: Path) -> str | None:
    """The phi of the member a scale folder's budget (``--flops-target``) added, as the family table shows it."""
    family = folder / "family.json"
    if not family.is_file():
        return None
    members = [m for m in json.loads(family.read_text())["members"] if m.get("target")]
    if not members:
        raise SystemExit(f"bench_versus: {folder} has no member made for a budget; scale it with --flops-target")
    return f"{members[0]['phi']:g}"


def train_one(name: str, source: str, seed: int, epochs: float, threads: int) -> dict:
    path, _, side = source.partition(":")  # FOLDER:PX trains at PX instead of the network's own side
    folder = REPO / path
    phi = budget_member(folder)
    exe = Path(sys.executable).with_name("effsearch")
    cmd = [str(exe) if exe.exists() else "effsearch", "train", str(folder), *(["--phi", phi] if phi else []),
           *(["--resolution", side] if side else []),
           "--dataset", DATASET, "--adapt", "--epochs", f"{epochs:g}", "--seed", str(seed), "--threads", str(threads),
           "--no-export", "--quiet", "--json", "--out", str(ROOT / "runs" / f"{name}-s{seed}")]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError((proc.stderr.strip().splitlines() or ["effsearch train failed"])[-1])
    m = json.loads([line for line in proc.stdout.splitlines() if line.startswith("{")][-1])
    from effsearch.engine.memo import processor_name

    return {"network": name, "source": source, "phi": phi or "", "seed": seed, "epochs": epochs,
            "test_top1": m["test_accuracy"], "val_top1": m.get("val_accuracy", ""), "weights": m.get("weights", ""),
            "macs": m.get("deploy_macs", m.get("macs", "")), "params": m.get("deploy_params", m.get("params", "")),
            "trained_macs": m.get("macs", ""), "train_seconds": m.get("train_seconds", ""),
            "wall_seconds": round(time.perf_counter() - start, 1), "threads": threads, "processor": processor_name(),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def train(networks: list[tuple[str, str]], seeds: list[int], epochs: float, threads: int, jobs: int) -> int:
    rows = read_table()
    for row in rows:
        if float(row["epochs"]) != epochs:
            raise SystemExit(f"bench_versus: table.csv was trained for {row['epochs']} epochs, not {epochs:g}; "
                             "use another results folder")
    print(f"{epochs:g} epochs per training, {threads} thread(s) x {jobs} job(s)", flush=True)
    return run_missing(rows, networks, seeds, jobs, lambda n, src, s: train_one(n, src, s, epochs, threads), "table.csv",
                       lambda row: f"test {row['test_top1']:.4f} ({row['wall_seconds']} s)")


def compute(ours: str = "effsearch", table: str = "train") -> dict:
    """Per network: top-1 mean and SD over seeds; per network against ``ours``: the paired difference.

    ``table``: ``train`` (test top-1 after ``effsearch train``, table.csv) or ``proxy`` (validation
    top-1 at the top rung's budget, proxy.csv).
    """
    by: dict[str, dict[int, float]] = {}
    for r in read_table("table.csv" if table == "train" else "proxy.csv"):
        by.setdefault(r["network"], {})[int(r["seed"])] = float(r["test_top1" if table == "train" else "val_top1"])
    out: dict = {"networks": {}, "versus": {}, "ours": ours, "table": table}
    for name, accs in by.items():
        values = [accs[s] for s in sorted(accs)]
        out["networks"][name] = {"seeds": sorted(accs), "mean": statistics.fmean(values),
                                 "sd": statistics.stdev(values) if len(values) > 1 else None, "per_seed": values}
    mine = by.get(ours, {})
    for name, accs in by.items():
        if name == ours:
            continue
        common = sorted(set(mine) & set(accs))
        diffs = [mine[s] - accs[s] for s in common]
        if not diffs:
            continue
        sd = statistics.stdev(diffs) if len(diffs) > 1 else None
        spread = max((out["networks"][n]["sd"] or 0.0) for n in (ours, name))
        mean = statistics.fmean(diffs)
        out["versus"][name] = {"seeds": common, "mean_difference": mean, "sd_of_difference": sd,
                               "wins": sum(d > 0 for d in diffs), "largest_seed_spread": spread,
                               "beats_by_more_than_spread": mean > spread}
    return out


def render(report: dict) -> str:
    what = "test top-1" if report.get("table", "train") == "train" else "validation top-1 (proxy)"
    lines = [f"| network | {what}, mean ± SD | per seed |", "|---|---|---|"]
    for name, n in report["networks"].items():
        sd = "-" if n["sd"] is None else f"{n['sd']:.4f}"
        lines.append(f"| {name} | {n['mean']:.4f} ± {sd} | {' '.join(f'{v:.4f}' for v in n['per_seed'])} |")
    lines += ["", f"| {report.get('ours', 'effsearch')} against | mean paired difference | SD of the difference | seeds won | larger seed SD | "
              "beats it by more than the spread |", "|---|---|---|---|---|---|"]
    for name, v in report["versus"].items():
        sd = "-" if v["sd_of_difference"] is None else f"{v['sd_of_difference']:.4f}"
        lines.append(f"| {name} | {v['mean_difference']:+.4f} | {sd} | {v['wins']} of {len(v['seeds'])} | "
                     f"{v['largest_seed_spread']:.4f} | {'yes' if v['beats_by_more_than_spread'] else 'no'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    t = sub.add_parser("train")
    t.add_argument("--network", action="append", required=True, metavar="NAME=FOLDER[:PX]")
    t.add_argument("--seeds", default="0,1,2")
    t.add_argument("--epochs", type=float, default=2.0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--jobs", type=int, default=2)
    p = sub.add_parser("proxy", help="the same networks under the search's top-rung proxy (effsearch evaluate)")
    p.add_argument("--network", action="append", required=True, metavar="NAME=FOLDER[:PX]")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--steps", type=int, default=1350)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=2)
    r = sub.add_parser("report")
    r.add_argument("--ours", default="effsearch", help="the network the others are compared with")
    r.add_argument("--table", choices=("train", "proxy"), default="train")
    args = parser.parse_args(argv)
    if args.step in ("train", "proxy"):
        networks = [tuple(n.split("=", 1)) for n in args.network]
        if any(len(n) != 2 for n in networks):
            raise SystemExit("bench_versus: give --network NAME=FOLDER")
        seeds = [int(s) for s in args.seeds.split(",")]
        if args.step == "proxy":
            return proxy(networks, seeds, args.steps, args.threads, args.jobs)
        return train(networks, seeds, args.epochs, args.threads, args.jobs)
    report = compute(args.ours, args.table)
    ROOT.mkdir(parents=True, exist_ok=True)
    name = "report.json" if (args.table, args.ours) == ("train", "effsearch") else f"report-{args.table}-{args.ours}.json"
    (ROOT / name).write_text(json.dumps(report, indent=1) + "\n")
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
