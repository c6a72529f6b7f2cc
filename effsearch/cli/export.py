"""``effsearch export DIR``: the deployment files of a finished training, each checked by its consumer."""

from __future__ import annotations

import argparse
import json

from effsearch.cli.common import add_command, console

EXAMPLES = """
  effsearch export results/trained/baseline-400M-fashion-mnist            torch.export, ONNX and timm files
  effsearch export results/trained/b0 --format onnx                         ONNX only
  python -c "import effsearch; m = effsearch.load_trained('results/trained/b0')"   the model back in Python
"""


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from effsearch.export.files import FORMATS

    parser = add_command(
        sub, "export", help="write a trained network's deployment files (torch.export, ONNX, timm)",
        description="Write DIR/export/ for a training finished by 'effsearch train': model.pt2 (torch.export, dynamic "
        "batch), model.onnx (run in onnxruntime and compared with PyTorch's outputs) and timm/ (timm's state-dict names "
        "and the arch_def that rebuilds the network in timm, when timm builds the same network). export.json says how "
        "to prepare inputs.", examples=EXAMPLES,
    )
    parser.add_argument("folder", metavar="DIR", help="a folder written by 'effsearch train'")
    parser.add_argument("--format", dest="formats", action="append", choices=FORMATS, default=None,
                        help="one format (repeat for several; default all)")
    parser.add_argument("--json", action="store_true", help="print export.json's contents as one JSON object")
    return parser


def run(args: argparse.Namespace) -> int:
    from effsearch.export import export_model
    from effsearch.export.files import timm_not_written

    record = export_model(args.folder, **({"formats": tuple(dict.fromkeys(args.formats))} if args.formats else {}))
    if args.json:
        print(json.dumps(record, default=str))
        return 0
    show = console()
    for fmt, name in record["files"].items():
        diff = record.get(f"{fmt}_max_abs_diff")
        checked = f" (outputs within {diff:.1e} of PyTorch's)" if diff is not None else ""
        show.print(f"{fmt}: {args.folder}/export/{name}{checked}", highlight=False, soft_wrap=True)
    timm = record.get("timm")
    if timm and not timm["written"]:
        show.print(f"timm: {timm_not_written(timm)}", highlight=False, soft_wrap=True)
    return 0
