"""The dashboard without a browser: loading results folders, what the views compute and draw, the report, the CLI."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from effsearch import count
from effsearch.cli import main
from effsearch.errors import EffsearchError
from effsearch.review import analysis
from effsearch.review.dashboard import compound_figures, figures, summary, tables
from effsearch.review.dashboard.app import Server, create_app
from effsearch.review.dashboard.cache import RunCache, discover, run_names
from effsearch.review.dashboard.data import load_run, normalize_trials, trial_spec
from effsearch.review.dashboard.report import write_report
from tests.fakeruns import write_baseline_run, write_scale_run


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    write_baseline_run(root / "mnas", 60, seed=1, running=2)
    write_baseline_run(root / "random", 40, seed=2, sampler="random", hard=True)
    write_scale_run(root / "scale")
    return root


def front_roles(fig: object, role: str = "front") -> dict[str, int]:
    return {t.meta["run"]: len(t.x) for t in fig.data if (t.meta or {}).get("role") == role}


# --- loading --------------------------------------------------------------------------------------


def test_load_baseline_run(runs_dir: Path) -> None:
    run = load_run(runs_dir / "mnas")
    raw = pd.read_csv(runs_dir / "mnas" / "trials.csv")
    assert run.kind == "baseline" and run.target == 4e8 and run.name == "mnas"
    assert len(run.trials) == len(raw) == 60 and run.in_progress
    assert run.trials["over_budget"].dtype == bool
    counts = run.trials["outcome"].value_counts()
    assert counts["running"] == 2
    assert counts.get("failed", 0) == int((raw["state"] == "FAIL").sum())
    assert counts["over budget"] == int((raw["over_budget"] & raw["accuracy"].notna()).sum())
    assert run.baseline is not None and run.notes == ()


def test_load_scale_run(runs_dir: Path) -> None:
    run = load_run(runs_dir / "scale")
    assert run.kind == "scale" and run.target is None and len(run.trials) == 0
    assert run.grid is not None and len(run.family["members"]) == 8


@pytest.mark.parametrize(("make", "message"), [
    (lambda p: p / "nope", "does not exist"),
    (lambda p: p, "is empty"),
    (lambda p: (p / "file.txt").write_text("x") and p / "file.txt", "is not a folder"),
    (lambda p: (p / "supernet.json").write_text("{}") and p, "holds a supernet"),
])
def test_missing_or_empty_folder_is_one_clear_line(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(EffsearchError, match=message) as info:
        load_run(make(tmp_path))
    assert "\n" not in str(info.value) and "effsearch" in str(info.value)


def test_in_progress_folders_load_with_notes(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text('{"kind": "baseline", "config": {"flops_target": "400M"}}')
    (tmp_path / "study.db").write_bytes(b"")
    run = load_run(tmp_path)
    assert len(run.trials) == 0 and run.target == 4e8
    assert any("no trials.csv yet" in n for n in run.notes)
    (tmp_path / "trials.csv").write_text("")  # created, nothing written yet
    assert len(load_run(tmp_path).trials) == 0
    (tmp_path / "run.json").write_text("{not json")
    assert any("run.json could not be read" in n for n in load_run(tmp_path).notes)


def test_normalize_trials_fills_missing_columns() -> None:
    frame = normalize_trials(pd.DataFrame({"macs": [2e8, 3e8, 1e8], "accuracy": [0.5, None, 0.6],
                                           "status": ["ok", "failed", "cached"]}))
    assert frame["number"].tolist() == [0, 1, 2]
    assert frame["outcome"].tolist() == ["ok", "failed", "cached"]
    assert set(frame.columns) >= {"reward", "latency_ms", "blocks", "over_budget", "sampler"}


def test_cache_reloads_only_changed_folders(runs_dir: Path, tmp_path: Path) -> None:
    folder = write_baseline_run(tmp_path / "live", 10, seed=3)
    cache = RunCache([folder, runs_dir / "scale"])
    first, version = cache.runs(), cache.version()
    assert cache.runs()[0] is first[0] and cache.version() == version
    time.sleep(0.01)
    write_baseline_run(folder, 15, seed=3)
    assert cache.version() != version
    again = cache.runs()
    assert len(again[0].trials) == 15 and again[1] is first[1]


def test_discover_and_names(runs_dir: Path, tmp_path: Path) -> None:
    assert [p.name for p in discover(runs_dir)] == ["mnas", "random", "scale"]
    nested = tmp_path / "results"
    write_baseline_run(nested / "examples" / "demo", 5)
    assert discover(nested) == [nested / "examples" / "demo"]
    with pytest.raises(EffsearchError, match="does not exist"):
        discover(tmp_path / "missing")
    (tmp_path / "bare").mkdir()
    with pytest.raises(EffsearchError, match="no results folders"):
        discover(tmp_path / "bare")
    assert run_names([Path("a/run"), Path("b/run"), Path("c/x")]) == ["a/run", "b/run", "x"]


def test_trial_spec_matches_recorded_cost(runs_dir: Path) -> None:
    run = load_run(runs_dir / "mnas")
    for row in run.trials.itertuples():
        cost = count(trial_spec(run, row.blocks))
        assert (cost.params, cost.macs) == (row.params, row.macs)
    with pytest.raises(EffsearchError, match="no block strings"):
        trial_spec(run, "")


# --- what the views compute and draw --------------------------------------------------------------


def test_front_is_the_pure_computation_over_measured_trials(runs_dir: Path) -> None:
    run = load_run(runs_dir / "mnas")
    measured = run.trials[run.trials["accuracy"].notna() & (run.trials["status"] == "ok")]
    expected = analysis.pareto_front(measured)
    assert summary.front(run)["number"].tolist() == expected["number"].tolist()
    on_disk = pd.read_csv(runs_dir / "mnas" / "pareto.csv")
    assert sorted(summary.front(run)["number"]) == sorted(on_disk["number"])


def test_pareto_figure_draws_front_target_baseline_and_failures(runs_dir: Path) -> None:
    runs = [load_run(runs_dir / n) for n in ("scale", "mnas", "random")]
    fig = figures.pareto_figure(runs)
    assert front_roles(fig) == {"mnas": len(summary.front(runs[1])), "random": len(summary.front(runs[2]))}
    assert [s.x0 for s in fig.layout.shapes] == [4e8] * 4  # T: one line per run, across both rows
    assert fig.layout.xaxis.type == "log"
    star = next(t for t in fig.data if t.meta["role"] == "baseline" and t.meta["run"] == "mnas")
    chosen = summary.baseline_trial(runs[1])
    assert star.x[0] == chosen["macs"] and star.customdata[0][:2] == [1, chosen["number"]]  # run index 1: scale is 0
    failed = next(t for t in fig.data if t.meta["role"] == "failed" and t.meta["run"] == "random")
    assert len(failed.x) == int(runs[2].trials["outcome"].isin(["failed", "rejected"]).sum())
    faded = [t for t in fig.data if t.meta["role"] == "dominated"]
    assert all(t.marker.opacity < 0.5 for t in faded)


def test_pareto_figure_axes_layouts_and_webgl(runs_dir: Path, tmp_path: Path) -> None:
    runs = [load_run(runs_dir / "mnas"), load_run(runs_dir / "random")]
    params = figures.pareto_figure(runs, x="params", side_by_side=True)
    assert front_roles(params)["mnas"] == len(summary.front(runs[0], "params"))
    assert params.layout.xaxis2.type == "log" and not params.layout.shapes  # no MACs target on a params axis
    latency = figures.pareto_figure(runs, x="latency_ms")
    assert front_roles(latency)["mnas"] == len(summary.front(runs[0], "latency_ms"))
    no_latency = load_run(runs_dir / "mnas").trials.assign(latency_ms=np.nan)
    blank = runs[0].__class__(folder=runs[0].folder, name="x", trials=no_latency)
    assert "no latency measurement" in figures.pareto_figure([blank], x="latency_ms").layout.annotations[0].text
    assert figures.pareto_figure(runs).data[0].type == "scatter"
    big = load_run(write_baseline_run(tmp_path / "big", figures.WEBGL_POINTS + 10, seed=4))
    roles = ("dominated", "over_budget", "front")
    assert {t.type for t in figures.pareto_figure([big]).data if t.meta["role"] in roles} == {"scattergl"}


def test_learning_figure_overlays_runs_with_hypervolume(runs_dir: Path) -> None:
    runs = [load_run(runs_dir / "mnas"), load_run(runs_dir / "random")]
    fig = figures.learning_figure(runs, window=5)
    hv = {t.meta["run"]: t.y for t in fig.data if t.meta["role"] == "hypervolume"}
    assert set(hv) == {"mnas", "random"}
    assert hv["mnas"][-1] == pytest.approx(summary.hypervolume(runs[0]))
    best = next(t for t in fig.data if t.meta["role"] == "running_best" and t.meta["run"] == "random")
    assert np.nanmax(best.y) == pytest.approx(runs[1].trials["reward"].max())
    mixed = runs[0].trials.assign(sampler=np.where(runs[0].trials["number"] % 2 == 0, "mnas", "random"))
    both = runs[0].__class__(folder=runs[0].folder, name="mixed", trials=mixed, run=runs[0].run)
    labels = {t.meta["group"] for t in figures.learning_figure([both]).data}
    assert labels == {"mixed · mnas", "mixed · random"}


def test_grid_and_family_figures(runs_dir: Path) -> None:
    run = load_run(runs_dir / "scale")
    grid = compound_figures.grid_figure([run])
    chosen = next(t for t in grid.data if t.meta["role"] == "chosen")
    selected = run.grid[run.grid["selected"]].iloc[0]
    assert (chosen.x[0], chosen.y[0]) == (selected["alpha"], selected["beta"])
    assert any(t.meta["role"] == "constraint" for t in grid.data)
    assert len(next(t for t in grid.data if t.meta["role"] == "grid_failed").x) == 1
    assert len(next(t for t in grid.data if t.meta["role"] == "grid_pending").x) == 1
    assert len(next(t for t in grid.data if t.meta["role"] == "grid_over_budget").x) == 1
    measured = next(t for t in grid.data if t.meta["role"] == "grid")
    assert len(measured.x) == int(run.grid["accuracy"].notna().sum()) and "circle-open" in list(measured.marker.symbol)
    family = compound_figures.family_figure([run])
    official = next(t for t in family.data if t.meta["role"] == "official" and t.meta["metric"] == "macs")
    assert list(official.y) == [m.macs_paper for m in analysis.OFFICIAL_EFFICIENTNET]
    ours = next(t for t in family.data if t.meta["role"] == "family" and t.meta["metric"] == "params")
    assert list(ours.y) == [m["params"] for m in run.family["members"]]
    assert family.layout.yaxis.type == "log"
    empty = load_run(runs_dir / "mnas")
    assert "no grid.csv" in compound_figures.grid_figure([empty]).layout.annotations[0].text


def test_family_table_of_the_official_rule_matches_the_paper(tmp_path: Path) -> None:
    """B0 scaled by the released table lands within 10% of the paper's params and MACs, phi by phi."""
    from effsearch import get_preset
    from effsearch.compound.family import make_family, save_family

    save_family(make_family(get_preset("efficientnet-b0"), range(8), rule="official"), tmp_path)
    table = summary.family_table(load_run(tmp_path))
    assert table["official"].tolist() == [f"B{i}" for i in range(8)]
    assert table["params_ratio"].between(0.9, 1.1).all() and table["macs_ratio"].between(0.9, 1.1).all()


def test_tables(runs_dir: Path) -> None:
    runs = [load_run(runs_dir / n) for n in ("mnas", "scale")]
    overview = tables.runs_frame(runs)
    assert list(overview.columns) == ["", "mnas", "scale"]
    assert overview.set_index("")["mnas"]["trials"] == "60"
    family = tables.family_frame(runs[1])
    assert family["official"].tolist() == [f"B{i}" for i in range(8)]
    assert len(tables.stage_frame(runs[0].baseline)) == len(runs[0].baseline.blocks) + 3
    rows, extra = tables.trial_records(runs, ("run", "number", "accuracy"))
    assert len(rows) == 60 and rows[0]["id"] == "0:0" and "d_s1_kernel" in extra
    assert all(r["accuracy"] is None or r["accuracy"] == r["accuracy"] for r in rows)  # NaN sent as null


# --- report ---------------------------------------------------------------------------------------


def test_report_is_one_offline_file(runs_dir: Path, tmp_path: Path) -> None:
    out = write_report([runs_dir / "mnas", runs_dir / "random", runs_dir / "scale"], tmp_path / "r.html")
    text = out.read_text()
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=", text)  # nothing fetched: the browser test checks requests
    assert "plotly.js v" in text or "Plotly" in text
    for section in ("section-runs", "section-pareto", "section-learning", "section-trials", "section-grid", "section-family"):
        assert f'id="{section}"' in text
    scale_only = write_report([runs_dir / "scale"], tmp_path / "scale.html").read_text()
    assert 'id="section-family"' in scale_only and 'id="section-pareto"' not in scale_only
    with pytest.raises(EffsearchError, match="is a folder"):
        write_report([runs_dir / "mnas"], tmp_path)
    with pytest.raises(EffsearchError, match="does not exist"):
        write_report([tmp_path / "missing"], tmp_path / "x.html")


# --- command line ---------------------------------------------------------------------------------


def test_report_command(runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", str(runs_dir / "mnas"), "-o", str(tmp_path / "out.html")]) == 0
    assert (tmp_path / "out.html").stat().st_size > 1_000_000  # plotly.js is inside
    assert "wrote" in capsys.readouterr().out


def test_dashboard_command_errors(runs_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    for argv, message in (
        (["dashboard", str(tmp_path / "missing")], "does not exist"),
        (["dashboard", str(tmp_path / "empty")], "is empty"),
        (["dashboard", str(tmp_path), "--port", "70000"], "--port 70000 is invalid"),
        (["dashboard", str(runs_dir / "mnas"), "--host", "999.1.1.1"], "--host '999.1.1.1' is not an address"),
        (["dashboard", str(runs_dir / "mnas"), "--host", "10.255.255.1", "--port", "0"], "cannot listen on 10.255.255.1:0"),
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    monkeypatch.chdir(tmp_path)
    assert main(["dashboard"]) == 1
    assert "results/ does not exist" in capsys.readouterr().err


def test_a_port_in_use_is_one_line(runs_dir: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(EffsearchError, match=f"cannot listen on 127.0.0.1:{port}"):
            Server(create_app([runs_dir / "mnas"]), port=port)


def test_server_binds_to_loopback_by_default(runs_dir: Path) -> None:
    from effsearch.cli import build_parser

    args = build_parser().parse_args(["dashboard", str(runs_dir / "mnas")])
    assert args.host == "127.0.0.1"
    with Server(create_app([runs_dir / "mnas"]), port=0) as server:
        assert server.host == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")


def _listening(port: int) -> set[str]:
    """Local addresses of sockets in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(name):
            continue
        for line in Path(name).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/net/tcp"), reason="needs Linux /proc/net/tcp to see the listening address")
def test_dashboard_command_listens_on_loopback_only(runs_dir: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "effsearch", "dashboard", str(runs_dir / "mnas"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, line + proc.stderr.read() if proc.poll() is not None else line
        port = int(match.group(1))
        assert _listening(port) == {"0100007F"}  # 127.0.0.1, little-endian hex; not 00000000 (all interfaces)
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200 and b"effsearch dashboard" in response.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- a real search's folder -----------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_search_folder(tmp_path: Path) -> None:
    """The baseline search's own export (real Optuna study, real trials.csv/pareto.csv/baseline.yaml)."""
    from tests.search_helpers import Scorer, search

    out = tmp_path / "real"
    search(out, evaluate=Scorer(), space="small", sampler="random", trials=10, target=3e8, retrain_top=2)
    gc.collect()  # the search's storage engine checkpoints its SQLite journal when it is collected
    before = _snapshot(out)
    run = load_run(out)
    assert run.kind == "baseline" and run.target == 3e8 and len(run.trials) == 10 and run.notes == ()
    on_disk = pd.read_csv(out / "pareto.csv")
    assert sorted(summary.front(run)["number"]) == sorted(on_disk["number"])
    assert summary.baseline_trial(run) is not None
    retrained = tables.retrain_frame(run)
    assert len(retrained) == 2 and retrained["chosen"].tolist().count("★") == 1
    for row in run.trials.itertuples():  # every candidate's architecture rebuilds to its recorded cost
        cost = count(trial_spec(run, row.blocks))
        assert (cost.params, cost.macs) == (row.params, row.macs)
    fig = figures.pareto_figure([run])
    assert front_roles(fig) == {"real": len(on_disk)}
    assert write_report([out], tmp_path / "real.html").stat().st_size > 1_000_000
    import urllib.request

    with Server(create_app([out]), port=0) as server, urllib.request.urlopen(server.url, timeout=30) as page:
        assert page.status == 200
    assert _snapshot(out) == before, "the dashboard and the report must never write to a results folder"


def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    import hashlib

    return {p.name: (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).digest()) for p in sorted(folder.iterdir())}


def test_a_space_file_from_another_machine_falls_back_to_the_space_name() -> None:
    from effsearch.review.dashboard.data import _space_skeleton

    skeleton = _space_skeleton({"space_file": "/elsewhere/effsearch/search_spaces/small.yaml", "space": "small"})
    assert skeleton == {"resolution": 224, "head_chs": 1280, "act": "swish"}  # num_classes: the file's default, NetSpec's
    assert _space_skeleton({"space_file": "/elsewhere/x.yaml", "space": "/elsewhere/x.yaml"}) == {}


def test_the_space_skeleton_is_the_spaces_network_read_without_the_search_package(tmp_path: Path) -> None:
    """The dashboard reads the space file's network section itself: showing results needs no search package."""
    import subprocess
    import sys

    from effsearch.review.dashboard.data import _space_skeleton
    from effsearch.search.space import load_space

    space = load_space("mnasnet")
    assert _space_skeleton({"space_file": space.source}) == {
        "resolution": space.resolution, "head_chs": space.head, "act": space.act}
    from effsearch.search.space_fit import scale_space

    scaled = _space_skeleton({"space": "mnasnet", "space_width": 0.38})  # a search on a fitted space
    assert scaled["head_chs"] == scale_space(space, 0.38).head == 488
    custom = tmp_path / "custom.yaml"
    custom.write_text("network: {stem: 8, head: 96, resolution: 64, act: relu, num_classes: 7}\n")
    assert _space_skeleton({"space_file": str(custom)}) == {"resolution": 64, "head_chs": 96, "num_classes": 7, "act": "relu"}
    code = ("import sys; from effsearch.review.dashboard.data import _space_skeleton;"
            "assert _space_skeleton({'space': 'small'})['resolution'] == 224;"
            "assert not [m for m in sys.modules if m.startswith('effsearch.search')], 'the search package was imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_proposal_column_is_kept_and_blank_in_older_runs():
    """Where a controller trial came from (policy sample or neighbour of the best) reaches the trials grid;
    a trials.csv written before the column existed shows it blank."""
    from effsearch.review.dashboard.app import TRIAL_COLUMNS
    from effsearch.review.dashboard.frames import normalize_trials

    frame = normalize_trials(pd.DataFrame({"number": [0, 1, 2], "proposal": ["policy", "neighbour", None]}))
    assert list(frame["proposal"]) == ["policy", "neighbour", ""] and "proposal" in TRIAL_COLUMNS
    assert list(normalize_trials(pd.DataFrame({"number": [0]}))["proposal"]) == [""]
