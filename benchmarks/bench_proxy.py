"""Proxy training throughput: effsearch's trainer against a plain PyTorch loop, same model, same process.

The reference is the loop a user would write: a ``DataLoader`` over a ``TensorDataset`` of
normalised float32 images, an NCHW fp32 model, and the standard step (forward, cross-entropy,
``zero_grad``, backward, SGD step). effsearch's side is :func:`effsearch.proxy.train_and_evaluate`
itself, with its defaults, plus variants with single optimisations switched off so each one's share
is visible. Both train efficientnet-b0 as adapted for the proxy (``adapt_for_proxy``) on the same
data with the same batch size, learning rate and thread count. Runs are interleaved (reference,
trainer, variants, reference, ...) so a busy machine slows all of them alike; the ratio is the
median of per-round ratios.

Achieved model FLOP/s counts training as 3x the forward pass (forward, input and weight gradients)
at 2 FLOPs per multiply-accumulate, with forward MACs from ``effsearch.count`` at the proxy
resolution, and is given as a fraction of the processor's fp32 peak derived from lscpu (see
:func:`fp32_peak`).

    python benchmarks/bench_proxy.py                       # efficientnet-b0 on digits, proxy defaults
    python benchmarks/bench_proxy.py --steps 20 --rounds 5 --threads 1
"""

from __future__ import annotations

import os

# As the effsearch command does: waiting OpenMP threads sleep rather than spin (must precede torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import itertools
import re
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from effsearch import count, load_spec
from effsearch.arch.builder import build_model
from effsearch.arch.spec import NetSpec
from effsearch.data import Dataset, load_dataset
from effsearch.data.split import normalise
from effsearch.engine.latency import processor_name
from effsearch.proxy import ProxyConfig, adapt_for_proxy, default_threads, train_and_evaluate

VARIANTS = {
    "effsearch trainer (kernels fused)": {"kernels": "fused"},
    "  kernels fast (no fused batch norm)": {"kernels": "fast"},
    "  kernels torch (PyTorch's layers)": {"kernels": "torch"},
    "  kernels torch, without channels_last": {"kernels": "torch", "channels_last": False},
}


def reference_images_per_s(spec: NetSpec, data: Dataset, config: ProxyConfig, steps: int, seed: int) -> float:
    """A plain NCHW fp32 loop with a DataLoader, timed like the trainer (first step to last)."""
    torch.manual_seed(seed)
    model = build_model(spec)
    x = normalise(data.train_x, data.mean, data.std, data.scale)  # pre-normalised floats, as usual
    loader = DataLoader(TensorDataset(x, data.train_y), batch_size=config.batch_size, shuffle=True, drop_last=True)
    opt = torch.optim.SGD(model.parameters(), lr=config.base_lr, momentum=config.momentum, nesterov=True,
                          weight_decay=config.weight_decay)
    model.train()
    start = time.perf_counter()
    batches = itertools.chain.from_iterable(itertools.repeat(loader))
    for xb, yb in itertools.islice(batches, steps):
        loss = F.cross_entropy(model(xb), yb, label_smoothing=config.label_smoothing)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * config.batch_size / (time.perf_counter() - start)


def trainer_images_per_s(spec: NetSpec, data: Dataset, config: ProxyConfig, steps: int, seed: int) -> float:
    result = train_and_evaluate(spec, data, config.replace(epochs=None, steps=steps), seed=seed)
    if result["status"] != "ok":
        raise SystemExit(f"trainer failed: {result['reason']}")
    return result["images_per_s"]


def lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def fp32_peak(threads: int) -> tuple[float, str]:
    """Peak fp32 FLOP/s of ``threads`` cores: cores x GHz x FLOPs per cycle per core.

    FLOPs/cycle = SIMD fp32 lanes x 2 (fused multiply-add) x FMA units. lscpu shows the ISA (AVX-512:
    16 lanes, AVX2: 8) but not the FMA unit count: we assume 2, as on Xeon Scalable Gold/Platinum
    and recent client cores (1-FMA parts have half this peak). The clock is lscpu's max MHz when it
    has one, else the GHz in the model name, else BogoMIPS / 2 (the TSC rate under KVM); turbo
    clocks above it are not counted, so the true peak may be higher.
    """
    info = lscpu()
    flags = info.get("Flags", "")
    lanes, isa = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2") if "avx2" in flags else (4, "SSE")
    fma_units = 2 if "fma" in flags or lanes == 16 else 1
    ghz, source = None, ""
    if info.get("CPU max MHz"):
        ghz, source = float(info["CPU max MHz"]) / 1000, "lscpu max MHz"
    elif m := re.search(r"@\s*([\d.]+)\s*GHz", info.get("Model name", "")):
        ghz, source = float(m.group(1)), "model name"
    elif info.get("BogoMIPS"):
        ghz, source = float(info["BogoMIPS"]) / 2000, "BogoMIPS/2"
    ghz = ghz or 2.0
    per_cycle = lanes * 2 * fma_units
    peak = threads * ghz * 1e9 * per_cycle
    text = (f"{threads} cores x {ghz:.2f} GHz ({source or 'assumed'}) x {per_cycle} FLOPs/cycle "
            f"({isa}: {lanes} fp32 lanes x 2 (FMA) x {fma_units} FMA units, assumed) = {peak / 1e9:.1f} GFLOP/s")
    return peak, text


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="efficientnet-b0")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--resolution", type=int, default=None, help="proxy resolution (default: the data set's)")
    p.add_argument("--batch-size", type=int, default=None, help="default: ProxyConfig's")
    p.add_argument("--steps", type=int, default=25, help="training steps per timed run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median ratio reported)")
    p.add_argument("--threads", type=int, default=None, help="default: the trainer's choice")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = load_dataset(args.dataset)
    threads = args.threads or default_threads()
    config = ProxyConfig(threads=threads, **({"batch_size": args.batch_size} if args.batch_size else {}),
                         **({"resolution": args.resolution} if args.resolution else {}))
    res = config.resolution or data.default_resolution
    proxy_data = data.resized(res)
    spec = load_spec(args.model)
    proxy_spec = adapt_for_proxy(spec, res, num_classes=data.num_classes, in_chans=data.in_chans)
    # The reference trains exactly the network the trainer trains (no dropout / drop-path, as the proxy).
    ref_spec = proxy_spec.replace(dropout=config.dropout or 0.0, drop_connect=config.drop_connect or 0.0)
    torch.set_num_threads(threads)
    rates: dict[str, list[float]] = {"reference (DataLoader, NCHW fp32)": []}
    rates.update({name: [] for name in VARIANTS})
    for _ in range(args.rounds):
        rates["reference (DataLoader, NCHW fp32)"].append(reference_images_per_s(ref_spec, proxy_data, config, args.steps, args.seed))
        for name, changes in VARIANTS.items():
            rates[name].append(trainer_images_per_s(spec, data, config.replace(**changes), args.steps, args.seed))
    report(args, rates, proxy_spec, threads, config)
    return 0


def report(args: argparse.Namespace, rates: dict[str, list[float]], proxy_spec: NetSpec, threads: int, config: ProxyConfig) -> None:
    ref = rates["reference (DataLoader, NCHW fp32)"]
    macs = count(proxy_spec).macs
    peak, peak_text = fp32_peak(threads)
    print(f"# {args.model} at {proxy_spec.resolution}px proxy ({macs / 1e6:.1f}M MACs forward), {args.dataset}, "
          f"batch {config.batch_size}, {args.steps} steps x {args.rounds} rounds, {threads} thread(s), "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    from effsearch.engine.kernels import resolve_kernels

    print(f"# processor: {processor_name()}; torch {torch.__version__}; "
          f"kernels auto resolves to {resolve_kernels('auto', 'cpu', threads)} here")
    print(f"# fp32 peak: {peak_text}")
    print("| loop | images/s (median) | per round | vs reference (median of rounds) | model GFLOP/s | of fp32 peak |")
    print("|---|---:|---|---:|---:|---:|")
    for name, values in rates.items():
        ratio = statistics.median(v / r for v, r in zip(values, ref, strict=True))
        flops = statistics.median(values) * 3 * macs * 2
        print(f"| {name.strip()} | {statistics.median(values):.0f} | {', '.join(f'{v:.0f}' for v in values)} | "
              f"{ratio:.2f}x | {flops / 1e9:.1f} | {flops / peak:.1%} |")
    print(f"# command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")


if __name__ == "__main__":
    sys.exit(main())
