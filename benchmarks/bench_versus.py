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


def read_table() -> list[dict]:
    path = ROOT / "table.csv"
    return list(csv.DictReader(path.open())) if path.is_file() else []


def write_table(rows: list[dict]) -> None:
    ROOT.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda r: (r["network"], int(r["seed"]))))
    tmp = ROOT / "table.csv.tmp"
    tmp.write_text(out.getvalue())
    tmp.replace(ROOT / "table.csv")


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
    done = {(r["network"], int(r["seed"])) for r in rows}
    todo = [(n, src, s) for s in seeds for n, src in networks if (n, s) not in done]
    print(f"{len(todo)} trainings to run, {epochs:g} epochs, {threads} thread(s) x {jobs} job(s)", flush=True)
    failed = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(train_one, n, src, s, epochs, threads): (n, s) for n, src, s in todo}
        for future in as_completed(futures):
            name, seed = futures[future]
            try:
                row = future.result()
            except Exception as exc:
                failed += 1
                print(f"{name} seed {seed}: FAILED ({exc})", flush=True)
                continue
            write_table([r for r in read_table() if (r["network"], int(r["seed"])) != (name, seed)] + [row])
            print(f"{name} seed {seed}: test {row['test_top1']:.4f} ({row['wall_seconds']} s)", flush=True)
    return 1 if failed else 0


def compute() -> dict:
    """Per network: test top-1 mean and SD over seeds; per pair against ``effsearch``: the paired difference."""
    by: dict[str, dict[int, float]] = {}
    for r in read_table():
        by.setdefault(r["network"], {})[int(r["seed"])] = float(r["test_top1"])
    out: dict = {"networks": {}, "versus": {}}
    for name, accs in by.items():
        values = [accs[s] for s in sorted(accs)]
        out["networks"][name] = {"seeds": sorted(accs), "mean": statistics.fmean(values),
                                 "sd": statistics.stdev(values) if len(values) > 1 else None, "per_seed": values}
    ours = by.get("effsearch", {})
    for name, accs in by.items():
        if name == "effsearch":
            continue
        common = sorted(set(ours) & set(accs))
        diffs = [ours[s] - accs[s] for s in common]
        if not diffs:
            continue
        sd = statistics.stdev(diffs) if len(diffs) > 1 else None
        spread = max((out["networks"][n]["sd"] or 0.0) for n in ("effsearch", name))
        mean = statistics.fmean(diffs)
        out["versus"][name] = {"seeds": common, "mean_difference": mean, "sd_of_difference": sd,
                               "wins": sum(d > 0 for d in diffs), "largest_seed_spread": spread,
                               "beats_by_more_than_spread": mean > spread}
    return out


def render(report: dict) -> str:
    lines = ["| network | test top-1, mean ± SD | per seed |", "|---|---|---|"]
    for name, n in report["networks"].items():
        sd = "-" if n["sd"] is None else f"{n['sd']:.4f}"
        lines.append(f"| {name} | {n['mean']:.4f} ± {sd} | {' '.join(f'{v:.4f}' for v in n['per_seed'])} |")
    lines += ["", "| effsearch against | mean paired difference | SD of the difference | seeds won | larger seed SD | "
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
    sub.add_parser("report")
    args = parser.parse_args(argv)
    if args.step == "train":
        networks = [tuple(n.split("=", 1)) for n in args.network]
        if any(len(n) != 2 for n in networks):
            raise SystemExit("bench_versus: give --network NAME=FOLDER")
        return train(networks, [int(s) for s in args.seeds.split(",")], args.epochs, args.threads, args.jobs)
    report = compute()
    ROOT.mkdir(parents=True, exist_ok=True)
    (ROOT / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(render(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
