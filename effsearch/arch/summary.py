"""Readable summaries of a spec: a JSON-able dict and a rich table (compute first, then draw)."""

from __future__ import annotations

from typing import Any

from effsearch.arch.blockstring import format_block
from effsearch.arch.cost import count
from effsearch.arch.ops import get_op
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.arch.timmcompat import timm_export, timm_fields
from effsearch.units import format_count


def _part(spec: NetSpec, name: str) -> tuple[str, int | None, int, int]:
    """(op, kernel, stride, out_chs) of a part that is not a stage."""
    if name == "stem":
        return "conv", spec.stem_kernel, spec.stem_stride, spec.stem_chs
    if name == "pool":
        return "maxpool", 3, 2, spec.stem_chs
    if name == "head":  # the head conv (if any) and the global average pool
        return ("conv", 1, 1, spec.head_chs) if spec.head_chs else ("avgpool", None, 1, spec.num_features)
    return "linear", 1, 1, spec.num_classes


def _shortcut(b: BlockSpec) -> str:
    """``id`` where the stage's layers may add their input, ``proj`` where the first adds it through a 1x1 conv + BN."""
    if not b.skip or get_op(b.op).shortcut == "none":
        return "none"
    return "proj" if b.has_projection else "id"


def stage_rows(spec: NetSpec, resolution: int | None = None) -> list[dict[str, Any]]:
    """One row per part of the network (stem, stem pool, stages, head, classifier) with its cost."""
    rows = []
    for stage in count(spec, resolution).stages:
        b = stage.block
        op, kernel, stride, out_chs = (b.op, b.kernel_size, b.stride, b.out_chs) if b else _part(spec, stage.name)
        rows.append({
            "name": stage.name,
            "op": op,
            "kernel": kernel,
            "stride": stride,
            "exp_ratio": b.exp_ratio if b else None,
            "se_ratio": b.se_ratio if b else None,
            "skip": b.skip if b else None,
            "shortcut": _shortcut(b) if b else None,
            "in_chs": b.in_chs if b else None,
            "out_chs": out_chs,
            "repeats": b.repeats if b else 1,
            "in_size": stage.in_size,
            "out_size": stage.out_size,
            "params": stage.params,
            "macs": stage.macs,
            "block": format_block(b) if b else None,
        })
    return rows


def spec_summary(spec: NetSpec, resolution: int | None = None) -> dict[str, Any]:
    cost = count(spec, resolution)
    return {
        "name": spec.name,
        "params": cost.params,
        "macs": cost.macs,
        "resolution": cost.resolution,
        "num_classes": spec.num_classes,
        "blocks": [format_block(b) for b in spec.blocks],
        **timm_fields(spec),
        "stages": stage_rows(spec, resolution),
    }


def spec_table(spec: NetSpec, resolution: int | None = None):
    from rich.table import Table

    cost = count(spec, resolution)
    title = f"{spec.name or 'spec'} at {cost.resolution}px: {format_count(cost.params)} params, {format_count(cost.macs)} MACs"
    differs = timm_export(spec).differs
    caption = f"timm arch_def does not rebuild this network: {'; '.join(differs)}" if differs else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for col in ("stage", "op", "k", "s", "e", "SE", "skip", "channels", "r", "feature map", "params", "MACs"):
        table.add_column(col, justify="left" if col in ("stage", "op", "channels", "skip") else "right")
    for row in stage_rows(spec, resolution):
        chans = f"{row['in_chs']}->{row['out_chs']}" if row["in_chs"] else str(row["out_chs"])
        table.add_row(
            row["name"], row["op"], "" if row["kernel"] is None else str(row["kernel"]), str(row["stride"]),
            "" if row["exp_ratio"] is None else f"{row['exp_ratio']:g}",
            "" if not row["se_ratio"] else f"{row['se_ratio']:g}",
            row["shortcut"] or "",
            chans, str(row["repeats"]), f"{row['in_size']}->{row['out_size']}",
            format_count(row["params"]), format_count(row["macs"]),
        )
    table.add_section()
    table.add_row("total", "", "", "", "", "", "", "", str(spec.num_layers), "", format_count(cost.params), format_count(cost.macs))
    return table
