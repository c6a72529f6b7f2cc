"""ASHA against the full compound grid on the proxy task: the same winner (or within noise) for how much compute?

Reference run: the full grid (``--scheduler fifo``: every point trained for every epoch), run in the
same process on the same local Ray cluster, the same baseline, data, seed and budget. Then the ASHA
grid (``--scheduler asha``, rungs at grace * rf^k epochs). Reported:

* compute: epochs trained (as reported to Tune, plus at most one unreported epoch per stopped point,
  an upper bound on the work a stopped trial does before Tune stops it), the sum of per-point
  train-seconds, and the wall-clock of each grid;
* the winners: the ASHA winner's accuracy *in the full grid* against the full winner's, and the
  seed-to-seed noise of the full winner (retrained with extra seeds), so "within noise" is measured.

    .venv/bin/python benchmarks/bench_asha.py [--grid-step 0.1] [--epochs 12] [--reduction 3] [--seeds 3] [--workers 2]

The default is sized for a few minutes on 2 CPU cores: step 0.1 (21 points instead of 109), a small
MBConv baseline and a stratified subset of the digits data at 16 px.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray

from effsearch import NetSpec, count, parse_block
from effsearch.arch.scaling import proxy_resolution
from effsearch.compound.grid import GridConfig, grid_points
from effsearch.compound.settings import TuneSettings
from effsearch.compound.trainable import phi1_spec
from effsearch.compound.tune import run_grid
from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig, train_and_evaluate

BLOCKS = ("r1_k3_s11_e1_i8_o8", "r2_k3_s22_e3_i8_o16_se0.25", "r2_k5_s22_e3_i16_o24_se0.25", "r1_k3_s22_e3_i24_o32_se0.25")


def bench_baseline() -> NetSpec:
    """A small four-stage MBConv net (29M MACs at 224 px) so 21 points x 9 epochs fit in minutes."""
    return NetSpec(blocks=tuple(parse_block(b) for b in BLOCKS), stem_chs=8, head_chs=64, resolution=224,
                   num_classes=10, name="bench-net")


def run(scheduler: str, args: argparse.Namespace, baseline: NetSpec, points, data, proxy, root: Path):
    settings = TuneSettings(scheduler=scheduler, max_concurrent=args.workers, grace_period=args.grace,
                            reduction_factor=args.reduction)
    start = time.perf_counter()
    result = run_grid(baseline, points, data=data, proxy=proxy, folder=root / scheduler, settings=settings, seed=args.seed)
    return result, time.perf_counter() - start


def compute(result) -> dict[str, float]:
    rows = [r for r in result.rows if r["status"] in ("ok", "stopped")]
    stopped = sum(r["status"] == "stopped" for r in rows)
    epochs = sum(int(r["epochs"] or 0) for r in rows)
    return {"epochs": epochs, "epochs_upper": epochs + stopped, "stopped": stopped,
            "train_seconds": sum(float(r["train_seconds"] or 0) for r in rows)}


def seed_noise(baseline: NetSpec, point, data, proxy: ProxyConfig, seeds: list[int], base_res: int) -> list[float]:
    """One grid point retrained with several seeds: the noise a 'same winner' claim must beat."""
    spec = phi1_spec(baseline, point)
    config = proxy.replace(resolution=proxy_resolution(base_res, point.gamma))
    return [train_and_evaluate(spec, data, config, seed=s)["accuracy"] for s in seeds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid-step", type=float, default=0.1)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--grace", type=int, default=1)
    parser.add_argument("--reduction", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=3, help="seeds for the noise estimate (the grid's seed included)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", type=int, default=720, help="training images (stratified digits subset)")
    parser.add_argument("--val", type=int, default=360, help="validation images")
    parser.add_argument("--resolution", type=int, default=16, help="proxy resolution at phi = 0")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--keep", type=Path, default=None, help="keep both results folders here (default: a temp folder)")
    args = parser.parse_args()

    baseline = bench_baseline()
    data = load_dataset("digits", seed=args.seed).subset(train=args.train, val=args.val, seed=args.seed)
    proxy = ProxyConfig(epochs=args.epochs, resolution=args.resolution, batch_size=args.batch_size, threads=1)
    points = grid_points(GridConfig(step=args.grid_step))
    print(f"{len(points)} grid points (step {args.grid_step}), {args.epochs} epochs each, {len(data.train_y)} train / "
          f"{len(data.val_y)} val digits at {args.resolution} px, baseline {count(baseline).macs / 1e6:.1f}M MACs, "
          f"{args.workers} workers, ASHA grace {args.grace} reduction {args.reduction:g}")
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = args.keep or Path(tmp)
            full, full_wall = run("fifo", args, baseline, points, data, proxy, root)
            asha, asha_wall = run("asha", args, baseline, points, data, proxy, root)
    finally:
        ray.shutdown()
    report(args, baseline, points, data, proxy, (full, full_wall), (asha, asha_wall))


def _row(name: str, res, c: dict[str, float], wall: float, acc_full: dict[int, float]) -> str:
    w = res.best
    return (f"| {name} | {len(res.rows)} | {c['epochs']} (<= {c['epochs_upper']}) | {c['stopped']} | "
            f"{c['train_seconds']:.1f} s | {wall:.0f} s | ({w.alpha:g}, {w.beta:g}, {w.gamma:g}) | {acc_full[w.index]:.4f} |")


def report(args, baseline, points, data, proxy, full_run, asha_run) -> None:
    (full, full_wall), (asha, asha_wall) = full_run, asha_run
    cf, ca = compute(full), compute(asha)
    acc_full = {r["index"]: r["accuracy"] for r in full.rows}
    print("\n| grid | points | epochs trained | stopped early | sum of train-seconds | wall-clock | winner (alpha, beta, gamma) | its full-grid accuracy |")
    print("|---|---|---|---|---|---|---|---|")
    print(_row("full (fifo, reference)", full, cf, full_wall, acc_full))
    print(_row("ASHA", asha, ca, asha_wall, acc_full))
    print(f"\nASHA / full: epochs {ca['epochs'] / cf['epochs']:.3f} (upper bound {ca['epochs_upper'] / cf['epochs']:.3f}), "
          f"train-seconds {ca['train_seconds'] / cf['train_seconds']:.3f}, wall-clock {asha_wall / full_wall:.3f}")
    ranked = sorted((i for i in acc_full if acc_full[i] is not None), key=lambda i: -acc_full[i])
    asha_rows = {r["index"]: r for r in asha.rows}
    top = ", ".join(f"#{k + 1} {acc_full[i]:.4f} ({asha_rows[i]['status']} at {asha_rows[i]['epochs']})" for k, i in enumerate(ranked[:5]))
    print(f"full-grid top 5 and what ASHA did with them: {top}")
    verdict(args, baseline, data, proxy, full.best, asha.best, ranked)


def verdict(args, baseline, data, proxy, wf, wa, ranked) -> None:
    """Same winner, or the two winners retrained with the same seeds: is the gap within seed noise?"""
    seeds = [args.seed + i for i in range(args.seeds)]
    nf = seed_noise(baseline, wf, data, proxy, seeds, args.resolution)
    print(f"full winner retrained with seeds {seeds}: {', '.join(f'{a:.4f}' for a in nf)} "
          f"(mean {statistics.mean(nf):.4f}, sd {statistics.stdev(nf):.4f})")
    if wf.index == wa.index:
        print("verdict: same winner")
        return
    na = seed_noise(baseline, wa, data, proxy, seeds, args.resolution)
    gap = statistics.mean(nf) - statistics.mean(na)
    se = (statistics.variance(nf) / len(nf) + statistics.variance(na) / len(na)) ** 0.5
    print(f"ASHA winner retrained with seeds {seeds}: {', '.join(f'{a:.4f}' for a in na)} "
          f"(mean {statistics.mean(na):.4f}, sd {statistics.stdev(na):.4f})")
    print(f"verdict: different winner (rank {ranked.index(wa.index) + 1} of {len(ranked)} in the full grid); "
          f"seed-mean gap {gap:+.4f}, {'within' if gap <= 2 * se else 'NOT within'} 2 standard errors ({2 * se:.4f})")


if __name__ == "__main__":
    main()
