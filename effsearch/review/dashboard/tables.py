"""The page's tables: frames built from :mod:`.summary`, shown as Dash components or as static HTML.

Each table is first a pandas frame of display strings (``*_frame``), so the live page and the static
report show the same numbers; :func:`to_dash` and :func:`to_html` only render it.
"""

from __future__ import annotations

import html as htmlesc
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from dash import dcc, html

from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.arch.summary import stage_rows
from effsearch.review.dashboard import families, families_figures, figures, rung_figures, rungs, summary, trained
from effsearch.review.dashboard.data import RunData, decision_columns, normalize_grid
from effsearch.units import format_count


def _count(value: Any) -> str:
    return format_count(float(value)) if summary.is_number(value) else ""


def _fixed(value: Any, digits: int = 4) -> str:
    return f"{float(value):.{digits}f}" if summary.is_number(value) else ""


# --- frames ---------------------------------------------------------------------------------------


def runs_frame(runs: Sequence[RunData]) -> pd.DataFrame:
    """The runs side by side: one column per run, one row per headline number."""
    rows = {
        "kind": lambda s: s["kind"], "folder": lambda s: s["folder"], "command": lambda s: s["command"],
        "target T": lambda s: s["target_text"], "samplers": lambda s: s["samplers"],
        "trials": lambda s: str(s["trials"]), "running": lambda s: str(s["running"]),
        "failed / rejected": lambda s: str(s["failed"]), "pruned (stopped at a lower rung)": lambda s: str(s["pruned"]),
        "over budget": lambda s: str(s["over_budget"]),
        "best accuracy within budget": lambda s: _fixed(s["best_accuracy_within_budget"]),
        "best reward": lambda s: _fixed(s["best_reward"]), "Pareto-front size": lambda s: str(s["front_size"]),
        "hypervolume (ref 2T, acc 0; ÷T)": lambda s: _fixed(s["hypervolume"]),
        "baseline params": lambda s: _count(s["baseline_params"]), "baseline MACs": lambda s: _count(s["baseline_macs"]),
        "grid points": lambda s: str(s["grid_points"]), "family members": lambda s: str(s["family_members"]),
        "notes": lambda s: s["notes"],
    }
    summaries = [summary.run_summary(r) for r in runs]
    data = {s["run"]: [fmt(s) for fmt in rows.values()] for s in summaries}
    return pd.DataFrame(data, index=pd.Index(list(rows), name="")).reset_index()


def grid_frame(run: RunData) -> pd.DataFrame:
    grid = normalize_grid(run.grid)
    out = pd.DataFrame({
        "α": grid["alpha"].map(lambda v: _fixed(v, 3)), "β": grid["beta"].map(lambda v: _fixed(v, 3)),
        "γ": grid["gamma"].map(lambda v: _fixed(v, 3)), "α·β²·γ²": grid["flops_ratio"].map(lambda v: _fixed(v, 3)),
        "accuracy": grid["accuracy"].map(_fixed), "params": grid["params"].map(_count), "MACs": grid["macs"].map(_count),
        "epochs": grid["epochs"].map(lambda v: _fixed(v, 0)), "status": grid["status"], "reason": grid["reason"],
        "chosen": np.where(grid["selected"], "★", ""),
    })
    acc = grid["accuracy"].fillna(-1.0)
    return out.iloc[np.argsort(-acc.to_numpy(), kind="stable")]


def family_frame(run: RunData) -> pd.DataFrame:
    table = summary.family_table(run)
    if not len(table):
        return table
    budget = {"budget": table["budget"].fillna("")} if "budget" in table and table["budget"].fillna("").any() else {}
    return pd.DataFrame({
        "φ": table["phi"].map(lambda v: f"{v:g}"), "name": table["name"], **budget, "resolution": table["resolution"].map(lambda v: _fixed(v, 0)),
        "width": table["width"].map(lambda v: _fixed(v, 3)), "depth": table["depth"].map(lambda v: _fixed(v, 3)),
        "params": table["params"].map(_count), "MACs": table["macs"].map(_count), "official": table["official"].fillna(""),
        "official params": table["params_paper"].map(_count), "official MACs": table["macs_paper"].map(_count),
        "params ÷ official": table["params_ratio"].map(lambda v: _fixed(v, 2)),
        "MACs ÷ official": table["macs_ratio"].map(lambda v: _fixed(v, 2)),
    })


def stage_frame(spec: NetSpec) -> pd.DataFrame:
    rows = stage_rows(spec)
    return pd.DataFrame({
        "stage": [r["name"] for r in rows], "block": [r["block"] or "" for r in rows], "op": [r["op"] for r in rows],
        "k": [r["kernel"] for r in rows], "s": [r["stride"] for r in rows],
        "e": ["" if r["exp_ratio"] is None else f"{r['exp_ratio']:g}" for r in rows],
        "SE": ["" if not r["se_ratio"] else f"{r['se_ratio']:g}" for r in rows],
        "channels": [f"{r['in_chs']}→{r['out_chs']}" if r["in_chs"] else str(r["out_chs"]) for r in rows],
        "repeats": [r["repeats"] for r in rows], "feature map": [f"{r['in_size']}→{r['out_size']}" for r in rows],
        "params": [format_count(r["params"]) for r in rows], "MACs": [format_count(r["macs"]) for r in rows],
    })


def retrain_frame(run: RunData) -> pd.DataFrame:
    """retrain.csv: the top candidates trained again for longer, proxy (short) against long accuracy."""
    frame = run.retrain if run.retrain is not None else pd.DataFrame()
    if not len(frame):
        return pd.DataFrame()

    def col(name: str) -> pd.Series:  # older files may lack a column: show it blank
        return frame[name] if name in frame else pd.Series([np.nan] * len(frame), index=frame.index)

    return pd.DataFrame({
        "trial": col("number").map(lambda v: _fixed(v, 0)), "epochs": col("epochs").map(lambda v: _fixed(v, 0)),
        "accuracy (short)": col("accuracy_short").map(_fixed), "accuracy (long)": col("accuracy_long").map(_fixed),
        "reward (short)": col("reward_short").map(_fixed), "reward (long)": col("reward").map(_fixed),
        "MACs": col("macs").map(_count), "status": col("status").fillna(""),
        "chosen": np.where(col("selected").astype(str).str.lower() == "true", "★", ""),
    })


def rungs_frame(run: RunData) -> pd.DataFrame:
    """Per rung of a multi-fidelity run: candidates trained there, how many went on, the best of it."""
    table = rungs.rung_table(run)
    return pd.DataFrame({
        "rung": table["label"], "trained": table["trained"].map(str),
        "promoted": table["promoted"].map(lambda v: _fixed(v, 0) if summary.is_number(v) else "(top rung)"),
        "best accuracy": table["best_accuracy"].map(_fixed), "best reward": table["best_reward"].map(_fixed),
        "best trial (reward)": table["best_trial"].map(lambda v: _fixed(v, 0)),
    })


def front_frame(run: RunData, limit: int = 200) -> pd.DataFrame:
    """The Pareto-front trials of a run, cheapest first (the report's trials table)."""
    front = summary.front(run).head(limit)
    return pd.DataFrame({
        "trial": front["number"].map(lambda v: _fixed(v, 0)), "accuracy": front["accuracy"].map(_fixed),
        "reward": front["reward"].map(_fixed), "MACs": front["macs"].map(_count), "params": front["params"].map(_count),
        "over budget": np.where(front["over_budget"], "yes", ""), "blocks": front["blocks"],
    })


# --- renderers ------------------------------------------------------------------------------------


def to_dash(frame: pd.DataFrame, *, id_: str | None = None, class_name: str = "table") -> html.Div:
    """A plain HTML table in a horizontally scrolling box (long block strings never widen the page)."""
    head = html.Thead(html.Tr([html.Th(str(c)) for c in frame.columns]))
    body = html.Tbody([html.Tr([html.Td(str(v)) for v in row]) for row in frame.itertuples(index=False)])
    table = html.Table([head, body], id=id_, className=class_name) if id_ else html.Table([head, body], className=class_name)
    return html.Div(table, className="scroll")


def to_html(frame: pd.DataFrame, *, class_name: str = "table") -> str:
    head = "".join(f"<th>{htmlesc.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{htmlesc.escape(str(v))}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False)
    )
    return f'<div class="scroll"><table class="{class_name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


# --- page pieces ----------------------------------------------------------------------------------


def runs_overview(runs: Sequence[RunData]) -> html.Div:
    retrained = [_retrained(r, i) for i, r in enumerate(runs) if len(retrain_frame(r))]
    return html.Div([html.H3("Runs side by side"), to_dash(runs_frame(runs), id_="runs-overview", class_name="table wide"),
                     *retrained])


def _retrained(run: RunData, index: int) -> html.Div:
    """A run's retraining table, and below it how well the search's score predicted the retrained accuracy."""
    fig = figures.fidelity_figure(run)
    graph = [] if fig is None else [dcc.Graph(figure=fig, config=figures_config(), id=f"fidelity-graph-{index}")]
    return html.Div([html.H3(f"{run.name}: top candidates retrained for longer"), to_dash(retrain_frame(run)), *graph])


def rungs_view(runs: Sequence[RunData]) -> list[Any]:
    """Under the learning curves, per run with rungs: the rungs figure, the pick's noise line and the rungs table."""
    out = []
    for i, run in enumerate(runs):
        fig = rung_figures.rungs_figure(run, index=i)
        if fig is None:
            continue
        line = rungs.pick_line(run)
        out.append(html.Div([
            html.H3(f"{run.name}: rungs"), dcc.Graph(figure=fig, config=figures_config(), id=f"rungs-graph-{i}"),
            html.P(f"Pick: {line}", className="facts", id=f"rungs-pick-{i}") if line else None,
            to_dash(rungs_frame(run), id_=f"rungs-table-{i}"),
        ]))
    return out


def grid_tables(runs: Sequence[RunData]) -> list[Any]:
    return [html.Div([html.H3(f"{r.name}: compound grid"), to_dash(grid_frame(r))])
            for r in runs if r.grid is not None and len(r.grid)]


def family_tables(runs: Sequence[RunData]) -> list[Any]:
    out = []
    for r in runs:
        frame = family_frame(r)
        if len(frame):
            coeffs = (r.family or {}).get("coefficients") or {}
            label = ", ".join(f"{k} = {v:.3g}" for k, v in coeffs.items() if summary.is_number(v))
            warnings = [html.P(str(w), className="note") for w in (r.family or {}).get("warnings") or []]
            out.append(html.Div([html.H3(f"{r.name}: family against EfficientNet B0..B7 ({label})"), *warnings, to_dash(frame)]))
    return out


def families_view(runs: Sequence[RunData]) -> list[Any]:
    """The Family view's comparison of families: accuracy against MACs, its caption, notes and table (nothing when no
    family has a trained member or a compare.csv)."""
    found = families.family_accuracy(runs)
    if not len(found.frame):
        return []
    fig = families_figures.families_figure(runs, found)
    return [dcc.Graph(figure=fig, config=figures_config(), id="families-graph"),
            html.P(families_figures.CAPTION, className="facts", id="families-caption"),
            *[html.P(n, className="note") for n in found.notes],
            to_dash(families.families_table(found.frame), id_="families-table")]


def trained_tables(runs: Sequence[RunData]) -> list[Any]:
    """The Trained view's table: one row per trained model (``effsearch train`` folders)."""
    frame = trained.trained_frame(list(runs))
    if not len(frame):
        return [html.P("No trained-model folders here: 'effsearch train' writes them (results/trained/<name>).", className="hint")]
    return [html.H3("Trained models"), to_dash(frame, id_="trained-models")]


def trial_records(runs: Sequence[RunData], columns: Sequence[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """All runs' trials as grid rows (``id`` = ``run-index:number``) and the decision columns found."""
    frames, extra = [], []
    for i, run in enumerate(runs):
        if not len(run.trials):
            continue
        frame = run.trials.assign(run=run.name, id=[f"{i}:{n:.0f}" for n in run.trials["number"]])
        extra += [c for c in decision_columns(frame) if c not in extra]
        frames.append(frame[[*columns, "id", *[c for c in decision_columns(frame)]]])
    if not frames:
        return [], []
    rows = pd.concat(frames, ignore_index=True)
    clean = rows.astype(object).where(pd.notna(rows), None)  # NaN is not JSON; blank cells are
    return clean.to_dict("records"), extra


_FORMATS = {
    "accuracy": "d3.format('.4f')", "reward": "d3.format('.4f')", "macs": "d3.format('.4s')",
    "params": "d3.format('.4s')", "latency_ms": "d3.format('.3f')", "train_seconds": "d3.format('.1f')",
    "duration_s": "d3.format('.1f')",
}


def trial_columns(runs: Sequence[RunData], columns: Sequence[str]) -> tuple[str, ...]:
    """``columns``, plus the rung each candidate reached and the finalists' per-seed accuracies when a run has rungs."""
    if not any(rungs.rung_count(r) for r in runs):
        return tuple(columns)
    out = list(columns)
    for new, after in (("rung", "outcome"), ("seed_accuracies", "accuracy")):
        out.insert(out.index(after) + 1 if after in out else len(out), new)
    return tuple(out)


def trial_column_defs(columns: Sequence[str], extra: Sequence[str]) -> list[dict[str, Any]]:
    defs = []
    for col in [*columns, *extra]:
        spec: dict[str, Any] = {"field": col, "headerName": col.removeprefix("d_") if col.startswith("d_") else col}
        if col in _FORMATS:
            spec.update(filter="agNumberColumnFilter", type="numericColumn",
                        valueFormatter={"function": f"params.value == null ? '' : {_FORMATS[col]}(params.value)"})
        elif col == "number":
            spec.update(filter="agNumberColumnFilter", pinned="left", width=100)
        elif col == "rung":
            spec.update(filter="agNumberColumnFilter", type="numericColumn", width=90)
        elif col == "seed_accuracies":
            spec.update(headerName="seed accuracies", tooltipField="seed_accuracies")
        elif col == "blocks":
            spec.update(minWidth=420, tooltipField="blocks")
        defs.append(spec)
    return defs


def architecture_placeholder(text: str = "Click a point in the Pareto front or a row in Trials to see its architecture.") -> list[Any]:
    return [html.P(text, className="hint", id="architecture-empty")]


def architecture_panel(run: RunData, trial: pd.Series, spec: NetSpec) -> list[Any]:
    """Block strings, a per-stage table and diagram with params and MACs, and the trial's numbers."""
    cost = count(spec)
    title = f"{run.name} · trial {trial['number']:.0f} · {trial['outcome']}"
    facts = [f"accuracy {_fixed(trial['accuracy'])}", f"reward {_fixed(trial['reward'])}",
             f"{format_count(cost.params)} params", f"{format_count(cost.macs)} MACs at {cost.resolution}px",
             f"sampler {trial['sampler']}"]
    if summary.is_number(trial["macs"]) and abs(float(trial["macs"]) - cost.macs) > 0.005 * cost.macs:
        facts.append(f"(recorded {format_count(trial['macs'])} MACs: the run's stem/head differ from the baseline's)")
    blocks = [html.Code(b) for b in str(trial["blocks"]).split()]
    return [
        html.H3(title, id="architecture-title"),
        html.P(" · ".join(facts), className="facts"),
        html.Div([html.Span("block strings ", className="label"), *blocks], id="architecture-blocks", className="blocks"),
        html.P(str(trial["reason"]), className="note") if trial["reason"] else None,
        dcc.Graph(figure=figures.architecture_figure(spec), config=figures_config(), id="architecture-graph"),
        to_dash(stage_frame(spec), id_="architecture-stages"),
    ]


def figures_config() -> dict[str, Any]:
    return {"displaylogo": False}
