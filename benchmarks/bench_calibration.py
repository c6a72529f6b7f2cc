"""Calibration table on Fashion-MNIST: architectures near a MAC target trained long, against which cheap evaluators are ranked.

At least 30 architectures of the ``mnasnet`` space whose MACs at 224 px lie near a target, each trained by
the real ``effsearch train`` command (``--adapt``, a long budget, two seeds) and scored once on the
official test split. Every cheap evaluator (the search's standalone proxy at each rung's step budget,
the supernet) is then judged by its Kendall tau against the table's mean test top-1, next to the
table's noise ceiling (Kendall tau between its two seeds). Results live in
``benchmarks/results/calibration/`` (``runs/``, the training folders with their checkpoints, is not in git):

    .venv/bin/python benchmarks/bench_calibration.py archs --target 100M --count 30 --seed 2026 --band 0.8,1.2
    .venv/bin/python benchmarks/bench_calibration.py train --seeds 0,1 --epochs E --threads 1 --jobs 2
    .venv/bin/python benchmarks/bench_calibration.py proxy --steps 150,450,1350 --seeds 0,1 --threads 1
    .venv/bin/python benchmarks/bench_calibration.py report

A second table on the space fitted to the target (``effsearch baseline --space-width auto``), ranked
against the proxy itself at three times the search's top rung (its two seeds' mean), because two epochs
of ``effsearch train`` move a network by more than the band's architectures differ:

    .venv/bin/python benchmarks/bench_calibration.py --results benchmarks/results/calibration-wauto archs \
        --target 100M --count 30 --seed 2026 --band 0.8,1.2 --space-width auto
    .venv/bin/python benchmarks/bench_calibration.py --results benchmarks/results/calibration-wauto proxy \
        --steps 150,450,1350,4050 --seeds 0,1 --jobs 2     # one process per core
    .venv/bin/python benchmarks/bench_calibration.py --results benchmarks/results/calibration-wauto supernet --epochs 3
    .venv/bin/python benchmarks/bench_calibration.py --results benchmarks/results/calibration-wauto report --reference 4050
    .venv/bin/python benchmarks/bench_calibration.py --results benchmarks/results/calibration-wauto schedules

``schedules`` replays successive halving on the table: each first rung (150, 450, 1,350 steps, x3 per
rung up to the top) with as many candidates as the shortest ladder over the whole table costs, the
lower rungs read from one recorded seed per candidate and the top from both, and says how good a pick
each ladder makes against the reference.

Every step is resumable and idempotent: ``archs`` rewrites nothing it would write the same and refuses
other arguments on an existing table; ``train`` runs only the (architecture, seed) pairs missing from
``table.csv`` (rewritten atomically after each training; ``effsearch train`` itself resumes an
interrupted folder from its last epoch's checkpoint); ``proxy`` caches each (architecture, steps,
seed, resolution) in ``proxy.json``. Every row carries a digest of its architecture's block strings, so
a table never mixes with architectures other than those of ``archs.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import itertools
import json
import math
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(__file__).resolve().parent / "results" / "calibration"  # --results changes it; tests monkeypatch it
SPACE = "mnasnet"
DATASET = "fashion-mnist"
TABLE_FIELDS = ["arch", "seed", "epochs", "train_images", "test_top1", "val_top1", "weights", "train_seconds",
                "wall_seconds", "steps", "macs", "trained_macs", "params", "trained_params", "threads", "processor",
                "spec_sha", "finished"]


class Refused(SystemExit):
    """A one-line refusal (exit status 1, the message on stderr)."""

    def __init__(self, message: str):
        super().__init__(f"bench_calibration: {message}")


# ---------------------------------------------------------------- files


def paths() -> dict[str, Path]:
    return {"archs": ROOT / "archs.json", "specs": ROOT / "specs", "table": ROOT / "table.csv",
            "proxy": ROOT / "proxy.json", "report": ROOT / "report.json", "runs": ROOT / "runs",
            "supernet": ROOT / "supernet.json"}


def write_text(path: Path, text: str) -> None:
    from effsearch.runtime.files import atomic_write_text

    atomic_write_text(path, text)


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def processor() -> str:
    from effsearch.engine.memo import processor_name

    return processor_name()


def spec_sha(blocks: list[str]) -> str:
    return hashlib.sha256(json.dumps(blocks).encode()).hexdigest()[:12]


def ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


# ---------------------------------------------------------------- archs


def sample_archs(target: float, count: int, seed: int, band: tuple[float, float], space_name: str = SPACE,
                 max_draws: int = 2_000_000, width: float = 1.0) -> tuple[list[dict], int]:
    """Uniform draws from the space (one uniform choice per decision), kept when distinct and in the band.

    Distinct means distinct networks (block strings), since several decision vectors can give one network.
    Returns the kept architectures, in the order drawn, and the number of draws it took.
    """
    import effsearch
    from effsearch.arch.blockstring import format_block

    space = scaled_space(width, space_name)
    rng = random.Random(seed)
    lo, hi = band[0] * target, band[1] * target
    kept, seen, draws = [], set(), 0
    while len(kept) < count:
        if draws >= max_draws:
            raise Refused(f"only {len(kept)} of {count} distinct architectures within {lo:.3g}-{hi:.3g} MACs "
                          f"in {draws:,} draws; widen --band or move --target")
        draws += 1
        decisions = {name: rng.choice(values) for name, values in space.decisions}
        spec = space.to_spec(decisions)
        blocks = [format_block(b) for b in spec.blocks]
        if tuple(blocks) in seen:
            continue
        cost = effsearch.count(spec)
        if not lo <= cost.macs <= hi:
            continue
        seen.add(tuple(blocks))
        kept.append({"id": f"a{len(kept):02d}", "decisions": decisions, "blocks": blocks, "params": cost.params,
                     "macs": cost.macs, "spec": f"specs/a{len(kept):02d}.yaml", "spec_sha": spec_sha(blocks)})
        if width != 1:  # a plain-space table's files stay as they were written
            kept[-1]["space_width"] = width
    return kept, draws


def scaled_space(width: float = 1.0, space_name: str = SPACE):
    """The space the architectures are drawn from: ``mnasnet`` with its widths scaled (``--space-width``)."""
    from effsearch.search.space import load_space
    from effsearch.search.space_fit import scale_space

    return scale_space(load_space(space_name), width)


def arch_spec(arch: dict):
    """The NetSpec of one archs.json entry (the space's network for its decisions, named after its id)."""
    import dataclasses

    return dataclasses.replace(scaled_space(arch.get("space_width", 1.0)).to_spec(arch["decisions"]),
                               name=f"{SPACE}-{arch['id']}")


def spec_text(arch: dict) -> str:
    import warnings

    from effsearch.arch.specio import dumps

    with warnings.catch_warnings():  # conv/ds stages have no timm equal; the file says so itself
        warnings.simplefilter("ignore")
        return dumps(arch_spec(arch))


def archs(target_text: str, count: int, seed: int, band_text: str, width_text: str = "1") -> dict:
    """Write archs.json and specs/aNN.yaml; the same arguments give the same files, others are refused."""
    from effsearch.units import parse_count

    target = parse_count(target_text)
    band = tuple(float(x) for x in band_text.split(","))
    if len(band) != 2 or not 0 < band[0] <= 1 <= band[1]:
        raise Refused(f"--band {band_text!r}: expected LOW,HIGH with 0 < LOW <= 1 <= HIGH, e.g. 0.8,1.2")
    width = space_width(width_text, target)
    args = {"space": SPACE, "target": target, "count": count, "seed": seed, "band": list(band)}
    if width != 1:
        args["space_width"] = width
    p = paths()
    if p["archs"].is_file():
        old = json.loads(p["archs"].read_text())
        if old.get("args") != args:
            raise Refused(f"{p['archs']} was made with {json.dumps(old.get('args'), sort_keys=True)}, not "
                          f"{json.dumps(args, sort_keys=True)}; another sample is another table: use another --results folder")
    kept, draws = sample_archs(target, count, seed, band, width=width)
    data = {"args": args, "draws": draws, "dataset": DATASET, "archs": kept}
    text = json.dumps(data, indent=1, sort_keys=True) + "\n"
    if p["archs"].is_file() and p["archs"].read_text() != text:
        raise Refused(f"{p['archs']} differs from what these arguments give now (the space or the sampler changed); "
                      "use another --results folder")
    for arch in kept:
        path = ROOT / arch["spec"]
        body = spec_text(arch)
        if not path.is_file() or path.read_text() != body:
            write_text(path, body)
    if not p["archs"].is_file():
        write_json(p["archs"], data)
    gitignore = ROOT / ".gitignore"
    if not gitignore.is_file():
        write_text(gitignore, "# training folders (checkpoints, weights): rerun 'bench_calibration.py train' to remake them\nruns/\n"
                              "# the lock of proxy.json and the logs of parallel 'proxy' processes (--jobs)\n*.lock\nproxy-job*.log\n")
    macs = [a["macs"] for a in kept]
    print(f"{len(kept)} architectures from {draws:,} uniform draws of {SPACE} (widths x{width:g}): {min(macs) / 1e6:.1f}M-{max(macs) / 1e6:.1f}M "
          f"MACs at 224 px (band {band[0] * target / 1e6:.0f}M-{band[1] * target / 1e6:.0f}M); {p['archs']}", flush=True)
    return data


def space_width(text: str, target: float) -> float:
    """``--space-width``: a multiplier, or ``auto`` for the one ``effsearch baseline --space-width auto`` fits to ``target``."""
    from effsearch.errors import EffsearchError
    from effsearch.search.space import load_space
    from effsearch.search.space_fit import check_width, fit_width

    if text == "auto":
        return fit_width(load_space(SPACE), "macs", target)
    try:
        width = float(text)
        check_width(width)
    except (ValueError, EffsearchError):
        raise Refused(f"--space-width {text!r}: expected a multiplier above 0 and at most 16, or auto") from None
    return width


def load_archs(only: str | None = None) -> list[dict]:
    p = paths()
    if not p["archs"].is_file():
        raise Refused(f"{p['archs']} does not exist; run 'bench_calibration.py archs' first")
    kept = json.loads(p["archs"].read_text())["archs"]
    if only:
        wanted = [x.strip() for x in only.split(",") if x.strip()]
        unknown = sorted(set(wanted) - {a["id"] for a in kept})
        if unknown:
            raise Refused(f"--only: unknown architecture {unknown[0]!r} (archs.json has a00-a{len(kept) - 1:02d})")
        kept = [a for a in kept if a["id"] in wanted]
    return kept


# ---------------------------------------------------------------- train


def read_table() -> list[dict]:
    path = paths()["table"]
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def write_table(rows: list[dict]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLE_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (int(r["seed"]), r["arch"])):
        writer.writerow(row)
    write_text(paths()["table"], out.getvalue())


def check_budget(rows: list[dict], epochs: int, train_images: int | None) -> None:
    """One table, one budget: refuse to add rows of another epochs / train-images budget."""
    want = (str(epochs), str(train_images or "all"))
    other = sorted({(r["epochs"], r["train_images"]) for r in rows} - {want})
    if other:
        e, n = other[0]
        raise Refused(f"table.csv holds trainings of --epochs {e} on {n} training images, not --epochs {want[0]} on {want[1]}: "
                      "a different budget is a different table (move table.csv and runs/ aside, or use another --results folder)")


def check_archs(rows: list[dict], kept: list[dict]) -> None:
    sha = {a["id"]: a["spec_sha"] for a in kept}
    for r in rows:
        if r["arch"] in sha and r["spec_sha"] != sha[r["arch"]]:
            raise Refused(f"table.csv row {r['arch']} seed {r['seed']} was trained for another architecture than archs.json's; "
                          "move table.csv aside or use another --results folder")


def train_command(arch: dict, seed: int, epochs: int, train_images: int | None, threads: int) -> list[str]:
    exe = Path(sys.executable).with_name("effsearch")
    cmd = [str(exe) if exe.exists() else "effsearch", "train", str(ROOT / arch["spec"]), "--dataset", DATASET, "--adapt",
           "--epochs", str(epochs), "--seed", str(seed), "--threads", str(threads), "--no-export", "--quiet", "--json",
           "--out", str(paths()["runs"] / f"{arch['id']}-s{seed}")]
    if train_images:
        cmd += ["--train-images", str(train_images)]
    return cmd


def parse_train_output(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in effsearch train's output")


def train_one(arch: dict, seed: int, epochs: int, train_images: int | None, threads: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": "PASSIVE"}
    start = time.perf_counter()
    proc = subprocess.run(train_command(arch, seed, epochs, train_images, threads), capture_output=True, text=True,
                          env=env, cwd=REPO)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"effsearch train exited {proc.returncode}: {last}")
    m = parse_train_output(proc.stdout)
    return {"arch": arch["id"], "seed": seed, "epochs": epochs, "train_images": train_images or "all",
            "test_top1": m["test_accuracy"], "val_top1": m.get("val_accuracy", ""), "weights": m.get("weights", ""),
            "train_seconds": m.get("train_seconds", ""), "wall_seconds": round(wall, 1), "steps": m.get("steps", ""),
            "macs": arch["macs"], "trained_macs": m.get("macs", ""), "params": arch["params"],
            "trained_params": m.get("params", ""), "threads": threads, "processor": processor(),
            "spec_sha": arch["spec_sha"], "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def train(seeds: list[int], epochs: int, train_images: int | None, threads: int, jobs: int, only: str | None) -> int:
    """Train every (architecture, seed) missing from table.csv, seed-major, ``jobs`` at a time."""
    kept = load_archs(only)
    rows = read_table()
    check_budget(rows, epochs, train_images)
    check_archs(rows, load_archs())
    done = {(r["arch"], int(r["seed"])) for r in rows}
    todo = [(a, s) for s in seeds for a in kept if (a["id"], s) not in done]
    print(f"{len(todo)} trainings to run ({len(kept) * len(seeds) - len(todo)} of {len(kept) * len(seeds)} in table.csv), "
          f"{epochs} epochs on {train_images or 'all'} training images, {threads} thread(s) x {jobs} job(s)", flush=True)
    lock, start, failed, finished = threading.Lock(), time.perf_counter(), 0, 0
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(train_one, a, s, epochs, train_images, threads): (a, s) for a, s in todo}
        for future in as_completed(futures):
            arch, seed = futures[future]
            elapsed = time.strftime("%H:%M:%S", time.gmtime(time.perf_counter() - start))
            try:
                row = future.result()
            except Exception as exc:  # one bad training must not stop the table
                failed += 1
                print(f"[{elapsed}] {arch['id']} seed {seed}: FAILED ({exc})", flush=True)
                continue
            with lock:
                rows = [r for r in read_table() if (r["arch"], int(r["seed"])) != (arch["id"], seed)] + [row]
                write_table(rows)
                finished += 1
            print(f"[{elapsed}] {finished}/{len(todo)} {arch['id']} seed {seed}: test {row['test_top1']:.4f}, "
                  f"val {row['val_top1'] if row['val_top1'] == '' else format(row['val_top1'], '.4f')}, "
                  f"train {row['train_seconds']} s, wall {row['wall_seconds']} s", flush=True)
    if failed:
        print(f"{failed} training(s) failed; rerun the same command to retry them", flush=True)
    return 1 if failed else 0


# ---------------------------------------------------------------- proxy


def proxy_key(arch_id: str, steps: int, seed: int, resolution: int) -> str:
    return f"{arch_id}|{steps}|{seed}|{resolution}"


def proxy(steps_list: list[int], seeds: list[int], resolution: int | None, threads: int, only: str | None) -> None:
    """The search's standalone proxy (train_and_evaluate, steps budget) for every architecture, seed and budget."""
    import torch
    from filelock import FileLock

    from effsearch.data import load_dataset
    from effsearch.proxy import ProxyConfig, train_and_evaluate

    torch.set_num_threads(threads)
    kept = load_archs(only)
    data = load_dataset(DATASET)
    res = resolution or data.default_resolution
    path = paths()["proxy"]
    cache = json.loads(path.read_text()) if path.is_file() else {}
    # architecture by architecture, so that a table stopped part way has every budget for the ones done
    todo = [(a, n, s) for a in kept for n in steps_list for s in seeds if proxy_key(a["id"], n, s, res) not in cache
            or cache[proxy_key(a["id"], n, s, res)].get("spec_sha") != a["spec_sha"]]
    print(f"{len(todo)} proxy trainings to run at {res} px, {threads} thread(s)", flush=True)
    start = time.perf_counter()
    for i, (arch, steps, seed) in enumerate(todo):
        config = ProxyConfig(steps=steps, epochs=None, resolution=res, threads=threads)
        m = train_and_evaluate(arch_spec(arch), data, config, seed=seed)
        entry = {"arch": arch["id"], "steps": steps, "seed": seed, "resolution": res, "accuracy": m.get("accuracy"),
                 "loss": m.get("loss"), "status": m.get("status"), "reason": m.get("reason"), "train_seconds": m.get("train_seconds"),
                 "eval_seconds": m.get("eval_seconds"), "proxy_macs": m.get("proxy_macs", m.get("macs")),
                 "threads": threads, "processor": processor(), "spec_sha": arch["spec_sha"],
                 "val_images": len(data.val_y)}
        with FileLock(str(path) + ".lock"):  # other processes (--only) add their own entries to the same file
            cache = json.loads(path.read_text()) if path.is_file() else {}
            cache[proxy_key(arch["id"], steps, seed, res)] = entry
            write_json(path, cache)
        acc = entry["accuracy"]
        elapsed = time.strftime("%H:%M:%S", time.gmtime(time.perf_counter() - start))
        print(f"[{elapsed}] {i + 1}/{len(todo)} {arch['id']} {steps} steps seed {seed}: "
              f"acc {'-' if acc is None else format(acc, '.4f')} ({entry['status']}, {entry['train_seconds']} s)", flush=True)


def supernet(epochs: float, rule: str, threads: int) -> None:
    """Train a supernet on the table's space, as ``--evaluator supernet:auto`` does in a search, and score every
    architecture with it (inherited weights, the proxy's resolution); scores go to ``supernet.json``."""
    import torch

    from effsearch.data import load_dataset
    from effsearch.proxy import ProxyConfig
    from effsearch.supernet.evaluator import SupernetEvaluator
    from effsearch.supernet.train import SupernetConfig

    torch.set_num_threads(threads)
    kept = load_archs()
    data = load_dataset(DATASET)
    proxy_config = ProxyConfig(steps=150, epochs=None, resolution=data.default_resolution, threads=threads)
    config = SupernetConfig(epochs=epochs, rule=rule)
    name = f"{rule}-e{epochs:g}"
    folder = paths()["runs"] / f"supernet-{name}"
    space = scaled_space(kept[0].get("space_width", 1.0))
    evaluator = SupernetEvaluator(folder, space=space, data=data, proxy=proxy_config, train=config)
    start = time.perf_counter()
    evaluator.prepare(data=data, proxy=proxy_config, on_epoch=lambda m: print(f"supernet {name}: {m}", flush=True))
    path = paths()["supernet"]
    scores = json.loads(path.read_text()) if path.is_file() else {}
    for arch in kept:
        m = evaluator(arch_spec(arch), data, proxy_config)
        scores[f"{name}|{arch['id']}"] = {"supernet": name, "arch": arch["id"], "accuracy": m["accuracy"],
                                          "spec_sha": arch["spec_sha"], "resolution": proxy_config.resolution}
    write_json(path, scores)
    print(f"supernet {name}: {len(kept)} architectures scored; {time.perf_counter() - start:.0f} s in this call", flush=True)


def supernet_accuracies(scores: dict, kept: list[dict]) -> dict[str, dict[str, float]]:
    """supernet name -> arch -> score."""
    sha = {a["id"]: a["spec_sha"] for a in kept}
    out: dict[str, dict[str, float]] = {}
    for e in scores.values():
        if sha.get(e["arch"]) == e.get("spec_sha") and e.get("accuracy") is not None:
            out.setdefault(e["supernet"], {})[e["arch"]] = float(e["accuracy"])
    return out


def proxy_jobs(args: argparse.Namespace) -> int:
    """``proxy`` in ``args.jobs`` processes, the architectures dealt round-robin (proxy.json's lock keeps every
    process's entries); each process writes its progress to ``proxy-jobN.log`` in the results folder."""
    ids = [a["id"] for a in load_archs(args.only)]
    procs = []
    for j in range(min(args.jobs, len(ids))):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--results", str(ROOT), "proxy", "--steps", args.steps,
               "--seeds", args.seeds, "--threads", str(args.threads), "--only", ",".join(ids[j::args.jobs])]
        if args.resolution:
            cmd += ["--resolution", str(args.resolution)]
        with (ROOT / f"proxy-job{j}.log").open("a") as log:
            procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
                                          env={**os.environ, "OMP_NUM_THREADS": str(args.threads)}))
    print(f"{len(procs)} proxy processes, progress in {ROOT}/proxy-job*.log", flush=True)
    return max(p.wait() for p in procs)


# ---------------------------------------------------------------- report math


def kendall(xs: list[float], ys: list[float]) -> float | None:
    if len(xs) < 2:
        return None
    from scipy.stats import kendalltau

    tau = float(kendalltau(xs, ys).statistic)
    return None if math.isnan(tau) else tau


def complete(acc: dict[str, dict[int, float]], seeds: list[int]) -> dict[str, dict[int, float]]:
    """The architectures that have an accuracy for every seed."""
    return {a: v for a, v in acc.items() if all(s in v and v[s] is not None for s in seeds)}


def ceiling(acc: dict[str, dict[int, float]], seeds: list[int]) -> float | None:
    """Kendall tau between two seeds over the architectures that have both (the mean over seed pairs for more)."""
    full = complete(acc, seeds)
    archs_ = sorted(full)
    taus = [kendall([full[a][s] for a in archs_], [full[a][t] for a in archs_]) for s, t in itertools.combinations(seeds, 2)]
    taus = [t for t in taus if t is not None]
    return statistics.fmean(taus) if taus else None


def difference_noise(acc: dict[str, dict[int, float]], seeds: list[int]) -> dict:
    """Seed noise of an accuracy *difference* between two architectures, paired against unpaired seeds.

    Over the architectures with every seed in ``seeds`` (n >= 2 seeds), for every pair (i, j):

    * paired: d_s = acc_i,s - acc_j,s uses the same seed s for both (same initialisation seed, data order
      and augmentation: common random numbers); its variance is the sample variance over s (ddof 1) of d_s.
    * unpaired: acc_i,s - acc_j,t with s != t, seeds drawn independently for the two architectures; its
      variance is Var_s(acc_i) + Var_s(acc_j) (each a sample variance over the seeds, ddof 1), the unbiased
      estimate of Var(acc_i,s - acc_j,t) for independent s, t. (The literal cross-seed differences
      acc_i,0 - acc_j,1 and acc_i,1 - acc_j,0 of a two-seed table share the seeds' offsets with opposite
      signs, so their own spread would count a shared per-seed offset twice.)

    Paired variance = Var_i + Var_j - 2 Cov_ij(seed): pairing removes what both architectures share
    from a seed. Each spread is pooled over pairs as the root mean variance, sqrt(mean over pairs of
    the pair's variance); the ratio is paired / unpaired (below 1: pairing helps).
    """
    full = complete(acc, seeds)
    names = sorted(full)
    out = {"archs": len(names), "pairs": 0, "seeds": list(seeds), "paired_sd": None, "unpaired_sd": None, "ratio": None}
    if len(seeds) < 2 or len(names) < 2:
        return out
    var = {a: statistics.variance([full[a][s] for s in seeds]) for a in names}
    paired, unpaired = [], []
    for i, j in itertools.combinations(names, 2):
        paired.append(statistics.variance([full[i][s] - full[j][s] for s in seeds]))
        unpaired.append(var[i] + var[j])
    p, u = math.sqrt(statistics.fmean(paired)), math.sqrt(statistics.fmean(unpaired))
    out.update(pairs=len(paired), paired_sd=p, unpaired_sd=u, ratio=p / u if u > 0 else None,
               paired_smaller_share=sum(a < b for a, b in zip(paired, unpaired, strict=True)) / len(paired))
    return out


def table_accuracies(rows: list[dict], kept: list[dict]) -> dict[str, dict[int, float]]:
    sha = {a["id"]: a["spec_sha"] for a in kept}
    acc: dict[str, dict[int, float]] = {}
    for r in rows:
        if sha.get(r["arch"]) == r["spec_sha"] and r["test_top1"] != "":
            acc.setdefault(r["arch"], {})[int(r["seed"])] = float(r["test_top1"])
    return acc


def proxy_accuracies(cache: dict, kept: list[dict]) -> dict[tuple[int, int], dict[str, dict[int, float]]]:
    """(steps, resolution) -> arch -> seed -> accuracy; a failed run (status not ok) is missing data, not a zero."""
    sha = {a["id"]: a["spec_sha"] for a in kept}
    out: dict[tuple[int, int], dict[str, dict[int, float]]] = {}
    for e in cache.values():
        if sha.get(e["arch"]) == e.get("spec_sha") and e.get("status", "ok") == "ok" and e.get("accuracy") is not None:
            out.setdefault((e["steps"], e["resolution"]), {}).setdefault(e["arch"], {})[e["seed"]] = float(e["accuracy"])
    return out


def keeps(score: dict[str, float], target: dict[str, float]) -> dict[str, float | None]:
    """How much of the table's best third an evaluator keeps when it keeps its own best third (successive
    halving's promotion at eta 3) or its best half (pruning half the space): 1/3 and 1/2 by chance."""
    names = sorted(score)
    if len(names) < 3:
        return {"keeps_third": None, "keeps_half": None}
    k = round(len(names) / 3)
    best = set(sorted(names, key=lambda a: -target[a])[:k])
    ranked = sorted(names, key=lambda a: -score[a])
    return {"keeps_third": len(best & set(ranked[:k])) / k, "keeps_half": len(best & set(ranked[:round(len(names) / 2)])) / k}


def _seeds_of(acc: dict[str, dict[int, float]]) -> list[int]:
    return sorted({s for v in acc.values() for s in v})


def _sd(values: list[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def compute_report(reference: int | None = None) -> dict:
    """The report against table.csv, or with ``reference`` steps against the proxy at that budget (all its seeds)."""
    kept = load_archs()
    path = paths()["proxy"]
    proxies = proxy_accuracies(json.loads(path.read_text()) if path.is_file() else {}, kept)
    if reference is None:
        rows = read_table()
        table = table_accuracies(rows, kept)
        budget = sorted({(r["epochs"], r["train_images"]) for r in rows})
    else:
        found = [key for key in proxies if key[0] == reference]
        if not found:
            raise Refused(f"--reference {reference}: proxy.json has no run of {reference} steps; run "
                          f"'bench_calibration.py proxy --steps {reference}' first")
        table = proxies.pop(found[0])
        budget = [(f"proxy {reference} steps", f"{found[0][1]} px")]
    seeds = _seeds_of(table)
    per_seed = {}
    for s in seeds:
        vals = [v[s] for v in table.values() if s in v]
        per_seed[str(s)] = {"archs": len(vals), "min": min(vals), "max": max(vals), "mean": statistics.fmean(vals),
                            "sd": _sd(vals)}
    full = complete(table, seeds)
    mean = {a: statistics.fmean(v[s] for s in seeds) for a, v in full.items()}
    spread = {"archs": len(full)}
    if full and len(seeds) >= 2:
        diffs = [abs(v[seeds[0]] - v[seeds[1]]) for v in full.values()]
        spread.update(mean_abs_diff=statistics.fmean(diffs), max_abs_diff=max(diffs),
                      within_sd=math.sqrt(statistics.fmean(statistics.variance([v[s] for s in seeds]) for v in full.values())),
                      between_sd_of_mean=_sd(list(mean.values())),
                      mean_min=min(mean.values()), mean_max=max(mean.values()))
    report = {"archs_in_archs_json": len(kept), "table_budget": [{"epochs": e, "train_images": n} for e, n in budget],
              "table_seeds": seeds, "per_seed": per_seed, "seed_spread": spread,
              "noise_ceiling": {"archs": len(full) if len(seeds) >= 2 else 0, "tau": ceiling(table, seeds) if len(seeds) >= 2 else None},
              "proxy": [], "difference_noise": []}
    report["reference"] = "table.csv" if reference is None else f"proxy {reference} steps"
    label = ", ".join(_budget_text(e, n) for e, n in budget) or "table"
    report["difference_noise"].append({"evaluator": f"table ({label})", **difference_noise(table, seeds)})
    for (steps, res), acc in sorted(proxies.items()):
        pseeds = _seeds_of(acc)
        both = sorted(set(complete(acc, pseeds)) & set(full))
        pmean = [statistics.fmean(acc[a][s] for s in pseeds) for a in both]
        target = [mean[a] for a in both]
        ceil = ceiling({a: full[a] for a in both}, seeds) if len(seeds) >= 2 else None
        tau = kendall(pmean, target)
        report["proxy"].append({
            "steps": steps, "resolution": res, "seeds": pseeds, "archs": len(both),
            "tau_mean": tau, "tau_per_seed": {str(s): kendall([acc[a][s] for a in both], target) for s in pseeds},
            "ceiling_same_archs": ceil, "ratio": tau / ceil if tau is not None and ceil else None,
            "proxy_seed_tau": ceiling(acc, pseeds) if len(pseeds) >= 2 else None,
            "proxy_mean_accuracy": statistics.fmean(pmean) if pmean else None,
            **keeps(dict(zip(both, pmean, strict=True)), {a: mean[a] for a in both})})
        report["difference_noise"].append({"evaluator": f"proxy {steps} steps at {res} px", **difference_noise(acc, pseeds)})
    spath = paths()["supernet"]
    report["supernet"] = []
    for name, score in sorted(supernet_accuracies(json.loads(spath.read_text()) if spath.is_file() else {}, kept).items()):
        both = sorted(set(score) & set(full))
        tau = kendall([score[a] for a in both], [mean[a] for a in both])
        ceil = ceiling({a: full[a] for a in both}, seeds) if len(seeds) >= 2 else None
        report["supernet"].append({"supernet": name, "archs": len(both), "tau": tau, "ceiling_same_archs": ceil,
                                   "ratio": tau / ceil if tau is not None and ceil else None,
                                   "mean_score": statistics.fmean(score[a] for a in both) if both else None,
                                   **keeps({a: score[a] for a in both}, {a: mean[a] for a in both})})
    return report


def _budget_text(epochs: str, images: str) -> str:
    return f"{epochs} at {images}" if str(epochs).startswith("proxy") else f"{epochs} epochs on {images} images"


def _f(x, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def render(report: dict) -> str:
    budget = ", ".join(_budget_text(b["epochs"], b["train_images"]) for b in report["table_budget"]) or "none yet"
    lines = [f"Calibration table: {report['archs_in_archs_json']} architectures in archs.json; budget {budget}.",
             "", "**(a) The table** (" + ("test top-1 on the official t10k split" if report.get("reference", "table.csv") == "table.csv"
                                          else f"the {report['reference']}' validation top-1, the search's own measure") + ")", "",
             "| seed | architectures | min | max | mean ± sd |", "|---|---|---|---|---|"]
    for s, v in report["per_seed"].items():
        lines.append(f"| {s} | {v['archs']} | {_f(v['min'])} | {_f(v['max'])} | {_f(v['mean'])} ± {_f(v['sd'])} |")
    sp = report["seed_spread"]
    if "mean_abs_diff" in sp:
        lines += ["", f"Seed-to-seed, over the {sp['archs']} architectures with both seeds: mean |difference| "
                  f"{_f(sp['mean_abs_diff'])}, max {_f(sp['max_abs_diff'])}, within-architecture sd {_f(sp['within_sd'])}; "
                  f"between-architecture sd of the mean {_f(sp['between_sd_of_mean'])} "
                  f"(range of the mean {_f(sp['mean_min'])}-{_f(sp['mean_max'])})."]
    nc = report["noise_ceiling"]
    lines += ["", f"**(b) Noise ceiling**: Kendall tau between the seeds, {nc['archs']} architectures: **{_f(nc['tau'], 3)}**", "",
              "**(c) The proxy against the table's mean** (architectures with every proxy seed and both table seeds)", "",
              "| steps | px | architectures | tau (proxy mean) | tau per proxy seed | ceiling (same archs) | ratio | proxy seed-vs-seed tau | proxy mean acc | best third kept by its best third / half |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for p in report["proxy"]:
        per = ", ".join(f"s{s} {_f(t, 3)}" for s, t in p["tau_per_seed"].items())
        lines.append(f"| {p['steps']} | {p['resolution']} | {p['archs']} | {_f(p['tau_mean'], 3)} | {per} | "
                     f"{_f(p['ceiling_same_archs'], 3)} | {_f(p['ratio'], 2)} | {_f(p['proxy_seed_tau'], 3)} | "
                     f"{_f(p['proxy_mean_accuracy'])} | {_f(p.get('keeps_third'), 2)} / {_f(p.get('keeps_half'), 2)} |")
    if report.get("supernet"):
        lines += ["", "**(c') Supernets against the table's mean** (one score per architecture: inherited weights)", "",
                  "| supernet | architectures | tau | ceiling (same archs) | ratio | mean score | best third kept by its best third / half |",
                  "|---|---|---|---|---|---|---|"]
        for p in report["supernet"]:
            lines.append(f"| {p['supernet']} | {p['archs']} | {_f(p['tau'], 3)} | {_f(p['ceiling_same_archs'], 3)} | "
                         f"{_f(p['ratio'], 2)} | {_f(p['mean_score'])} | {_f(p.get('keeps_third'), 2)} / "
                         f"{_f(p.get('keeps_half'), 2)} |")
    lines += ["", "**(d) Seed noise of a difference** (paired: same seed for both architectures; unpaired: independent "
              "seeds; sd pooled over pairs as sqrt(mean variance))", "",
              "| evaluator | architectures | pairs | paired sd | unpaired sd | ratio | pairs where pairing helps |",
              "|---|---|---|---|---|---|---|"]
    for d in report["difference_noise"]:
        share = d.get("paired_smaller_share")
        lines.append(f"| {d['evaluator']} | {d['archs']} | {d['pairs']} | {_f(d['paired_sd'])} | {_f(d['unpaired_sd'])} | "
                     f"{_f(d['ratio'], 2)} | {'-' if share is None else f'{share:.0%}'} |")
    return "\n".join(lines)


def ladder(first: int, top: int, factor: int = 3) -> list[int]:
    """The rungs' steps from ``first`` up to ``top`` (each ``factor`` x the last); refuses a ``first`` that does not reach ``top``."""
    steps = [first]
    while steps[-1] < top:
        steps.append(steps[-1] * factor)
    if steps[-1] != top:
        raise Refused(f"a first rung of {first} steps does not reach {top} by factors of {factor}")
    return steps


def schedule_cost(n: int, steps: list[int], top_seeds: int, factor: int = 3) -> int:
    """Training steps successive halving spends on ``n`` candidates: the best 1/``factor`` go on, the top rung with every seed."""
    cost, alive = 0, n
    for k, s in enumerate(steps):
        cost += alive * s * (top_seeds if k == len(steps) - 1 else 1)
        alive = math.ceil(alive / factor)
    return cost


def simulate_schedule(rungs: dict[int, dict[str, dict[int, float]]], reference: dict[str, float], steps: list[int],
                      budget: int, draws: int, seed: int, factor: int = 3) -> dict:
    """Successive halving over the table, replayed: as many candidates as ``budget`` buys, drawn from the table;
    at the lower rungs one recorded seed per candidate (drawn), at the top the mean of all; the pick's reference."""
    top_seeds = sorted({s for v in rungs[steps[-1]].values() for s in v})
    pool = sorted(a for a in reference if all(a in rungs[s] for s in steps) and
                  set(rungs[steps[-1]][a]) >= set(top_seeds))
    n = 0
    while n < len(pool) and schedule_cost(n + 1, steps, len(top_seeds), factor) <= budget:
        n += 1
    if n == 0:
        raise Refused(f"a budget of {budget} steps does not train one candidate through {steps}")
    best_three = set(sorted(pool, key=lambda a: -reference[a])[:3])
    rng = random.Random(seed)
    picks = []
    for _ in range(draws):
        alive = rng.sample(pool, n)
        for k, s in enumerate(steps):
            if k == len(steps) - 1:
                score = {a: statistics.fmean(rungs[s][a][t] for t in top_seeds) for a in alive}
                picks.append(max(alive, key=lambda a: score[a]))
            else:
                score = {a: rungs[s][a][rng.choice(sorted(rungs[s][a]))] for a in alive}
                alive = sorted(alive, key=lambda a: -score[a])[:math.ceil(len(alive) / factor)]
    best = max(reference[a] for a in pool)
    return {"rungs": steps, "candidates": n, "pool": len(pool), "cost": schedule_cost(n, steps, len(top_seeds), factor),
            "pick_reference": statistics.fmean(reference[a] for a in picks),
            "regret": statistics.fmean(best - reference[a] for a in picks),
            "best_three": sum(a in best_three for a in picks) / len(picks), "draws": draws}


def schedules(reference: int, firsts: list[int], top: int, draws: int, seed: int) -> list[dict]:
    """Each first rung at the budget of the shortest one with the whole table; written to schedules-proxyREF.json."""
    cache = json.loads(paths()["proxy"].read_text()) if paths()["proxy"].is_file() else {}
    proxies = proxy_accuracies(cache, load_archs())
    found = [key for key in proxies if key[0] == reference]
    if not found:
        raise Refused(f"no proxy runs at {reference} steps to rank against; run 'proxy --steps {reference}' first")
    accs = {steps: acc for (steps, r), acc in proxies.items() if r == found[0][1]}
    ref = {a: statistics.fmean(v.values()) for a, v in complete(accs[reference], _seeds_of(accs[reference])).items()}
    ladders = [ladder(f, top) for f in sorted(firsts)]
    missing = sorted({s for steps in ladders for s in steps} - set(accs))
    if missing:
        raise Refused(f"no proxy runs at {missing} steps; run 'proxy --steps ...' with them first")
    first = ladders[0]
    top_seeds = len({s for v in accs[top].values() for s in v})
    pool = [a for a in ref if all(a in accs[s] for s in first)]
    budget = schedule_cost(len(pool), first, top_seeds)
    rows = [simulate_schedule(accs, ref, steps, budget, draws, seed) for steps in ladders]
    write_json(ROOT / f"schedules-proxy{reference}.json", {"reference": reference, "budget": budget, "rows": rows})
    print(f"successive halving replayed on the table, each first rung at the cost of {'/'.join(map(str, first))} "
          f"over all {len(pool)} architectures ({budget} training steps); the pick ranked by the proxy at {reference} steps")
    print("| rungs | candidates | pick's reference accuracy | regret | pick in the table's best 3 |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {'/'.join(map(str, r['rungs']))} | {r['candidates']} of {r['pool']} | {r['pick_reference']:.4f} | "
              f"{r['regret']:.4f} | {r['best_three']:.2f} |")
    return rows


def report(reference: int | None = None) -> dict:
    data = compute_report(reference)
    write_json(paths()["report"] if reference is None else ROOT / f"report-proxy{reference}.json", data)
    print(render(data), flush=True)
    return data


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global ROOT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help=f"results folder (default {ROOT})")
    sub = parser.add_subparsers(dest="step", required=True)
    a = sub.add_parser("archs", help="sample the architectures; write archs.json and specs/")
    a.add_argument("--target", default="100M", help="MACs at 224 px (default 100M)")
    a.add_argument("--count", type=int, default=30)
    a.add_argument("--seed", type=int, default=2026)
    a.add_argument("--band", default="0.8,1.2", help="kept MACs: LOW*target to HIGH*target")
    a.add_argument("--space-width", default="1", help="draw from the space with its widths scaled (a multiplier, or "
                   "auto: the width effsearch baseline --space-width auto fits to --target)")
    t = sub.add_parser("train", help="train every architecture x seed missing from table.csv with 'effsearch train'")
    t.add_argument("--seeds", default="0,1")
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--train-images", type=int, default=None)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--jobs", type=int, default=1, help="trainings in parallel")
    t.add_argument("--only", default=None, help="architecture ids, e.g. a00,a01")
    x = sub.add_parser("proxy", help="the search's standalone proxy at each step budget")
    x.add_argument("--steps", default="150,450,1350")
    x.add_argument("--seeds", default="0,1")
    x.add_argument("--resolution", type=int, default=None, help="default: the data set's proxy resolution")
    x.add_argument("--threads", type=int, default=1)
    x.add_argument("--only", default=None, help="architecture ids, e.g. a00,a01")
    x.add_argument("--jobs", type=int, default=1, help="processes, each with its share of the architectures")
    n = sub.add_parser("supernet", help="train a supernet on the table's space (resumes) and score every architecture")
    n.add_argument("--epochs", type=float, default=3.0)
    n.add_argument("--rule", default="uniform", help="uniform or sandwich")
    n.add_argument("--threads", type=int, default=1)
    r = sub.add_parser("report", help="markdown tables and report.json")
    r.add_argument("--reference", type=int, default=None, help="rank against the proxy at this many steps (its "
                   "seeds' mean) instead of table.csv; written to report-proxySTEPS.json")
    h = sub.add_parser("schedules", help="replay successive halving on the table with longer first rungs at equal cost")
    h.add_argument("--reference", type=int, default=4050)
    h.add_argument("--firsts", default="150,450,1350", help="first rungs to compare")
    h.add_argument("--top", type=int, default=1350)
    h.add_argument("--draws", type=int, default=2000)
    h.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.results is not None:
        ROOT = args.results.resolve()
    if args.step == "archs":
        archs(args.target, args.count, args.seed, args.band, args.space_width)
    elif args.step == "train":
        if args.epochs < 1:
            raise Refused("--epochs must be an integer >= 1")
        return train(ints(args.seeds), args.epochs, args.train_images, args.threads, args.jobs, args.only)
    elif args.step == "proxy":
        if args.jobs > 1:
            return proxy_jobs(args)
        proxy(ints(args.steps), ints(args.seeds), args.resolution, args.threads, args.only)
    elif args.step == "supernet":
        supernet(args.epochs, args.rule, args.threads)
    elif args.step == "schedules":
        schedules(args.reference, ints(args.firsts), args.top, args.draws, args.seed)
    else:
        report(args.reference)
    return 0


if __name__ == "__main__":
    sys.exit(main())
