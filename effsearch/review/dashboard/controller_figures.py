"""The MNAS controller's exploration: its policy entropy and rewards per update, and one sentence per run.

An ``mnas`` search writes ``controller.csv`` (:data:`~effsearch.review.dashboard.frames.CONTROLLER_COLUMNS`),
one row per policy update. ``entropy_share`` is the policy's entropy per decision as a share of a
uniform choice's: 1 still tries everything, 0 always samples one architecture. The figure puts it
over the trials seen (an update's ``last_trial + 1``, the learning view's x), above the batch's mean
reward against the baseline it was compared with. Traces carry ``meta = {"role", "run"}`` like the
other figures (roles ``entropy_share``, ``reward_mean``, ``baseline``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from effsearch.review.dashboard.data import RunData
from effsearch.review.dashboard.figures import TEMPLATE, colour, message_figure

CONTROLLER_TITLE = "Controller: policy entropy per update (1 = still exploring every choice, 0 = one architecture)"
LOW_SHARE = 0.2  # what the sentence reports a first fall below; a reading aid, not a setting of the search
NOT_MNAS = "no controller updates: the selected runs' sampler is not mnas (only the mnas controller writes controller.csv)"
NOT_YET = ("no controller updates yet: the mnas controller writes controller.csv after each batch of trials "
           "(runs made before it existed have none)")


def updates(run: RunData) -> pd.DataFrame:
    """The run's controller updates, with ``trials`` (= ``last_trial + 1``, the x of the figure)."""
    frame = run.controller
    return frame.assign(trials=frame["last_trial"] + 1)


def _is_mnas(run: RunData) -> bool:
    sampler = str(run.config.get("sampler") or "")
    return sampler == "mnas" or (bool(len(run.trials)) and bool((run.trials["sampler"] == "mnas").any()))


def _plain(values: pd.Series) -> list[float | None]:
    # Plain lists with None for gaps: a blank cell breaks the line instead of shipping NaN to the page.
    return [float(v) if math.isfinite(v) else None for v in values.astype(float)]


def controller_figure(runs: Sequence[RunData], *, height: int = 560) -> go.Figure:
    """Entropy share per update (top) and the batch's mean reward with the baseline (bottom), one colour per run."""
    drawn = [(i, run, updates(run)) for i, run in enumerate(runs) if len(run.controller)]
    if not drawn:
        return message_figure(NOT_YET if any(_is_mnas(r) for r in runs) else NOT_MNAS, height=200)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, row_heights=[0.55, 0.45])
    for i, run, frame in drawn:
        x, c = frame["trials"].astype(int).tolist(), colour(i)
        hover = [f"update {u:.0f}<br>reward sd {sd:.4f}<br>loss {loss:.4f}" for u, sd, loss in
                 zip(frame["update"], frame["reward_sd"], frame["loss"], strict=True)]
        fig.add_trace(go.Scatter(
            x=x, y=_plain(frame["entropy_share"]), mode="lines+markers", name=f"{run.name}: entropy share",
            legendgroup=run.name, line={"color": c, "width": 2}, marker={"size": 5}, text=hover,
            hovertemplate="after %{x} trials<br>entropy share %{y:.3f}<br>%{text}<extra>%{meta.run}</extra>",
            meta={"role": "entropy_share", "run": run.name}), row=1, col=1)
        for col, dash, label in (("reward_mean", "solid", "batch mean reward"), ("baseline", "dot", "baseline")):
            fig.add_trace(go.Scatter(
                x=x, y=_plain(frame[col]), mode="lines+markers" if col == "reward_mean" else "lines",
                name=f"{run.name}: {label}", legendgroup=run.name, line={"color": c, "dash": dash, "width": 2},
                marker={"size": 4}, hovertemplate=f"after %{{x}} trials<br>{label} %{{y:.4f}}<extra>%{{meta.run}}</extra>",
                meta={"role": col, "run": run.name}), row=2, col=1)
    fig.add_hline(y=LOW_SHARE, row=1, col=1, line={"dash": "dot", "color": "#9aa5b1", "width": 1})
    fig.update_yaxes(title_text="entropy share", range=[0, 1.05], row=1, col=1)
    fig.update_yaxes(title_text="reward", row=2, col=1)
    fig.update_xaxes(title_text="trials seen at the update", row=2, col=1)
    fig.update_layout(template=TEMPLATE, height=height, title={"text": CONTROLLER_TITLE, "font": {"size": 14}},
                      legend={"orientation": "h", "y": -0.15}, margin={"t": 60, "r": 20}, hovermode="closest",
                      uirevision="controller")
    return fig


def controller_line(run: RunData) -> str | None:
    """``controller: 62 updates, entropy share 1.00 -> 0.12 (first below 0.2 after 180 trials)``; ``None`` without updates."""
    frame = updates(run)
    if not len(frame):
        return None
    count = f"{len(frame)} update{'s' * (len(frame) != 1)}"
    share = frame[frame["entropy_share"].notna()]
    if not len(share):
        return f"controller: {count}, no entropy share recorded"
    first, last = float(share["entropy_share"].iloc[0]), float(share["entropy_share"].iloc[-1])
    text = f"controller: {count}, entropy share {first:.2f}" + (f" -> {last:.2f}" if len(share) > 1 else "")
    low = share[share["entropy_share"] < LOW_SHARE]
    if len(low):
        text += f" (first below {LOW_SHARE:g} after {int(low['trials'].iloc[0])} trials)"
    return text


def reading(run: RunData) -> str:
    """:func:`controller_line`, or why the run has none (the report's line per run)."""
    sampler = str(run.config.get("sampler") or "") or "not recorded"
    return controller_line(run) or f"no controller updates (sampler {sampler})"
