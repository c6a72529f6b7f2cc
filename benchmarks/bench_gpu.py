"""The CUDA paths against the CPU path, in one process: proxy throughput, its switches, and workers sharing the GPU.

Reference: the CPU path as a search runs it here by default (the proxy trainer on every core, the
layer path ``auto`` picks). Measured on the GPU, each with the proxy trainer itself
(:func:`effsearch.proxy.train_and_evaluate`, EfficientNet-B0 adapted to the input size):

* the default (data resident on the GPU, channels_last, bf16 autocast where supported);
* without autocast, and without channels_last, so each switch's share is visible (the defaults
  stay on only where they are faster);
* 1, 2 and 4 worker processes sharing the GPU (:func:`effsearch.engine.parallel.measure_layout`:
  reference steps per second of all workers together), which is what ``--workers auto`` chooses from.

    python benchmarks/bench_gpu.py                      # Fashion-MNIST at 28 px, batch 256
    python benchmarks/bench_gpu.py --dataset digits --batch-size 64 --steps 100

Without a GPU it says so in one line and exits 0.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import sys

import torch

from effsearch import load_spec
from effsearch.data import load_dataset
from effsearch.engine.parallel import measure_layout
from effsearch.proxy import ProxyConfig, train_and_evaluate


def images_per_s(data, config: ProxyConfig) -> float:
    metrics = train_and_evaluate(load_spec("efficientnet-b0"), data, config, seed=0)
    if metrics["status"] != "ok":
        raise SystemExit(f"bench_gpu: training failed: {metrics['reason']}")
    return float(metrics["images_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--cpu-steps", type=int, default=20, help="steps of the CPU reference (it is slow)")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu: no CUDA GPU here (torch sees none); nothing to measure")
        return
    data = load_dataset(args.dataset)
    base = ProxyConfig(steps=args.steps, batch_size=args.batch_size)
    print(f"GPU: {torch.cuda.get_device_name(0)}; {args.dataset}, EfficientNet-B0 proxy, batch {args.batch_size}")
    cpu = images_per_s(data, base.replace(device="cpu", steps=args.cpu_steps))
    rows = [("CPU path (reference, all cores)", cpu)]
    for name, changes in (("GPU default (resident data, channels_last, autocast)", {}),
                          ("  without autocast (fp32)", {"amp": False}),
                          ("  without channels_last", {"channels_last": False})):
        rows.append((name, images_per_s(data, base.replace(device="cuda", **changes))))
    print("\n| path | images/s | vs CPU |\n|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:,.0f} | {rate / cpu:.1f}x |")
    resolution = data.default_resolution
    print("\n| workers sharing the GPU | reference steps/s (all workers) | vs 1 worker |\n|---|---|---|")
    one = None
    for workers in (1, 2, 4):
        rate = measure_layout(workers, 1, kernels="auto", resolution=resolution, batch=args.batch_size, device="cuda")
        one = one or rate
        print(f"| {workers} | {rate:.1f} | {rate / one:.2f}x |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
