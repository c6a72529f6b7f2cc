"""``effsearch evaluate SPEC``: train one spec on the proxy task and print its validation accuracy.

The same trainer the searches call, so this is how a found baseline is checked or retrained with a
longer budget (``--epochs 30``). Exit status 1 when the training failed (diverged, out of memory).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from effsearch.cli.common import (
    add_command,
    add_proxy_args,
    add_spec_overrides,
    apply_spec_overrides,
    console,
    dataset_from_args,
    proxy_config_from_args,
)

EXAMPLES = """
  effsearch evaluate efficientnet-b0                       digits, default proxy budget (seconds on a CPU)
  effsearch evaluate mnasnet-a1 --epochs 10 --seed 1 --json
  effsearch evaluate results/demo --epochs 30     retrain a found baseline for longer
  effsearch evaluate my_net.yaml --dataset cifar10:/data/cifar10 --epochs 5 --latency
  effsearch evaluate efficientnet-b0 --dataset folder:~/pets --proxy-resolution 32 --seconds 60
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = add_command(
        sub, "evaluate", help="train one spec on the proxy task and report validation accuracy",
        description="Train SPEC (a preset, a spec file or a results folder) on the proxy data set and report "
        "validation top-1, throughput and cost. Cost (params, MACs) is at the deployment resolution; the proxy "
        "trains the network adapted to its small images (see docs/proxy.md).", examples=EXAMPLES,
    )
    parser.add_argument("spec", metavar="SPEC", help="preset name, spec YAML/JSON file, or results folder")
    add_spec_overrides(parser)
    add_proxy_args(parser)
    parser.add_argument("--latency", action="store_true", help="also measure CPU latency at batch 1, deployment resolution")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    from effsearch.arch.specio import load_spec
    from effsearch.engine.device import resolve_device
    from effsearch.proxy import train_and_evaluate

    spec = apply_spec_overrides(load_spec(args.spec), args)
    config = proxy_config_from_args(args)
    resolve_device(config.device)  # a device that is not there is bad input, not a failed training
    data = dataset_from_args(args)
    result: dict[str, Any] = {"name": spec.name, **train_and_evaluate(spec, data, config, seed=args.seed)}
    if args.latency and result["status"] == "ok":
        from effsearch.engine.latency import measure_latency

        lat = measure_latency(spec, threads=config.threads)
        result.update(latency_ms=lat["latency_ms"], latency=lat)
    result["data"] = data.describe()
    result["config"] = config.to_dict()
    if args.json:
        print(json.dumps(result, default=str))
    else:
        console().print(_table(result))
    return 0 if result["status"] == "ok" else 1


def _table(result: dict[str, Any]):
    from rich.table import Table

    from effsearch.units import format_count

    data = result["data"]
    title = f"{result['name'] or 'spec'} on {data['name']}: {result['status']}"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("data", f"{data['train']} train / {data['val']} val images, proxy at {result['proxy_resolution']}px"),
        ("validation top-1", f"{result['accuracy']:.4f}"),
        ("validation loss", "" if result["loss"] is None else f"{result['loss']:.4f}"),
        ("epochs / steps", f"{result['epochs']:g} / {result['steps']}"),
        ("train seconds", f"{result['train_seconds']:.2f}"),
        ("images/s", f"{result['images_per_s']:.0f}"),
        ("params / MACs (deploy)", f"{format_count(result['params'])} / {format_count(result['macs'])} at {result['resolution']}px"),
        ("params / MACs (proxy)", f"{format_count(result['proxy_params'])} / {format_count(result['proxy_macs'])} at {result['proxy_resolution']}px"),
        ("device / threads / kernels", f"{result['device']} / {result['threads']} / {result.get('kernels')}"),
    ]
    if "latency_ms" in result:
        rows.append(("latency (batch 1)", f"{result['latency_ms']:.2f} ms on {result['latency']['threads']} thread(s)"))
    if result["reason"]:
        rows.append(("reason", result["reason"]))
    for name, value in rows:
        table.add_row(name, value)
    return table
