"""Does the proxy separate architectures, and what does each training choice do? The tables of docs/proxy.md.

Two tables, both validation top-1 on the embedded digits data with the trainer's defaults unless
said otherwise (``train_and_evaluate``, the same code as ``effsearch evaluate``):

* ``--table separation``: efficientnet-b0, mnasnet-a1 and a deliberately poor network
  (``benchmarks/specs/tiny-conv.yaml``) at proxy inputs of 8, 16 (the default) and 32 px, over
  seeds, with the mean and the training seconds of B0.
* ``--table recipe``: one setting changed from the defaults at a time (16 px, seed 0), for B0 and
  MnasNet-A1, so the effect of each choice is visible next to the defaults' own row.

Accuracies are deterministic for a given thread count on CPU; the seconds depend on the machine.

    python benchmarks/bench_proxy_quality.py --table separation --seeds 0 1 2
    python benchmarks/bench_proxy_quality.py --table recipe
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from effsearch import load_spec
from effsearch.data import load_dataset
from effsearch.proxy import ProxyConfig, train_and_evaluate

POOR = str(Path(__file__).with_name("specs") / "tiny-conv.yaml")
NETWORKS = {"efficientnet-b0": "efficientnet-b0", "mnasnet-a1": "mnasnet-a1", "tiny-conv": POOR}
RECIPE = {
    "none (the defaults)": {},
    "batch-norm momentum 0.01 (the spec's)": {"bn_momentum": None},
    "residual batch norm not zero-initialised": {"zero_init_residual": False},
    "no gradient clipping": {"grad_clip": None},
    "AdamW, peak lr 0.004 x batch/128": {"optimizer": "adamw"},
    "AdamW, peak lr 0.001": {"optimizer": "adamw", "lr": 0.001},
    "label smoothing 0.1": {"label_smoothing": 0.1},
    "the spec's dropout 0.2 and drop-path 0.2 kept": {"dropout": None, "drop_connect": None},
    "1.5 epochs": {"epochs": 1.5},
    "3 epochs": {"epochs": 3},
}


def accuracy(name: str, data, config: ProxyConfig, seed: int) -> tuple[float, float]:
    result = train_and_evaluate(load_spec(NETWORKS[name]), data, config, seed=seed)
    if result["status"] != "ok":
        print(f"# {name} seed {seed}: {result['reason']}", file=sys.stderr)
    return result["accuracy"], result["train_seconds"]


def separation(data, seeds: list[int], resolutions: list[int]) -> None:
    print("| proxy input | " + " | ".join(f"{n} (seeds {', '.join(map(str, seeds))}; mean)" for n in NETWORKS)
          + " | B0 train seconds |")
    print("|---|" + "---|" * (len(NETWORKS) + 1))
    for res in resolutions:
        cells, b0_seconds = [], []
        for name in NETWORKS:
            runs = [accuracy(name, data, ProxyConfig(resolution=res), seed) for seed in seeds]
            accs = [a for a, _ in runs]
            cells.append(f"{' / '.join(f'{a:.3f}' for a in accs)}; **{statistics.mean(accs):.3f}**")
            if name == "efficientnet-b0":
                b0_seconds = [s for _, s in runs]
        print(f"| {res} px | " + " | ".join(cells) + f" | {statistics.median(b0_seconds):.1f} |", flush=True)


def recipe(data, seed: int) -> None:
    print("| change from the defaults | efficientnet-b0 | mnasnet-a1 |")
    print("|---|---|---|")
    for label, changes in RECIPE.items():
        accs = [accuracy(name, data, ProxyConfig().replace(**changes), seed)[0] for name in ("efficientnet-b0", "mnasnet-a1")]
        print(f"| {label} | {accs[0]:.3f} | {accs[1]:.3f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", choices=("separation", "recipe"), default="separation")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--resolutions", type=int, nargs="+", default=[8, 16, 32])
    args = p.parse_args(argv)
    data = load_dataset("digits")
    if args.table == "separation":
        separation(data, args.seeds, args.resolutions)
    else:
        recipe(data, args.seeds[0])
    print(f"# command: python {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
