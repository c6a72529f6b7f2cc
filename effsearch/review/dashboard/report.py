"""``write_report``: one self-contained HTML file with the dashboard's plots and tables, for sharing.

plotly.js is inlined once (no CDN, no server), so the file opens offline from disk or an e-mail.
The figures are the dashboard's own builders; the interactive parts that need a server (clicking a
trial, live refresh) are replaced by the Pareto-front trials table and each baseline's stage table.
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from effsearch import __version__
from effsearch.errors import EffsearchError
from effsearch.review.dashboard import (
    compound_figures,
    controller_figures,
    families,
    families_figures,
    figures,
    rung_figures,
    rungs,
    summary,
    tables,
    trained,
    trained_figures,
)
from effsearch.review.dashboard.cache import expand, run_names
from effsearch.review.dashboard.data import RunData, load_run
from effsearch.runtime.results import atomic_write_text, check_writable

_CONFIG = {"displaylogo": False, "responsive": True}
_STYLE = (Path(__file__).with_name("assets") / "style.css")
_SWITCH_JS = """
function effsearchShow(group, key) {
  document.querySelectorAll('[data-group="' + group + '"]').forEach(function (el) {
    var on = el.dataset.key === key; el.style.display = on ? '' : 'none';
    if (on) el.querySelectorAll('.js-plotly-plot').forEach(function (gd) { Plotly.Plots.resize(gd); });
  });
  document.querySelectorAll('[data-switch="' + group + '"]').forEach(function (b) {
    b.classList.toggle('on', b.dataset.key === key);
  });
}
"""
_EXTRA_CSS = """
.switch button { border: 1px solid #d6dbe1; background: #fff; padding: 4px 10px; cursor: pointer; }
.switch button.on { background: #3b4754; color: white; }
section.block { background: white; border: 1px solid #d6dbe1; padding: 10px 14px; margin: 14px 0; }
.meta { color: #6b7785; font-size: 13px; }
"""


def _figure(fig: go.Figure, div_id: str) -> str:
    return pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{div_id}", config=_CONFIG)


def _section(title: str, body: str, anchor: str) -> str:
    return f'<section class="block" id="section-{anchor}"><h2>{html.escape(title)}</h2>{body}</section>'


def _retrained(run: RunData, index: int) -> str:
    """The retraining table and, when some retraining finished, the search score's fidelity figure."""
    fig = figures.fidelity_figure(run)
    return (f"<h3>{html.escape(run.name)}: top candidates retrained for longer</h3>"
            f"{tables.to_html(tables.retrain_frame(run))}" + ("" if fig is None else _figure(fig, f"fidelity-{index}")))


def _pareto_section(runs: Sequence[RunData]) -> str:
    axes = [x for x in summary.AXES if any(len(summary.candidates(r, x)) for r in runs)] or ["macs"]
    buttons = "".join(
        f'<button data-switch="pareto" data-key="{x}" class="{"on" if i == 0 else ""}" '
        f"onclick=\"effsearchShow('pareto', '{x}')\">{html.escape(summary.AXES[x])}</button>"
        for i, x in enumerate(axes)
    )
    panels = "".join(
        f'<div data-group="pareto" data-key="{x}" style="{"" if i == 0 else "display:none"}">'
        f"{_figure(figures.pareto_figure(runs, x=x), f'pareto-{x}')}</div>"
        for i, x in enumerate(axes)
    )
    return _section("Pareto front", f'<div class="switch">x axis: {buttons}</div>{panels}', "pareto")


def _rungs_section(runs: Sequence[RunData]) -> str:
    """Per run with rungs: the rungs figure, the pick's noise line and the rungs table (nothing without rungs)."""
    parts = []
    for i, run in enumerate(runs):
        fig = rung_figures.rungs_figure(run, index=i)
        if fig is None:
            continue
        line = rungs.pick_line(run)
        parts.append(f"<h3>{html.escape(run.name)}: rungs</h3>{_figure(fig, f'rungs-{i}')}"
                     + (f'<p class="facts">Pick: {html.escape(line)}</p>' if line else "")
                     + tables.to_html(tables.rungs_frame(run)))
    return _section("Rungs", "".join(parts), "rungs") if parts else ""


def _controller_section(runs: Sequence[RunData]) -> str:
    """The controller's entropy and rewards per update, and one reading per run (nothing when no run has updates)."""
    if not any(len(r.controller) for r in runs):
        return ""
    lines = "".join(f'<p class="facts">{html.escape(r.name)}: {html.escape(controller_figures.reading(r))}</p>'
                    for r in runs)
    return _section("Controller", _figure(controller_figures.controller_figure(runs), "controller") + lines, "controller")


def _trials_section(runs: Sequence[RunData]) -> str:
    parts = []
    for i, run in enumerate(runs):
        if not len(run.trials):
            continue
        parts.append(f"<h3>{html.escape(run.name)}: Pareto-front trials (accuracy vs MACs)</h3>")
        parts.append(tables.to_html(tables.front_frame(run)))
        if run.baseline is not None:
            parts.append(f"<h3>{html.escape(run.name)}: chosen baseline</h3>")
            parts.append(_figure(figures.architecture_figure(run.baseline), f"baseline-{i}"))
            parts.append(tables.to_html(tables.stage_frame(run.baseline)))
    return _section("Trials", "".join(parts), "trials") if parts else ""


def _grid_family_sections(runs: Sequence[RunData]) -> str:
    out = ""
    if any(r.grid is not None and len(r.grid) for r in runs):
        grid_tables = "".join(f"<h3>{html.escape(r.name)}: compound grid</h3>{tables.to_html(tables.grid_frame(r))}"
                              for r in runs if r.grid is not None and len(r.grid))
        out += _section("Grid", _figure(compound_figures.grid_figure(runs), "grid") + grid_tables, "grid")
    families_part = _families_part(runs)
    if families_part or any(len(tables.family_frame(r)) for r in runs):
        family_tables = "".join(f"<h3>{html.escape(r.name)}: family against EfficientNet B0..B7</h3>"
                                f"{tables.to_html(tables.family_frame(r))}" for r in runs if len(tables.family_frame(r)))
        sizes = _figure(compound_figures.family_figure(runs), "family") if family_tables else ""
        out += _section("Family", families_part + sizes + family_tables, "family")
    return out


def _families_part(runs: Sequence[RunData]) -> str:
    """Every family's test top-1 against MACs, its caption, notes and table (empty when no family has trained points)."""
    found = families.family_accuracy(runs)
    if not len(found.frame):
        return ""
    notes = "".join(f'<p class="note">{html.escape(n)}</p>' for n in found.notes)
    return (_figure(families_figures.families_figure(runs, found), "families")
            + f'<p class="facts">{html.escape(families_figures.CAPTION)}</p>{notes}'
            + tables.to_html(families.families_table(found.frame)))


def render_report(runs: Sequence[RunData], *, title: str = "effsearch report") -> str:
    """The report's HTML text for already-loaded runs."""
    retrained = "".join(_retrained(r, i) for i, r in enumerate(runs) if len(tables.retrain_frame(r)))
    body = _section("Runs side by side", tables.to_html(tables.runs_frame(runs), class_name="table wide") + retrained, "runs")
    if any(len(r.trials) for r in runs):
        body += _pareto_section(runs)
        body += _section("Learning", _figure(figures.learning_figure(runs), "learning"), "learning")
        body += _controller_section(runs)
        body += _rungs_section(runs)
        body += _trials_section(runs)
    body += _grid_family_sections(runs)
    if trained.trained_runs(list(runs)):
        body += _section("Trained", tables.to_html(trained.trained_frame(list(runs)))
                         + _figure(trained_figures.trained_figure(runs), "trained"), "trained")
    meta = f"effsearch {__version__} · written {time.strftime('%Y-%m-%d %H:%M:%S')} · " + ", ".join(
        html.escape(str(r.folder)) for r in runs)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE.read_text()}{_EXTRA_CSS}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script><script>{_SWITCH_JS}</script></head>'
        f'<body><div class="page"><h1>{html.escape(title)}</h1><p class="meta">{meta}</p>{body}</div></body></html>\n'
    )


def write_report(folders: Sequence[str | Path], path: str | Path, *, title: str | None = None) -> Path:
    """Write one self-contained HTML report of ``folders`` to ``path`` (atomically); returns the path."""
    if not folders:
        raise EffsearchError("no results folders given; pass at least one, e.g. 'effsearch report results/demo -o report.html'")
    out = Path(path)
    if out.is_dir():
        raise EffsearchError(f"{out} is a folder; give the report a file name, e.g. -o {out / 'report.html'}")
    check_writable(out, what="report", file=True)
    paths = expand(list(folders))
    runs = [load_run(f, name) for f, name in zip(paths, run_names(paths), strict=True)]
    text = render_report(runs, title=title or f"effsearch report: {', '.join(r.name for r in runs)}")
    return atomic_write_text(out, text)
