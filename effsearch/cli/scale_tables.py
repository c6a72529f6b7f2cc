"""The tables ``effsearch scale`` prints: the grid, the family (with trained accuracy) and the comparison."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.table import Table

    from effsearch.compound.family import Family
    from effsearch.compound.tune import GridResult


def grid_table(result: GridResult, top: int = 10) -> Table:
    from rich.table import Table

    from effsearch.compound.plan import SAME_NETWORK
    from effsearch.units import format_count

    rows = [r for r in result.rows if r["accuracy"] is not None]
    rows.sort(key=lambda r: (not r["selected"], r["status"] != "ok", -float(r["accuracy"]), r["macs"] or 0))
    counts = {s: sum(r["status"] == s for r in result.rows) for s in ("ok", "stopped", "failed", "skipped", "pending")}
    shared = sum(str(r.get("reason") or "").startswith(SAME_NETWORK) for r in result.rows)
    seeds = max((int(r.get("seeds") or 1) for r in result.rows), default=1)
    label = {"skipped": "over budget, not trained"}
    title = (f"grid at phi = 1: {len(result.rows)} points ("
             + ", ".join(f"{n} {label.get(s, s)}" for s, n in counts.items() if n) + ")"
             + (f"; {shared} shared another point's network and were trained once" if shared else "")
             + (f"; accuracy: mean of {seeds} seeds" if seeds > 1 else ""))
    table = Table(title=title, title_justify="left")
    for col in ("", "alpha", "beta", "gamma", "a*b^2*g^2", "accuracy", "epochs", "MACs", "params", "status"):
        table.add_column(col, justify="left" if col in ("", "status") else "right")
    for r in rows[:top]:
        table.add_row(
            "*" if r["selected"] else "", f"{r['alpha']:g}", f"{r['beta']:g}", f"{r['gamma']:g}", f"{r['flops_ratio']:.3f}",
            _accuracy(r), str(r["epochs"]), format_count(r["macs"]), format_count(r["params"]), _status(r),
        )
    return table


def _accuracy(row: dict[str, Any]) -> str:
    """The mean, and over several seeds their SD: what tells a real difference from the seeds' own."""
    sd = row.get("accuracy_sd")
    return f"{row['accuracy']:.4f}" + (f" ± {sd:.4f}" if (row.get("seeds") or 1) > 1 and sd is not None else "")


def _status(row: dict[str, Any]) -> str:
    from effsearch.compound.plan import OVER_BUDGET, SAME_NETWORK

    # A more accurate point above the selected one needs its reason on the line: its counted MACs.
    reason = str(row.get("reason") or "")
    if row["status"] == "ok" and reason.startswith(OVER_BUDGET):
        return f"ok, {OVER_BUDGET}"
    if reason.startswith(SAME_NETWORK):
        return f"{row['status']}, as point {reason[len(SAME_NETWORK):].split()[0]}"
    return row["status"]


def family_table(family: Family, trained: list[dict[str, Any]] | None = None) -> Table:
    from rich.table import Table

    from effsearch.compound.family import growth
    from effsearch.units import format_count

    accuracy = _accuracy_by_name(trained)
    rule = "official B0..B7 table" if family.rule == "official" else (
        f"alpha={family.alpha:g} beta={family.beta:g} gamma={family.gamma:g}")
    table = Table(title=f"family of {family.baseline.name or 'the baseline'} ({rule})", title_justify="left")
    latency = any(m.latency_ms is not None for m in family.members)
    targets = any(m.target is not None for m in family.members)
    cols = ["phi", "name", "depth", "width", "res", "stage channels", "repeats", "params", "MACs", "x/step"]
    for col in [*cols, *(["latency"] if latency else []), *(["target (cost/target, next)"] if targets else []),
                *(["train px", "test top-1"] if accuracy else [])]:
        table.add_column(col, justify="left" if col in ("name", "stage channels", "repeats") else "right")
    for m, step in zip(family.members, growth(family), strict=True):
        row = [f"{m.phi:g}", m.name, f"{m.depth:.3f}", f"{m.width:.3f}", str(m.resolution), " ".join(map(str, m.channels)),
               " ".join(map(str, m.repeats)), format_count(m.params), format_count(m.macs), "" if step is None else f"{step:.2f}"]
        if latency:
            row.append("" if m.latency_ms is None else f"{m.latency_ms:.1f} ms")
        if targets:
            row.append(_target_cell(m.target))
        if accuracy:
            row += accuracy.get(m.name, ["", ""])
        table.add_row(*row)
    return table


def _target_cell(target: dict[str, Any] | None) -> str:
    """``1.8G MACs: 0.91x, next 1.03x``: how close the rounding rules let the member come to its budget."""
    from effsearch.units import format_count

    if target is None:
        return ""
    unit = {"macs": " MACs", "params": " params", "latency_ms": " ms"}.get(target["objective"], "")
    value = f"{target['value']:g}" if target["objective"] == "latency_ms" else format_count(target["value"])
    after = f", next {target['next_cost'] / target['value']:.2f}x" if target.get("next_cost") else ""
    return f"{value}{unit}: {target['ratio']:.2f}x{after}"


def _accuracy_by_name(rows: list[dict[str, Any]] | None) -> dict[str, list[str]]:
    """Member name -> [training side, mean test top-1 (± std over seeds)] of ``train_members``' rows."""
    from effsearch.compound.trained import trained_entry

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows or []:
        groups.setdefault(row["name"], []).append(row)
    return {name: [str(e["train_resolution"]), _mean_std(e["test_accuracy"], e["test_accuracy_std"])]
            for name, e in ((n, trained_entry(g)) for n, g in groups.items())}


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "-"
    return f"{mean:.4f}" if std is None else f"{mean:.4f} ± {std:.4f}"


def compare_table(document: dict[str, Any]) -> Table:
    """compare.json as a table: one row per variant and phi with its MACs, match, and test top-1 over seeds."""
    from rich.table import Table

    from effsearch.compound.verdict import LABELS
    from effsearch.units import format_count

    summary = {(s["variant"], s["phi"]): s for s in document.get("summary") or []}
    data = (document.get("data") or {}).get("name", "the data")
    table = Table(title=f"compound against single-dimension scaling on {data} (test top-1 over seeds)", title_justify="left")
    for col in ("phi", "variant", "width", "depth", "res", "train px", "MACs", "MAC match", "test top-1", "n"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for v in document.get("variants") or []:
        s = summary.get((v["variant"], v["phi"]), {})
        match = "" if v["variant"] in ("baseline", "compound") else f"{100 * v['macs_mismatch']:+.1f}%"
        table.add_row(str(v["phi"]), LABELS.get(v["variant"], v["variant"]), f"{v['width_mult']:.3g}", f"{v['depth_mult']:.3g}",
                      str(v["resolution"]), str(v.get("train_resolution", "")), format_count(v["macs"]), match,
                      _mean_std(s.get("mean"), s.get("std")), str(s.get("n", 0)))
    return table
