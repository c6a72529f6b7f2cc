"""Figures of the compound-scaling stage: the coefficient grid and the family (accuracy against MACs)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from effsearch.review import analysis
from effsearch.review.dashboard.data import RunData, family_members, normalize_grid
from effsearch.review.dashboard.figures import TEMPLATE, colour, log_ticks, message_figure


def grid_figure(runs: Sequence[RunData], *, height: int = 460) -> go.Figure:
    """Accuracy over (alpha, beta, gamma): alpha x beta coloured by accuracy, and accuracy vs the FLOPs ratio."""
    grids = [(i, run, normalize_grid(run.grid)) for i, run in enumerate(runs) if run.grid is not None and len(run.grid)]
    if not grids:
        return message_figure("no grid.csv in these folders (run 'effsearch scale' to make one)", height)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.12, subplot_titles=(
        "accuracy over α (depth) × β (width); label: γ (resolution)", "accuracy against α·β²·γ²"))
    everything = pd.concat([g for _, _, g in grids], ignore_index=True)
    acc = everything["accuracy"][np.isfinite(everything["accuracy"])]
    span = (float(acc.min()), float(acc.max())) if len(acc) else (0.0, 1.0)
    for k, (i, run, grid) in enumerate(grids):
        _grid_traces(fig, run, grid, i, span, show_scale=k == 0)
    _constraint_marks(fig, everything)
    fig.update_xaxes(title_text="α (depth)", row=1, col=1)
    fig.update_yaxes(title_text="β (width)", row=1, col=1)
    fig.update_xaxes(title_text="α·β²·γ² (FLOPs per φ step)", row=1, col=2)
    fig.update_yaxes(title_text="accuracy", row=1, col=2)
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "r": 20})
    return fig


def _constraint_marks(fig: go.Figure, grid: pd.DataFrame) -> None:
    """The constraint alpha * beta^2 * gamma^2 = c: its gamma = 1 edge in the alpha-beta plane, a line at c."""
    ratios = grid["flops_ratio"][np.isfinite(grid["flops_ratio"])]
    target = float(np.round(ratios.median(), 2)) if len(ratios) else 2.0
    alphas = np.linspace(max(1.0, float(grid["alpha"].min()) - 0.05), float(grid["alpha"].max()) + 0.05, 60)
    # gamma >= 1 on the constraint means alpha * beta^2 <= c, so beta = sqrt(c / alpha) bounds the grid.
    fig.add_trace(go.Scatter(x=alphas, y=np.sqrt(target / alphas), mode="lines", line={"dash": "dash", "color": "grey"},
                             name=f"α·β² = {target:g} (γ = 1): edge of the constraint", meta={"role": "constraint"}), row=1, col=1)
    fig.add_vline(x=target, row=1, col=2, line={"dash": "dash", "color": "grey"},
                  annotation={"text": f"constraint α·β²·γ² = {target:g}"}, annotation_position="top left")
    lo, hi = (float(ratios.min()), float(ratios.max())) if len(ratios) else (target, target)
    pad = max(0.1 * target, 0.1 * (hi - lo))  # grids solved exactly on the constraint would collapse to a line
    fig.update_xaxes(range=[min(lo, target) - pad, max(hi, target) + pad], row=1, col=2)


def _grid_traces(fig: go.Figure, run: RunData, grid: pd.DataFrame, i: int, span: tuple[float, float], show_scale: bool) -> None:
    """Measured points coloured by accuracy (open when ASHA stopped them early), failed, skipped and pending ones, the choice."""
    measured = grid[np.isfinite(grid["accuracy"])]
    symbols = np.where(measured["status"] == "stopped", "circle-open", "circle")
    hover = "α %{x:.3f} β %{y:.3f} γ %{text}<br>accuracy %{marker.color:.4f}<extra>" + run.name + "</extra>"
    fig.add_trace(go.Scatter(
        x=measured["alpha"], y=measured["beta"], mode="markers+text", text=[f"{g:.3g}" for g in measured["gamma"]],
        textposition="top center", textfont={"size": 10}, hovertemplate=hover, meta={"role": "grid", "run": run.name},
        marker={"size": 16, "symbol": symbols, "color": measured["accuracy"], "colorscale": "Viridis", "cmin": span[0],
                "cmax": span[1], "showscale": show_scale, "colorbar": {"title": {"text": "accuracy"}, "x": 0.44},
                "line": {"color": colour(i), "width": 1}},
        name=f"{run.name}: grid points" + (" (open: stopped early)" if (measured["status"] == "stopped").any() else ""),
    ), row=1, col=1)
    fig.add_trace(go.Scatter(x=measured["flops_ratio"], y=measured["accuracy"], mode="markers", marker={"color": colour(i), "size": 9},
                             name=f"{run.name}: accuracy", showlegend=False, meta={"role": "grid_ratio", "run": run.name},
                             hovertemplate="ratio %{x:.3f}<br>accuracy %{y:.4f}<extra></extra>"), row=1, col=2)
    unmeasured = grid[~np.isfinite(grid["accuracy"])]
    for label, part, marker in (
        ("failed", unmeasured[~unmeasured["status"].isin(("pending", "skipped"))], {"symbol": "x", "size": 11, "color": "crimson"}),
        ("over budget, not trained", unmeasured[unmeasured["status"] == "skipped"],
         {"symbol": "square-open", "size": 11, "color": "grey"}),
        ("pending", unmeasured[unmeasured["status"] == "pending"], {"symbol": "circle-open", "size": 14, "color": "grey"}),
    ):
        if len(part):
            fig.add_trace(go.Scatter(x=part["alpha"], y=part["beta"], mode="markers", marker=marker, text=part.get("reason"),
                                     name=f"{run.name}: {label} ({len(part)})", meta={"role": f"grid_{label.split(',')[0].replace(' ', '_')}", "run": run.name}),
                          row=1, col=1)
    _chosen_marks(fig, run, grid, i)


def _chosen_marks(fig: go.Figure, run: RunData, grid: pd.DataFrame, i: int) -> None:
    chosen = analysis.chosen_grid_point(grid)
    if chosen is None:
        return
    star = {"symbol": "star", "size": 22, "color": "gold", "line": {"color": colour(i), "width": 2}}
    label = f"{run.name}: chosen α={chosen['alpha']:.3g} β={chosen['beta']:.3g} γ={chosen['gamma']:.3g}"
    fig.add_trace(go.Scatter(x=[chosen["alpha"]], y=[chosen["beta"]], mode="markers", marker=star, name=label,
                             meta={"role": "chosen", "run": run.name}), row=1, col=1)
    fig.add_trace(go.Scatter(x=[chosen["flops_ratio"]], y=[chosen["accuracy"]], mode="markers", marker=star,
                             showlegend=False, name=label, meta={"role": "chosen_ratio", "run": run.name}), row=1, col=2)


def family_figure(runs: Sequence[RunData], *, height: int = 440) -> go.Figure:
    """MACs and params against phi (log), each family against the official EfficientNet B0..B7."""
    families = [(i, run, family_members(run)) for i, run in enumerate(runs)]
    families = [(i, run, m) for i, run, m in families if len(m)]
    if not families:
        return message_figure("no family.json in these folders (run 'effsearch scale' to make one)", height)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MACs against φ", "params against φ"), horizontal_spacing=0.1)
    official = analysis.official_table()
    for col, key, paper, counted in ((1, "macs", "macs_paper", "macs_fvcore"), (2, "params", "params_paper", "params_timm")):
        fig.add_trace(go.Scatter(
            x=official["phi"], y=official[paper], mode="lines+markers+text", text=official["name"], textposition="bottom right",
            line={"dash": "dash", "color": "grey"}, marker={"symbol": "diamond", "color": "grey"}, name="EfficientNet B0..B7 (paper)",
            customdata=official[counted], showlegend=col == 1, legendgroup="official", meta={"role": "official", "metric": key},
            hovertemplate="%{text}: %{y:.3s} (paper), %{customdata:.4s} (timm/fvcore)<extra></extra>",
        ), row=1, col=col)
        for i, run, members in families:
            fig.add_trace(go.Scatter(
                x=members["phi"], y=members[key], mode="lines+markers", line={"color": colour(i)}, name=run.name,
                text=members["name"], legendgroup=run.name, showlegend=col == 1, meta={"role": "family", "run": run.name, "metric": key},
                customdata=members["resolution"], hovertemplate="%{text} (φ=%{x}, %{customdata}px): %{y:.4s}<extra></extra>",
            ), row=1, col=col)
    for col, key in ((1, "macs"), (2, "params")):
        shown = pd.concat([official[f"{key}_paper"], *[m[key] for _, _, m in families]])
        fig.update_yaxes(type="log", row=1, col=col, **log_ticks(shown))
    fig.update_yaxes(title_text="MACs (log)", row=1, col=1)
    fig.update_yaxes(title_text="params (log)", row=1, col=2)
    fig.update_xaxes(title_text="φ", dtick=1)
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.2}, margin={"t": 50, "r": 20})
    return fig
