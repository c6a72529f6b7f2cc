"""Plotly figures for the dashboard and the report; they only draw what :mod:`.summary` computed.

Every trace carries ``meta = {"role": ..., "run": ...}`` so tests (and users exporting figures) can
find the Pareto-front points in the drawn data. Above :data:`WEBGL_POINTS` points, scatter traces use
WebGL (``scattergl``), which keeps 5,000-trial searches smooth; small runs stay SVG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from effsearch.arch.spec import NetSpec
from effsearch.arch.summary import stage_rows
from effsearch.review.dashboard import summary
from effsearch.review.dashboard.data import RunData
from effsearch.units import format_count

WEBGL_POINTS = 1000
PALETTE = qualitative.Plotly
TEMPLATE = "plotly_white"
CUSTOM = ("number", "reward", "params", "macs", "latency_ms")
HOVER = ("trial %{customdata[1]}<br>accuracy %{y:.4f}<br>reward %{customdata[2]:.4f}<br>"
         "params %{customdata[3]:.4s}<br>MACs %{customdata[4]:.4s}<extra>%{meta.run}</extra>")


def log_ticks(values: Sequence[float] | np.ndarray) -> dict[str, list]:
    """Readable log-axis ticks (100M, 200M, 500M, 1G...) over the finite positive ``values``.

    Returns axis-update kwargs; empty (plotly's own ticks) when the data span too little for them.
    """
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr) & (arr > 0)]
    if not len(arr):
        return {}
    lo, hi = float(arr.min()), float(arr.max())
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8), (1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1) for m in mantissas]
        inside = [t for t in ticks if lo <= t <= hi]
        if len(inside) >= 3:
            keep = [t for t in ticks if lo / 1.6 <= t <= hi * 1.6]
            return {"tickvals": keep, "ticktext": [format_count(t) for t in keep]}
    return {}


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _scatter(n_points: int) -> type[go.Scatter] | type[go.Scattergl]:
    return go.Scattergl if n_points > WEBGL_POINTS else go.Scatter


def _custom(frame: pd.DataFrame, run_index: int) -> list[list[float | None]]:
    """Per point: run index, trial number, reward, params, MACs, latency.

    Plain lists on purpose: plotly.py would ship a numpy array as a binary block, and Dash's click
    events read ``customdata`` from the figure as sent, so clicks would lose which trial was hit.
    """
    cols = [frame[c].to_numpy(dtype=float) for c in CUSTOM]
    rows = np.column_stack([np.full(len(frame), run_index, dtype=float), *cols]) if len(frame) else np.empty((0, 6))
    return [[v if math.isfinite(v) else None for v in row] for row in rows.tolist()]


def message_figure(text: str, height: int = 320) -> go.Figure:
    """An empty figure that says why there is nothing to draw."""
    fig = go.Figure(layout={"template": TEMPLATE, "height": height})
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 15})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


# --- Pareto front ---------------------------------------------------------------------------------


def _pareto_traces(run: RunData, i: int, x: str, n_points: int) -> list[go.BaseTraceType]:
    """Dominated points (faded), over-budget ones (open markers), the front (solid, stepped)."""
    pts = summary.candidates(run, x)
    front = summary.front(run, x)
    rest = pts.drop(index=front.index)
    Scatter, traces = _scatter(n_points), []
    for label, part, marker in (
        ("within budget", rest[~rest["over_budget"]], {"symbol": "circle", "opacity": 0.28, "size": 6}),
        ("over budget", rest[rest["over_budget"]], {"symbol": "circle-open", "opacity": 0.4, "size": 7}),
    ):
        traces.append(Scatter(
            x=part[x], y=part["accuracy"], mode="markers", name=f"{run.name}: {label}", legendgroup=run.name,
            marker={**marker, "color": colour(i)}, customdata=_custom(part, i), hovertemplate=HOVER,
            meta={"role": "over_budget" if label == "over budget" else "dominated", "run": run.name},
        ))
    symbols = np.where(front["over_budget"], "diamond", "circle")
    over = int(front["over_budget"].sum())
    traces.append(Scatter(
        x=front[x], y=front["accuracy"], mode="lines+markers",
        name=f"{run.name}: Pareto front ({len(front)}" + (f"; ◆ {over} over budget)" if over else ")"),
        legendgroup=run.name, line={"shape": "hv", "color": colour(i), "width": 2},
        marker={"size": 9, "symbol": symbols, "color": colour(i), "line": {"color": "white", "width": 1}},
        customdata=_custom(front, i), hovertemplate=HOVER, meta={"role": "front", "run": run.name, "axis": x},
    ))
    return traces


def _failed_trace(run: RunData, i: int, x: str) -> go.Scatter | None:
    """Failed, rejected and pruned candidates: drawn in a strip below the plot.

    The first two have no accuracy; a pruned one's is a shorter rung's, not comparable with the points above.
    """
    bad = run.trials[run.trials["outcome"].isin(("failed", "rejected", "pruned")) & np.isfinite(run.trials[x])]
    if not len(bad):
        return None
    symbols = bad["outcome"].map({"failed": "x", "rejected": "triangle-up", "pruned": "square"})
    jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(bad))
    kinds = " / ".join(o for o in ("failed", "rejected", "pruned") if (bad["outcome"] == o).any())
    return _scatter(len(bad))(
        x=bad[x], y=jitter, mode="markers", name=f"{run.name}: {kinds} ({len(bad)})", legendgroup=run.name,
        marker={"symbol": symbols, "color": colour(i), "size": 7, "opacity": 0.7},
        text=[f"trial {n:.0f}: {o}<br>{r}" for n, o, r in zip(bad["number"], bad["outcome"], bad["reason"], strict=True)],
        customdata=_custom(bad, i), hovertemplate="%{text}<extra>%{meta.run}</extra>",
        meta={"role": "failed", "run": run.name},
    )


def _baseline_trace(run: RunData, i: int, x: str) -> go.Scatter | None:
    row = summary.baseline_trial(run)
    if row is None or not summary.is_number(row[x]):
        return None
    frame = row.to_frame().T
    return go.Scatter(
        x=[row[x]], y=[row["accuracy"]], mode="markers", name=f"{run.name}: chosen baseline (trial {row['number']:.0f})",
        legendgroup=run.name, marker={"symbol": "star", "size": 20, "color": "gold", "line": {"color": colour(i), "width": 2}},
        customdata=_custom(frame.astype({c: float for c in CUSTOM}), i), hovertemplate="baseline<br>" + HOVER,
        meta={"role": "baseline", "run": run.name},
    )


def pareto_figure(runs: Sequence[RunData], *, x: str = "macs", side_by_side: bool = False, height: int = 560) -> go.Figure:
    """Accuracy against cost on a log axis, for one or several runs (overlaid, or one panel each)."""
    summary.check_axis(x)
    # Colours and customdata use the run's position in ``runs``, so they agree across views and clicks.
    indexed = [(i, r) for i, r in enumerate(runs) if len(summary.candidates(r, x)) or len(r.trials)]
    drawable = [r for _, r in indexed]
    if not any(len(summary.candidates(r, x)) for r in drawable):
        what = "latency measurement" if x == "latency_ms" else "finished trial"
        return message_figure(f"no {what} yet in {', '.join(r.name for r in runs) or 'these folders'}", height)
    cols = len(drawable) if side_by_side else 1
    failed = {i: _failed_trace(run, i, x) for i, run in indexed}
    strip = any(t is not None for t in failed.values())  # a row for candidates without accuracy, when there are any
    fig = make_subplots(rows=1 + strip, cols=cols, shared_xaxes="columns", shared_yaxes="rows",
                        row_heights=[0.86, 0.14] if strip else None, vertical_spacing=0.03, horizontal_spacing=0.03,
                        subplot_titles=[r.name for r in drawable] if side_by_side else None)
    n_points = sum(len(r.trials) for r in drawable)
    for panel, (i, run) in enumerate(indexed):
        col = panel + 1 if side_by_side else 1
        for trace in _pareto_traces(run, i, x, n_points):
            fig.add_trace(trace, row=1, col=col)
        for trace in (_baseline_trace(run, i, x), failed[i]):
            if trace is not None:
                fig.add_trace(trace, row=1 if trace.meta["role"] == "baseline" else 2, col=col)
        if x == summary.cost_axis(run) and run.target:  # the target is drawn on its objective's axis
            fig.add_vline(x=run.target, line={"dash": "dash", "color": colour(i), "width": 1.5}, row="all", col=col)
            # Annotations on a log axis take log10 positions (shapes take data values).
            fig.add_annotation(x=math.log10(run.target), y=1, xref="x", yref="y domain", row=1, col=col,
                               text=f"T = {summary.format_target(run)}", showarrow=False, xanchor="right",
                               yanchor="top", font={"color": colour(i)})
    shown = pd.concat([r.trials[x] for r in drawable]
                      + [pd.Series([r.target or np.nan]) for r in drawable if x == summary.cost_axis(r)])
    fig.update_xaxes(type="log", title_text=None, **log_ticks(shown))
    fig.update_xaxes(title_text=f"{summary.AXES[x]} (log)", row=1 + strip)
    fig.update_yaxes(title_text="accuracy", row=1, col=1)
    if strip:
        fig.update_yaxes(showticklabels=False, range=[-0.6, 0.6], zeroline=False, row=2)
        fig.update_yaxes(title_text="no acc.", row=2, col=1)
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.15}, clickmode="event",
                      margin={"t": 40, "r": 20}, uirevision=x)
    return fig


# --- learning -------------------------------------------------------------------------------------


def learning_figure(runs: Sequence[RunData], *, metric: str = "reward", window: int = 20, height: int = 720) -> go.Figure:
    """Per trial: the metric with running best and moving average, hypervolume so far, MACs sampled."""
    groups = _learning_groups(runs, metric, window)
    if not groups:
        return message_figure("no trials yet", height)
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.05, row_heights=[0.45, 0.3, 0.25])
    Scatter = _scatter(sum(len(c) for _, c, _, _ in groups))
    for label, curves, run, c in groups:
        meta = {"run": run.name, "group": label}
        num = curves["number"]
        dots = {"size": 4, "opacity": 0.3} if Scatter is go.Scattergl else {"size": 6, "opacity": 0.55}
        fig.add_trace(Scatter(x=num, y=curves["value"], mode="markers", name=f"{label}: {metric}", legendgroup=label,
                              marker={"color": c, **dots}, meta={**meta, "role": "value"}), row=1, col=1)
        for col, dash, name in (("running_best", "solid", "running best"), ("moving_average", "dot", f"mean of {window}")):
            fig.add_trace(Scatter(x=num, y=curves[col], mode="lines", name=f"{label}: {name}", legendgroup=label,
                                  line={"color": c, "dash": dash, "width": 2}, meta={**meta, "role": col}), row=1, col=1)
        fig.add_trace(Scatter(x=num, y=curves["hypervolume"], mode="lines", name=f"{label}: hypervolume", legendgroup=label,
                              line={"color": c, "shape": "hv", "width": 2}, showlegend=False,
                              meta={**meta, "role": "hypervolume"}), row=2, col=1)
        fig.add_trace(Scatter(x=num, y=curves["cost"], mode="markers", name=f"{label}: {summary.AXES[summary.cost_axis(run)]}",
                              legendgroup=label, marker={"color": c, "size": 3, "opacity": 0.3}, showlegend=False,
                              meta={**meta, "role": "cost"}), row=3, col=1)
    for i, run in enumerate(runs):
        if run.target:
            fig.add_hline(y=run.target, row=3, col=1, line={"dash": "dash", "color": colour(i), "width": 1})
            fig.add_annotation(x=0, y=math.log10(run.target), xref="x domain", yref="y", row=3, col=1, showarrow=False,
                               text=f"T = {summary.format_target(run)}", xanchor="left", yanchor="bottom",
                               font={"color": colour(i)})
    axes = sorted({summary.AXES[summary.cost_axis(run)] for _, _, run, _ in groups})
    fig.update_yaxes(title_text=metric, row=1, col=1)
    fig.update_yaxes(title_text="hypervolume<br>(ref 2T, acc 0; ÷T)", row=2, col=1)
    fig.update_yaxes(title_text=f"{' / '.join(axes)} (log)", type="log", row=3, col=1,
                     **log_ticks(pd.concat([c["cost"] for _, c, _, _ in groups])))
    fig.update_xaxes(title_text="trial", row=3, col=1)
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.08}, margin={"t": 30, "r": 20})
    return fig


def _learning_groups(runs: Sequence[RunData], metric: str, window: int) -> list[tuple[str, pd.DataFrame, RunData, str]]:
    """(label, curves, run, colour) per run and sampler; a single-sampler run keeps its run colour."""
    out, spare = [], len(runs)
    for i, run in enumerate(runs):
        curves = summary.learning(run, metric=metric, window=window)
        for label, frame in curves:
            out.append((label, frame, run, colour(i) if len(curves) == 1 else colour(spare)))
            spare += len(curves) > 1
    return out


# --- architecture ---------------------------------------------------------------------------------


def architecture_figure(spec: NetSpec, *, title: str = "", height: int = 320) -> go.Figure:
    """A per-stage diagram: MACs and params of stem, each stage, head and classifier."""
    rows = stage_rows(spec)
    labels = [r["name"] for r in rows]
    text = [(r["block"] or r["op"]) for r in rows]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("MACs per stage", "params per stage"), horizontal_spacing=0.08)
    for col, key, c in ((1, "macs", colour(0)), (2, "params", colour(2))):
        values = [r[key] for r in rows]
        fig.add_trace(go.Bar(x=labels, y=values, marker_color=c, name=key, text=[format_count(v) for v in values],
                             textposition="outside", customdata=text, meta={"role": f"stage_{key}"},
                             hovertemplate="%{x}<br>%{customdata}<br>%{y:.4s}<extra></extra>"), row=1, col=col)
    fig.update_layout(template=TEMPLATE, height=height, showlegend=False, title={"text": title, "font": {"size": 14}},
                      margin={"t": 60, "r": 20, "b": 40})
    return fig


# --- fidelity -------------------------------------------------------------------------------------


FIDELITY_TITLE = "Fidelity: search score against standalone accuracy"


def fidelity_figure(run: RunData, *, height: int = 420) -> go.Figure | None:
    """The retrained candidates' search score (x) against standalone accuracy (y); ``None`` with none ok.

    The title gives Kendall tau over the same candidates: whether the score the search ranked by
    (a supernet score or a short proxy run) orders architectures the way standalone training does.
    """
    fid = summary.fidelity(run)
    if fid is None:
        return None
    pts = fid.points
    tau = "n/a" if fid.tau is None else f"{fid.tau:.2f}"
    x_title = "search score (supernet)" if fid.evaluator == "supernet" else "search accuracy (short proxy)"
    hover = "trial %{customdata}<br>" + x_title + " %{x:.4f}<br>standalone accuracy %{y:.4f}<extra>" + run.name + "</extra>"
    # Plain lists, as in _custom: the trial numbers stay readable in the figure as sent.
    numbers = [int(v) if math.isfinite(v) else None for v in pts["number"].tolist()]
    fig = go.Figure(go.Scatter(
        x=pts["accuracy_short"].tolist(), y=pts["accuracy_long"].tolist(), mode="markers", customdata=numbers,
        name=f"retrained ({len(pts)})", marker={"size": 10, "color": colour(0)}, hovertemplate=hover,
        meta={"role": "fidelity", "run": run.name},
    ))
    chosen = pts[pts["selected"]]
    if len(chosen):  # drawn over its own point, so hovering it still names the trial
        fig.add_trace(go.Scatter(
            x=chosen["accuracy_short"].tolist(), y=chosen["accuracy_long"].tolist(), mode="markers",
            customdata=[numbers[i] for i in chosen.index], hovertemplate="chosen<br>" + hover,
            name=f"chosen (trial {chosen['number'].iloc[0]:.0f})", meta={"role": "fidelity_selected", "run": run.name},
            marker={"symbol": "star", "size": 20, "color": "gold", "line": {"color": colour(0), "width": 2}},
        ))
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text="standalone accuracy")
    fig.update_layout(template=TEMPLATE, height=height, title={"text": f"{FIDELITY_TITLE} (Kendall τ = {tau}, n = {fid.n})",
                                                               "font": {"size": 14}},
                      legend={"orientation": "h", "y": -0.2}, margin={"t": 60, "r": 20})
    return fig


# --- grid -----------------------------------------------------------------------------------------










# --- family ---------------------------------------------------------------------------------------
