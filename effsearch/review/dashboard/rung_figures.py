"""The rungs figure of a multi-fidelity run: every trained candidate's accuracy at each rung it reached.

One line per candidate joins its rungs, so a segment is a promotion; where a candidate stopped, its
last point is an ``x``. Candidates stopped below the top rung are grey and thin, finalists take the
run's colour, the chosen baseline is gold. Each group is one trace whose lines are separated by
``None`` (thousands of candidates stay a few traces), and its ``meta`` lists the trials in drawing
order (``meta = {"role", "run", "trials"}``), so tests count lines without parsing the gaps.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from effsearch.review.dashboard import rungs
from effsearch.review.dashboard.data import RunData
from effsearch.review.dashboard.figures import TEMPLATE, WEBGL_POINTS, colour

RUNGS_TITLE = "Rungs: accuracy of each candidate at each rung it trained at"
STOPPED_GREY = "#9aa5b1"
HOVER = ("trial %{customdata[0]}<br>%{text}<br>accuracy %{y:.4f}<br>reward %{customdata[2]:.4f}<br>"
         "MACs %{customdata[1]:.4s}<extra>%{meta.run}</extra>")


def _plain(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _state(run: RunData, point: Any, top: int) -> str:
    """The hover's second line: the rung, and whether the candidate went on from it."""
    label = rungs.rung_label(run, int(point.rung))
    if point.rung == top:
        seeds = str(point.seeds).strip()
        return f"{label}: finalist" + (f"<br>seeds {seeds}" if seeds else "")
    return f"{label}: " + ("promoted" if point.promoted else "stopped here")


def _symbol(point: Any, top: int, end: str) -> str:
    if point.rung == top:
        return end
    return "circle" if point.promoted else "x"


def _lines(run: RunData, points: pd.DataFrame, top: int, end: str) -> dict[str, Any]:
    """x, y, hover and marker lists for ``points``, one line per trial, lines separated by ``None``."""
    out: dict[str, list] = {"x": [], "y": [], "customdata": [], "text": [], "symbol": [], "trials": []}
    for number, line in points.groupby("number", sort=True):
        if out["x"]:  # a gap between two candidates' lines
            for key in ("x", "y", "customdata", "text"):
                out[key].append(None)
            out["symbol"].append("circle")
        for p in line.itertuples():
            out["x"].append(int(p.rung))
            out["y"].append(_plain(p.accuracy))
            out["customdata"].append([int(number), _plain(p.macs), _plain(p.reward)])
            out["text"].append(_state(run, p, top))
            out["symbol"].append(_symbol(p, top, end))
        out["trials"].append(int(number))
    return out


_GROUPS = (  # (role, legend, which points, line, marker size, symbol at the top rung)
    ("stopped", "stopped below the top rung", lambda p: ~p["finalist"], {"width": 1}, 6, "circle"),
    ("finalist", "finalists", lambda p: p["finalist"] & ~p["chosen"], {"width": 2}, 8, "diamond"),
    ("chosen", "chosen baseline", lambda p: p["chosen"], {"width": 4, "color": "gold"}, 12, "star"),
)


def rungs_figure(run: RunData, *, index: int = 0, height: int = 460) -> go.Figure | None:
    """Accuracy (y) at each rung (x, labelled with its budget); ``None`` for a run without rungs or none trained yet."""
    points = rungs.rung_points(run)
    count = rungs.rung_count(run)
    if not len(points):
        return None
    top = count - 1
    scatter = go.Scattergl if len(points) > WEBGL_POINTS else go.Scatter
    fig = go.Figure()
    for role, legend, which, line, size, end in _GROUPS:
        part = points[which(points)]
        if not len(part):
            continue
        drawn = _lines(run, part, top, end)
        color = {"stopped": STOPPED_GREY, "finalist": colour(index)}.get(role, "gold")
        fig.add_trace(scatter(
            x=drawn["x"], y=drawn["y"], customdata=drawn["customdata"], text=drawn["text"], mode="lines+markers",
            name=f"{legend} ({len(drawn['trials'])})", line={"color": color, **line}, connectgaps=False,
            opacity=0.55 if role == "stopped" else 1.0, hovertemplate=HOVER,
            marker={"symbol": drawn["symbol"], "size": size, "color": color,
                    "line": {"color": colour(index) if role == "chosen" else color, "width": 1}},
            meta={"role": role, "run": run.name, "trials": drawn["trials"]},
        ))
    fig.update_xaxes(tickvals=list(range(count)), ticktext=[rungs.rung_label(run, k) for k in range(count)],
                     range=[-0.3, top + 0.3], title_text="rung (budget relative to rung 0)")
    seeds = rungs.final_seeds(run)
    fig.update_yaxes(title_text="accuracy at the rung" + (f" (top rung: mean of {seeds} seeds)" if seeds > 1 else ""))
    fig.update_layout(template=TEMPLATE, height=height, title={"text": f"{RUNGS_TITLE} ({run.name})", "font": {"size": 14}},
                      legend={"orientation": "h", "y": -0.2}, margin={"t": 60, "r": 20}, hovermode="closest",
                      uirevision=f"rungs-{run.name}")
    return fig
