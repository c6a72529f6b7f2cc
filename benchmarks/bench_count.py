"""Analytic cost model vs fvcore on efficientnet-b0 at 224, side by side in one process.

Reference run: fvcore's FlopCountAnalysis (trace + count) on the built model, which is what a user
would otherwise do. Both give the same MACs; the ratio of their times is the figure reported.

    .venv/bin/python benchmarks/bench_count.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from fvcore.nn import FlopCountAnalysis

from effsearch import build_model, count, get_preset


def time_fvcore(spec, model=None) -> tuple[float, int]:
    start = time.perf_counter()
    model = model if model is not None else build_model(spec).eval()
    analysis = FlopCountAnalysis(model, torch.zeros(1, 3, spec.resolution, spec.resolution))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with torch.no_grad():
        macs = int(analysis.total())
    return time.perf_counter() - start, macs


def time_analytic(spec, loops: int) -> tuple[float, int]:
    start = time.perf_counter()
    for _ in range(loops):
        macs = count(spec).macs
    return (time.perf_counter() - start) / loops, macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    spec = get_preset("efficientnet-b0")
    fv = [time_fvcore(spec) for _ in range(args.repeats)]
    built = build_model(spec).eval()
    fv_only = [time_fvcore(spec, built) for _ in range(args.repeats)]
    an = [time_analytic(spec, 2000) for _ in range(args.repeats)]
    fv_s, an_s = statistics.median(t for t, _ in fv), statistics.median(t for t, _ in an)
    fv_only_s = statistics.median(t for t, _ in fv_only)
    print(f"efficientnet-b0 @224: fvcore {fv[0][1]:,} MACs in {fv_s * 1e3:.1f} ms (build + trace + count)")
    print(f"efficientnet-b0 @224: fvcore on a pre-built model {fv_only_s * 1e3:.1f} ms (trace + count)")
    print(f"efficientnet-b0 @224: effsearch.count {an[0][1]:,} MACs in {an_s * 1e6:.1f} us")
    print(f"MACs agree: {fv[0][1] == an[0][1]}")
    print(f"speed-up vs fvcore (build + count): {fv_s / an_s:,.0f}x; vs fvcore (count only): {fv_only_s / an_s:,.0f}x (target >= 1000x)")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
