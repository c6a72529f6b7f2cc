"""The Trained view's figure: validation top-1 and training loss per epoch of each trained model.

Raw weights are drawn solid, the EMA weights dashed (only when the run kept an EMA), the finished
model's test top-1 as a diamond at its last epoch. Traces carry ``meta = {"role", "run"}`` like the
other figures; x and y are plain lists (blank epochs as ``None``) so tests and exports read them as drawn.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from effsearch.review.dashboard.data import RunData
from effsearch.review.dashboard.figures import TEMPLATE, colour, message_figure
from effsearch.review.dashboard.trained import trained_row, trained_runs

CURVES = (  # (column, role, panel row, line dash, label)
    ("val_accuracy", "val_accuracy", 1, "solid", "val top-1"),
    ("ema_val_accuracy", "ema_val_accuracy", 1, "dash", "val top-1 (EMA)"),
    ("train_loss", "train_loss", 2, "solid", "train loss"),
)


def _values(series: pd.Series) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in series.astype(float).tolist()]


def trained_figure(runs: Sequence[RunData], *, height: int = 640) -> go.Figure:
    """Per epoch, for every trained-model folder in ``runs``: validation top-1 (top) and training loss (bottom)."""
    models = trained_runs(list(runs))
    if not models:
        return message_figure("no trained models in these folders (run 'effsearch train' to make one)", height)
    if not any(len(r.trained.history) for _, r in models):
        names = ", ".join(r.name for _, r in models)
        return message_figure(f"no finished epoch yet in {names}", height)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.6, 0.4])
    for i, run in models:
        history = run.trained.history
        epochs = _values(history["epoch"])
        for col, role, row, dash, label in CURVES:
            if not history[col].notna().any():
                continue  # EMA off: no dashed curve
            fig.add_trace(go.Scatter(
                x=epochs, y=_values(history[col]), mode="lines+markers", name=f"{run.name}: {label}", legendgroup=run.name,
                line={"color": colour(i), "dash": dash, "width": 2}, marker={"size": 5}, showlegend=row == 1,
                meta={"role": role, "run": run.name},
                hovertemplate=f"epoch %{{x}}<br>{label} %{{y:.4f}}<extra>{run.name}</extra>",
            ), row=row, col=1)
        summary = trained_row(run)
        if summary["test_accuracy"] is not None and epochs:
            fig.add_trace(go.Scatter(
                x=[summary["epochs"] or epochs[-1]], y=[summary["test_accuracy"]], mode="markers",
                name=f"{run.name}: test top-1 ({summary['weights'] or 'final'} weights)", legendgroup=run.name,
                marker={"symbol": "diamond", "size": 12, "color": colour(i), "line": {"color": "white", "width": 1}},
                meta={"role": "test_accuracy", "run": run.name},
                hovertemplate=f"test top-1 %{{y:.4f}}<extra>{run.name}</extra>",
            ), row=1, col=1)
    fig.update_yaxes(title_text="validation top-1", row=1, col=1)
    fig.update_yaxes(title_text="training loss", row=2, col=1)
    fig.update_xaxes(title_text="epoch", row=2, col=1)
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.12},
                      margin={"t": 30, "r": 20}, uirevision="trained")
    return fig
