"""The Family view's comparison of families: test top-1 against MACs, one line per family.

Draws :func:`~effsearch.review.dashboard.families.family_accuracy`'s frame: per family (colour of its
run, as in the other Family figures) a solid line through its trained members and, where it has a
compare.csv, a dashed line through the comparison's baseline and compound members; error bars of one
sample std over seeds. Traces carry ``meta = {"role": "family_accuracy", "run", "family", "source"}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from effsearch.review.dashboard.data import RunData
from effsearch.review.dashboard.families import FamilyAccuracy, family_accuracy
from effsearch.review.dashboard.figures import TEMPLATE, colour, log_ticks, message_figure
from effsearch.units import format_count

TITLE = "Families: test top-1 against MACs"
CAPTION = ("One line per family through its trained members (φ 0, 1, 2, ...), labelled by the baseline it scales: solid for "
           "the members 'effsearch scale --train' trained, dashed for the compound line of 'effsearch scale --compare'. "
           "MACs are at each member's deployment resolution (the trainings ran at proportionally smaller inputs); bars are "
           "±1 sample std over seeds. Families compare fairly only when trained on the same data with the same recipe.")
HOVER = ("<b>%{customdata[0]}</b> (φ=%{customdata[1]})<br>MACs %{x:.4s} · params %{customdata[2]}<br>"
         "test top-1 %{y:.4f} ± %{customdata[3]} (n=%{customdata[4]})<extra>")


def _custom(points: pd.DataFrame) -> list[list[Any]]:
    def text(v: Any, fmt: str) -> str:
        return format(float(v), fmt) if pd.notna(v) and math.isfinite(float(v)) else "?"

    return [[r.member, text(r.phi, "g"), format_count(float(r.params)) if pd.notna(r.params) else "?",
             text(r.std, ".4f") if pd.notna(r.std) else "– (one seed)", text(r.n, ".0f")]
            for r in points.itertuples(index=False)]


def families_figure(runs: Sequence[RunData], found: FamilyAccuracy | None = None, *, height: int = 480) -> go.Figure:
    """Test top-1 against MACs (log) per family; ``found`` is :func:`family_accuracy` of ``runs`` when already computed."""
    frame = (found or family_accuracy(runs)).frame
    if not len(frame):
        return message_figure("no trained family members or compare.csv in these folders "
                              "(run 'effsearch scale --train' or 'effsearch scale --compare')", height)
    index = {r.name: i for i, r in enumerate(runs)}
    fig = go.Figure()
    for (family, source), points in frame.groupby(["family", "source"], sort=False):
        run = str(points["run"].iloc[0])
        dashed = source == "compare"
        name = f"{family} · compare.csv" if dashed else str(family)
        fig.add_trace(go.Scatter(
            x=points["macs"].astype(float).tolist(), y=points["test_accuracy"].astype(float).tolist(),
            error_y={"type": "data", "array": points["std"].fillna(0.0).astype(float).tolist(), "visible": True, "thickness": 1.2},
            mode="lines+markers", name=name, legendgroup=str(family),
            line={"color": colour(index.get(run, 0)), "width": 2 if dashed else 3, "dash": "dash" if dashed else "solid"},
            marker={"symbol": "circle-open" if dashed else "diamond", "size": 9 if dashed else 10},
            customdata=_custom(points), hovertemplate=f"{HOVER}{name}</extra>",
            meta={"role": "family_accuracy", "run": run, "family": str(family), "source": str(source)}))
    fig.update_xaxes(type="log", title_text="MACs at each member's deployment resolution (log)", **log_ticks(frame["macs"]))
    fig.update_yaxes(title_text="test top-1 (bars: ±1 std over seeds)")
    fig.update_layout(template=TEMPLATE, height=height, legend={"orientation": "h", "y": -0.2}, margin={"t": 40, "r": 20},
                      title={"text": TITLE, "x": 0})
    return fig
