"""The review page: a Dash app over one or several results folders, read-only, refreshing while runs go on.

A :class:`~effsearch.review.dashboard.data.RunCache` holds the loaded folders. A ``dcc.Interval`` polls the
results files' modification times every few seconds (a few ``stat`` calls, no lock, no write) and
bumps a version token only when a run wrote something, which redraws the open view; zoom and control
choices survive the redraw. Only the open tab is computed, so a 5,000-trial search renders quickly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dash_ag_grid as dag
from dash import Dash, Input, Output, State, dcc, html, no_update

from effsearch.errors import EffsearchError
from effsearch.review.dashboard import (
    compare_figures,
    compound_figures,
    controller_figures,
    figures,
    summary,
    tables,
    trained,
    trained_figures,
)
from effsearch.review.dashboard.cache import RunCache
from effsearch.review.dashboard.data import RunData, trial_spec

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8050
TABS = (("runs", "Runs"), ("pareto", "Pareto front"), ("learning", "Learning"), ("trials", "Trials"),
        ("grid", "Grid"), ("family", "Family"), ("trained", "Trained"))
TAB_STYLE = {"padding": "8px 12px", "lineHeight": "22px"}
GRAPH_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2}}
TRIAL_COLUMNS = ("run", "number", "outcome", "sampler", "proposal", "accuracy", "reward", "macs", "params", "latency_ms",
                 "over_budget", "train_seconds", "duration_s", "blocks", "reason", "datetime_start")


def create_app(folders: Sequence[str | Path], *, poll_seconds: float = 2.0) -> Dash:
    """The dashboard for ``folders`` (results folders); raises EffsearchError for a missing or empty one."""
    cache = RunCache(list(folders))
    app = Dash(__name__, title="effsearch dashboard", suppress_callback_exceptions=True, update_title=None,
               assets_folder=str(Path(__file__).with_name("assets")))
    app.layout = lambda: _layout(cache, poll_seconds)
    _register(app, cache)
    return app


# --- layout ---------------------------------------------------------------------------------------


def _default_tab(runs: list[RunData]) -> str:
    if any(len(r.trials) for r in runs):
        return "pareto"
    if any(r.family or r.compare is not None for r in runs):
        return "family"
    if any(r.grid is not None for r in runs):
        return "grid"
    return "trained" if trained.trained_runs(runs) else "runs"


def _status(runs: list[RunData]) -> list[Any]:
    running = sum(int((r.trials["outcome"] == "running").sum()) for r in runs if len(r.trials))
    done = sum(len(r.trials) for r in runs) - running
    live = f" · {running} running, refreshing" if running else ""
    models = [trained.trained_row(r) for _, r in trained.trained_runs(runs)]
    training = sum(m["status"] != "done" for m in models)
    if models:
        live += f" · {len(models)} trained model{'s' * (len(models) != 1)}" + (f", {training} training, refreshing" if training else "")
    notes = [html.Div(f"{r.name}: {n}", className="note") for r in runs for n in r.notes]
    return [html.Span(f"{len(runs)} run{'s' * (len(runs) != 1)} · {done} trials{live} · read {time.strftime('%H:%M:%S')}"), *notes]


def _layout(cache: RunCache, poll_seconds: float) -> html.Div:
    runs = cache.runs()
    return html.Div(className="page", children=[
        html.Header(className="top", children=[
            html.H1(["effsearch ", html.Small("dashboard")]),
            html.Div(", ".join(r.name for r in runs), className="run-names", title="\n".join(str(r.folder) for r in runs)),
            html.Div(_status(runs), id="status", className="status"),
        ]),
        dcc.Interval(id="poll", interval=int(poll_seconds * 1000)),
        dcc.Store(id="version", data=cache.version()),
        dcc.Store(id="selection"),
        dcc.Tabs(id="tabs", value=_default_tab(runs), style={"height": "40px"}, children=[
            dcc.Tab(label=label, value=value, style=TAB_STYLE, selected_style={**TAB_STYLE, "fontWeight": 600})
            for value, label in TABS
        ]),
        html.Div(id="tab-content", className="view"),
        html.Section(id="architecture", className="architecture", children=tables.architecture_placeholder()),
    ])


def _radio(id_: str, options: dict[str, str], value: str) -> dcc.RadioItems:
    return dcc.RadioItems(id=id_, options=[{"label": v, "value": k} for k, v in options.items()], value=value,
                          inline=True, persistence=True, persistence_type="session", className="radio")


def _graph(id_: str) -> dcc.Loading:
    return dcc.Loading(dcc.Graph(id=id_, config=GRAPH_CONFIG, figure=figures.message_figure("loading…")), delay_show=400)


def _tab_content(tab: str, cache: RunCache) -> list[Any]:
    if tab == "pareto":
        return [html.Div(className="controls", children=[
            html.Label("x axis"), _radio("pareto-x", summary.AXES, "macs"),
            html.Label("runs"), _radio("pareto-layout", {"overlay": "overlaid", "side": "side by side"}, "overlay"),
            html.Span("click a point to see its architecture below", className="hint"),
        ]), _graph("pareto-graph")]
    if tab == "learning":
        return [html.Div(className="controls", children=[
            html.Label("metric"), _radio("learning-metric", {"reward": "reward", "accuracy": "accuracy"}, "reward"),
            html.Label("moving average over"),
            dcc.Input(id="learning-window", type="number", min=1, max=500, step=1, value=20, debounce=True,
                      persistence=True, persistence_type="session", className="window"),
            html.Span("trials", className="hint"),
        ]), _graph("learning-graph"), _graph("controller-graph"), html.Div(id="rungs-view")]
    if tab == "trials":
        return [html.Div("Sort and filter from the column headers; click a row to see its architecture below.", className="hint"),
                _trials_grid(cache.runs())]
    if tab == "grid":
        return [_graph("grid-graph"), html.Div(id="grid-table")]
    if tab == "family":
        return [html.Div(id="families-view"), _graph("family-graph"), _graph("accuracy-graph"), html.Div(id="family-table")]
    if tab == "trained":
        return [html.Div(id="trained-table"), _graph("trained-graph")]
    return [html.Div(id="runs-table")]


def _trials_grid(runs: list[RunData]) -> dag.AgGrid:
    columns = tables.trial_columns(runs, TRIAL_COLUMNS)
    rows, extra = tables.trial_records(runs, columns)
    return dag.AgGrid(
        id="trials-grid", rowData=rows, columnDefs=tables.trial_column_defs(columns, extra),
        defaultColDef={"sortable": True, "filter": True, "resizable": True, "floatingFilter": True, "minWidth": 90},
        getRowId="params.data.id", dashGridOptions={"animateRows": False, "pagination": True, "paginationPageSize": 100,
                                                    "paginationPageSizeSelector": [50, 100, 500, 1000]},
        style={"height": "640px"},
    )


# --- callbacks ------------------------------------------------------------------------------------


def _register(app: Dash, cache: RunCache) -> None:
    @app.callback(Output("version", "data"), Output("status", "children"), Input("poll", "n_intervals"),
                  State("version", "data"), prevent_initial_call=True)
    def poll(_: int, seen: str) -> tuple[Any, Any]:
        version = cache.version()
        if version == seen:
            return no_update, no_update
        return version, _status(cache.runs())

    @app.callback(Output("tab-content", "children"), Input("tabs", "value"))
    def render_tab(tab: str) -> list[Any]:
        return _tab_content(tab, cache)

    _register_views(app, cache)
    _register_selection(app, cache)


def _register_views(app: Dash, cache: RunCache) -> None:
    @app.callback(Output("pareto-graph", "figure"), Input("pareto-x", "value"), Input("pareto-layout", "value"),
                  Input("version", "data"))
    def pareto(x: str, layout: str, _: str) -> Any:
        return figures.pareto_figure(cache.runs(), x=x or "macs", side_by_side=layout == "side")

    @app.callback(Output("learning-graph", "figure"), Input("learning-metric", "value"), Input("learning-window", "value"),
                  Input("version", "data"))
    def learning(metric: str, window: Any, _: str) -> Any:
        size = int(window) if isinstance(window, (int, float)) and window >= 1 else 20
        return figures.learning_figure(cache.runs(), metric=metric or "reward", window=size)

    @app.callback(Output("controller-graph", "figure"), Input("version", "data"))
    def controller(_: str) -> Any:
        return controller_figures.controller_figure(cache.runs())

    @app.callback(Output("rungs-view", "children"), Input("version", "data"), Input("tabs", "value"))
    def rungs_view(_: str, tab: str) -> Any:
        if tab != "learning":
            return no_update
        return tables.rungs_view(cache.runs())

    @app.callback(Output("trials-grid", "rowData"), Input("version", "data"), prevent_initial_call=True)
    def trial_rows(_: str) -> Any:
        runs = cache.runs()
        return tables.trial_records(runs, tables.trial_columns(runs, TRIAL_COLUMNS))[0]

    @app.callback(Output("grid-graph", "figure"), Output("grid-table", "children"), Input("version", "data"),
                  Input("tabs", "value"))
    def grid(_: str, tab: str) -> Any:
        if tab != "grid":
            return no_update, no_update
        return compound_figures.grid_figure(cache.runs()), tables.grid_tables(cache.runs())

    @app.callback(Output("family-graph", "figure"), Output("accuracy-graph", "figure"), Output("family-table", "children"),
                  Input("version", "data"), Input("tabs", "value"))
    def family(_: str, tab: str) -> Any:
        if tab != "family":
            return no_update, no_update, no_update
        runs = cache.runs()
        return compound_figures.family_figure(runs), compare_figures.accuracy_figure(runs), tables.family_tables(runs)

    @app.callback(Output("families-view", "children"), Input("version", "data"), Input("tabs", "value"))
    def families_view(_: str, tab: str) -> Any:
        if tab != "family":
            return no_update
        return tables.families_view(cache.runs())

    @app.callback(Output("trained-graph", "figure"), Output("trained-table", "children"), Input("version", "data"),
                  Input("tabs", "value"))
    def trained_view(_: str, tab: str) -> Any:
        if tab != "trained":
            return no_update, no_update
        return trained_figures.trained_figure(cache.runs()), tables.trained_tables(cache.runs())

    @app.callback(Output("runs-table", "children"), Input("version", "data"), Input("tabs", "value"))
    def runs(_: str, tab: str) -> Any:
        if tab != "runs":
            return no_update
        return tables.runs_overview(cache.runs())


def _register_selection(app: Dash, cache: RunCache) -> None:
    @app.callback(Output("selection", "data"), Input("pareto-graph", "clickData"), prevent_initial_call=True)
    def from_plot(click: dict | None) -> Any:
        point = ((click or {}).get("points") or [{}])[0]
        data = point.get("customdata")
        if isinstance(data, dict):  # a row of a binary (typed) array arrives as {"0": ..., "1": ...}
            data = [data[k] for k in sorted(data, key=int)]
        if not isinstance(data, list) or len(data) < 2 or not all(isinstance(v, (int, float)) for v in data[:2]):
            return no_update
        return {"run": int(data[0]), "number": int(data[1])}

    @app.callback(Output("selection", "data", allow_duplicate=True), Input("trials-grid", "cellClicked"),
                  prevent_initial_call=True)
    def from_table(cell: dict | None) -> Any:
        row_id = str((cell or {}).get("rowId") or "")
        if ":" not in row_id:
            return no_update
        run, number = row_id.split(":", 1)
        return {"run": int(run), "number": int(float(number))}

    @app.callback(Output("architecture", "children"), Input("selection", "data"), prevent_initial_call=True)
    def architecture(selection: dict | None) -> Any:
        return _architecture(cache.runs(), selection or {})


def _architecture(runs: list[RunData], selection: dict) -> Any:
    index, number = selection.get("run"), selection.get("number")
    if not isinstance(index, int) or not 0 <= index < len(runs):
        return tables.architecture_placeholder()
    run = runs[index]
    rows = run.trials[run.trials["number"] == number]
    if not len(rows):
        return tables.architecture_placeholder(f"trial {number} is not in {run.name} any more")
    trial = rows.iloc[0]
    try:
        spec = trial_spec(run, trial["blocks"])
    except EffsearchError as exc:
        return tables.architecture_placeholder(f"{run.name} · trial {number}: {exc}")
    return tables.architecture_panel(run, trial, spec)


# --- serving --------------------------------------------------------------------------------------


def _probe(host: str, port: int) -> None:
    """Bind ``host:port`` once and let go (raises OSError as a bind would)."""
    import socket

    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))


class Server:
    """The page on ``host:port`` in a background thread (werkzeug, threaded); ``port=0`` picks a free one."""

    def __init__(self, app: Dash, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, *args: object, **kwargs: object) -> None:
                pass  # one line per poll would drown the terminal; errors are still logged

        try:
            _probe(host, port)  # werkzeug reports a failed bind by printing and exiting; say it in one line here
            self._server = make_server(host, port, app.server, threaded=True, request_handler=QuietHandler)
        except OSError as exc:
            raise EffsearchError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); use an address of this "
                                 "machine (127.0.0.1, 0.0.0.0) and a free port (0 picks one)") from None
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, name="effsearch-dashboard", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}/"

    def start(self) -> Server:
        """Serve in a background thread (tests, notebooks); :meth:`stop` ends it."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (the CLI)."""
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

