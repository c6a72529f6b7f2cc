"""The Family view's accuracy figure: test top-1 against MACs for compound and single-dimension scaling.

From ``compare.csv`` (``effsearch scale --compare``): one line per variant (compound, width-, depth-
and resolution-only) through the baseline and each phi, at the variants' deployment MACs, with
error bars of one sample standard deviation over seeds (the numbers of :mod:`effsearch.compound.verdict`,
so the page and ``compare.json`` agree). From ``family.json`` members trained with ``--train``: the
family's own line. For shape only, on a secondary axis, the released EfficientNet B0..B7 ImageNet
top-1: another data set at another scale, so only the curve's bend compares, and to compare bends
its MACs are normalised, B0 drawn at the reference's MACs (the baseline, else the smallest point)
and B1..B7 at the same ratios to it (the hover says the real MACs).
Traces carry ``meta = {"role", "run", ...}`` and plain-list x and y, as in the other figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from effsearch.compound.compare import SINGLE
from effsearch.compound.verdict import LABELS, summarize
from effsearch.review.dashboard.data import RunData
from effsearch.review.dashboard.families import compare_rows, trained_members
from effsearch.review.dashboard.figures import TEMPLATE, colour, log_ticks, message_figure

IMAGENET_B0_B7 = (  # (name, MACs, ImageNet top-1 %): the EfficientNet paper's Table 2
    ("B0", 0.39e9, 77.1), ("B1", 0.70e9, 79.1), ("B2", 1.0e9, 80.1), ("B3", 1.8e9, 81.6),
    ("B4", 4.2e9, 82.9), ("B5", 9.9e9, 83.6), ("B6", 19e9, 84.0), ("B7", 37e9, 84.3),
)
IMAGENET_LABEL = "ImageNet B0-B7, for shape only"
VARIANT_COLOURS = {"compound": "#d62728", "width": "#1f77b4", "depth": "#2ca02c", "resolution": "#9467bd"}
DASHES = ("solid", "dash", "dot", "dashdot")


def variant_lines(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per variant, its points from the baseline (phi 0) up: macs, mean, std (0 for one seed), n, phi."""
    summary = [s for s in summarize(rows) if s["mean"] is not None]
    base = [s for s in summary if s["variant"] == "baseline"]
    out = {}
    for kind in ("compound", *SINGLE):
        mine = sorted((s for s in summary if s["variant"] == kind), key=lambda s: s["phi"])
        if mine:
            out[kind] = base + mine
    if base:
        out["baseline"] = base
    return out


def _error(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "data", "array": [p["std"] or 0.0 for p in points], "visible": True, "thickness": 1.2}


def _compare_traces(fig: go.Figure, run: RunData, k: int) -> list[float]:
    lines = variant_lines(compare_rows(run))
    shown: list[float] = []
    for kind, points in lines.items():
        if kind == "baseline":
            continue
        fig.add_trace(go.Scatter(
            x=[float(p["macs"]) for p in points], y=[p["mean"] for p in points], error_y=_error(points),
            mode="lines+markers", name=f"{run.name}: {LABELS[kind]}", text=[f"φ={p['phi']}" for p in points],
            customdata=[p["n"] for p in points], line={"color": VARIANT_COLOURS[kind], "dash": DASHES[k % len(DASHES)]},
            meta={"role": "compare", "run": run.name, "variant": kind},
            hovertemplate=f"{LABELS[kind]} %{{text}}<br>MACs %{{x:.4s}}<br>test top-1 %{{y:.4f}} (n=%{{customdata}})"
                          f"<extra>{run.name}</extra>"), secondary_y=False)
        shown += [float(p["macs"]) for p in points]
    for p in lines.get("baseline", []):
        fig.add_trace(go.Scatter(
            x=[float(p["macs"])], y=[p["mean"]], error_y=_error([p]), mode="markers", name=f"{run.name}: baseline (φ=0)",
            marker={"symbol": "star", "size": 16, "color": "black"}, meta={"role": "compare_baseline", "run": run.name},
            hovertemplate=f"baseline<br>MACs %{{x:.4s}}<br>test top-1 %{{y:.4f}} (n={p['n']})<extra>{run.name}</extra>"),
            secondary_y=False)
    return shown


def _family_trace(fig: go.Figure, run: RunData, i: int) -> list[float]:
    members = trained_members(run)
    if not len(members):
        return []
    fig.add_trace(go.Scatter(
        x=members["macs"].astype(float).tolist(), y=members["test_accuracy"].astype(float).tolist(),
        error_y={"type": "data", "array": members["std"].fillna(0.0).astype(float).tolist(), "visible": True},
        mode="lines+markers", name=f"{run.name}: family, trained members", text=members["name"].tolist(),
        line={"color": colour(i), "width": 3}, marker={"symbol": "diamond", "size": 10},
        meta={"role": "family_trained", "run": run.name},
        hovertemplate="%{text}<br>MACs %{x:.4s}<br>test top-1 %{y:.4f}<extra>" + run.name + "</extra>"), secondary_y=False)
    return members["macs"].astype(float).tolist()


def reference_macs(runs: Sequence[RunData], shown: Sequence[float]) -> float:
    """Where B0 is drawn: the first comparison's baseline MACs, else the first trained family's phi-0 member, else the smallest point."""
    for run in runs:
        base = [r["macs"] for r in compare_rows(run) if r["variant"] == "baseline"]
        if base:
            return float(base[0])
    for run in runs:
        members = trained_members(run)
        if len(members) and (members["phi"] == 0).any():
            return float(members.loc[members["phi"] == 0, "macs"].iloc[0])
    return float(min(shown))


def accuracy_figure(runs: Sequence[RunData], *, height: int = 480) -> go.Figure:
    """Test top-1 against MACs: compare.csv's variants, the trained family, and ImageNet B0..B7 for shape."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    shown: list[float] = []
    for k, run in enumerate(r for r in runs if compare_rows(r)):
        shown += _compare_traces(fig, run, k)
    for i, run in enumerate(runs):
        shown += _family_trace(fig, run, i)
    if not shown:
        return message_figure("no compare.csv or trained family members in these folders "
                              "(run 'effsearch scale --compare' or 'effsearch scale --train')", height)
    names, macs, top1 = zip(*IMAGENET_B0_B7, strict=True)
    scale = reference_macs(runs, shown) / macs[0]
    drawn = [m * scale for m in macs]
    fig.add_trace(go.Scatter(
        x=drawn, y=list(top1), mode="lines+markers+text", text=list(names), textposition="top left", customdata=list(macs),
        name=f"{IMAGENET_LABEL} (MACs normalised: B0 at the reference)", line={"color": "grey", "dash": "dot"},
        marker={"symbol": "circle-open", "color": "grey"}, meta={"role": "imagenet"},
        hovertemplate="EfficientNet-%{text}: ImageNet top-1 %{y}% at %{customdata:.3s} MACs<extra>for shape only</extra>"),
        secondary_y=True)
    fig.update_xaxes(type="log", title_text="MACs at deployment resolution (log)", **log_ticks([*shown, *drawn]))
    fig.update_yaxes(title_text="test top-1 (this data set; bars: ±1 std over seeds)", secondary_y=False)
    fig.update_yaxes(title_text=f"top-1 % ({IMAGENET_LABEL})", secondary_y=True, showgrid=False, color="grey")
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.2}, margin={"t": 40, "r": 20},
                      title={"text": "compound against single-dimension scaling at matched MACs", "x": 0})
    return fig
