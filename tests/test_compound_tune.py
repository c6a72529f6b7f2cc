"""The compound grid on Ray Tune: the trainable's inputs, rows and selection, resume and ASHA on a real cluster."""

from __future__ import annotations

import json
import os
import signal

import pytest
from ray.tune import Callback

from effsearch.arch.scaling import compound_scale, proxy_resolution
from effsearch.compound.grid import GridConfig, GridPoint, grid_points
from effsearch.compound.ledger import LEDGER, attempts, check_folder, grid_budget, grid_rows, read_ledger, select_best
from effsearch.compound.settings import TuneSettings
from effsearch.compound.trainable import _replay, phi1_spec
from effsearch.errors import EffsearchError

# --------------------------------------------------------------------------- pure parts


def test_phi1_spec_scales_depth_width_and_resolution_once(tiny_spec):
    point = GridPoint(0, 1.5, 1.3, 1.2)
    spec = phi1_spec(tiny_spec, point)
    assert spec == compound_scale(tiny_spec, alpha=1.5, beta=1.3, gamma=1.2, phi=1)
    assert spec.resolution == 40  # 32 * 1.2 = 38.4 -> nearest multiple of 8
    assert phi1_spec(tiny_spec, point.as_dict()) == spec
    assert phi1_spec(tiny_spec, point, resolution_multiple=1).resolution == 38


def test_proxy_resolution_grows_with_gamma():
    assert proxy_resolution(32, 1.0) == 32
    assert proxy_resolution(32, 1.15) == 37  # to the pixel, not to a multiple of 8 (that would be 40)
    assert proxy_resolution(8, 1.5) == 12
    assert proxy_resolution(16, 1.15, phi=3) == round(16 * 1.15**3)


def _done(index, accuracy, macs, status="ok", epoch=3, **extra):
    return {"event": "done", "index": index, "accuracy": accuracy, "macs": macs, "params": 10, "status": status,
            "epoch": epoch, "train_seconds": 1.0, "curve": [accuracy] * epoch, **extra}


def test_rows_mark_pending_stopped_failed_and_the_selection():
    points = [GridPoint(i, 1.0 + i / 10, 1.0, 1.0) for i in range(5)]
    events = [
        {"event": "start", "index": 0}, _done(0, 0.80, 300),
        {"event": "start", "index": 1}, _done(1, 0.90, 500),
        {"event": "start", "index": 2}, {"event": "start", "index": 2}, _done(2, 0.90, 400),
        {"event": "start", "index": 3}, _done(3, 0.95, 100, epoch=1),  # stopped early by ASHA
        {"event": "start", "index": 4}, {"event": "error", "index": 4, "reason": "RuntimeError: boom"},
    ]
    rows = grid_rows(points, events, epochs=3)
    by = {r["index"]: r for r in rows}
    assert [by[i]["status"] for i in range(5)] == ["ok", "ok", "ok", "stopped", "failed"]
    # 0.90 twice: the tie goes to fewer MACs; the stopped point's 0.95 is at one epoch, not comparable.
    assert [r["selected"] for r in rows] == [False, False, True, False, False]
    assert by[2]["attempts"] == 2 and by[4]["reason"] == "RuntimeError: boom"
    assert grid_rows(points, [], epochs=3)[0]["status"] == "pending"


def test_selection_ignores_failures_and_breaks_full_ties_by_index():
    rows = [
        {"index": 0, "status": "failed", "accuracy": None, "macs": 1},
        {"index": 1, "status": "ok", "accuracy": 0.5, "macs": 10},
        {"index": 2, "status": "ok", "accuracy": 0.5, "macs": 10},
    ]
    assert select_best(rows) == 1
    assert select_best(rows[:1]) is None


def test_failed_points_have_no_accuracy_in_the_csv():
    points = [GridPoint(0, 1.0, 1.0, 1.4)]
    row = grid_rows(points, [_done(0, 0.0, 5, status="failed", reason="diverged")], epochs=3)[0]
    assert row["status"] == "failed" and row["accuracy"] is None and row["reason"] == "diverged"


def test_replay_reports_the_recorded_curve_without_training():
    reports = []
    _replay(_done(7, 0.6, 50, epoch=3, loss=0.4) | {"curve": [0.2, 0.4, 0.6]}, {"index": 7}, reports.append)
    assert [r["accuracy"] for r in reports] == [0.2, 0.4, 0.6]
    assert [r.get("epoch") for r in reports] == [1, 2, 3]
    assert reports[-1]["final"] and all(r["replayed"] for r in reports)


def test_a_folder_is_resumed_only_with_the_same_settings(tmp_path):
    assert check_folder(tmp_path / "run", {"seed": 0, "proxy": {"epochs": 2}}) == []
    assert read_ledger(tmp_path / "run" / LEDGER)[0]["event"] == "settings"
    assert len(check_folder(tmp_path / "run", {"seed": 0, "proxy": {"epochs": 2}})) == 1
    with pytest.raises(EffsearchError, match=r"proxy\.epochs = 2, not 3"):
        check_folder(tmp_path / "run", {"seed": 0, "proxy": {"epochs": 3}})


def test_a_torn_ledger_line_is_ignored(tmp_path):
    path = tmp_path / LEDGER
    path.write_text(json.dumps({"event": "start", "index": 1}) + "\n" + '{"event": "done", "ind')
    assert attempts(read_ledger(path)) == {1: 1}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scheduler": "pbt"}, "scheduler"),
        ({"cpus_per_trial": 0}, "cpus"),
        ({"gpus_per_trial": -1}, "gpus"),
        ({"max_failures": -1}, "max failures"),
        ({"max_concurrent": 0}, "max concurrent"),
        ({"reduction_factor": 1}, "reduction"),
        ({"grace_period": 0}, "grace"),
    ],
)
def test_settings_are_validated(kwargs, message):
    with pytest.raises(EffsearchError, match=message):
        TuneSettings(**kwargs)


# --------------------------------------------------------------------------- on a real local Ray cluster


@pytest.fixture(scope="module")
def digits():
    from effsearch.data import load_dataset

    return load_dataset("digits", seed=0).subset(train=500, val=250, seed=0)


def _points(n):
    return grid_points(GridConfig(step=0.1, tolerance=0.1))[:n]


@pytest.fixture
def exact_spec(tiny_spec):
    """tiny_spec with channels rounded to 1, so rounding keeps most points within the grid's budget.

    With the default multiple of 8 only one of the 21 points keeps to it; with 1, the plan trains 6
    (1, 3, 4, 11, 15, 19), skips 12 over budget and lets 3 share a trained point's network.
    """
    import dataclasses

    return dataclasses.replace(tiny_spec, channel_divisor=1)


INTERRUPTED: list[int] = []  # module state, so the restored copy Tune pickled sees the same flag


class InterruptAfter(Callback):
    """Presses Ctrl-C (SIGINT to this process, as a user would) once ``n`` points have finished."""

    def __init__(self, n):
        self.n = n

    def on_trial_complete(self, iteration, trials, trial, **info):
        if not INTERRUPTED and sum(t.status == "TERMINATED" for t in trials) >= self.n:
            INTERRUPTED.append(1)
            os.kill(os.getpid(), signal.SIGINT)


def _trained(events):
    """How many times each point was really trained (replays of recorded points excluded)."""
    out = {}
    for e in events:
        if e.get("event") == "done" and not e.get("replayed"):
            out[e["index"]] = out.get(e["index"], 0) + 1
    return out


@pytest.mark.slow
def test_an_interrupted_grid_resumes_without_retraining_finished_points(ray_cluster, digits, exact_spec, tmp_path):
    from effsearch.compound.plan import GridPlan
    from effsearch.compound.tune import run_grid
    from effsearch.proxy import ProxyConfig

    interrupt = InterruptAfter(2)
    points, proxy = _points(21), ProxyConfig(epochs=1, resolution=12, threads=1)
    settings = TuneSettings(max_concurrent=1)  # one point at a time, so "two finished" is exact
    kwargs = {"data": digits, "proxy": proxy, "folder": tmp_path, "settings": settings}

    first = run_grid(exact_spec, points, callbacks=[interrupt], **kwargs)
    assert INTERRUPTED and not first.complete
    finished = {r["index"] for r in first.rows if r["status"] == "ok" and not r["reason"]}
    assert len(finished) >= 2 and any(r["status"] == "pending" for r in first.rows)

    second = run_grid(exact_spec, points, **kwargs)
    plan = GridPlan.from_events(read_ledger(tmp_path / LEDGER))
    assert len(plan.train) == 6 and len(plan.skipped) == 12 and len(plan.same_as) == 3
    assert second.complete
    assert {r["index"] for r in second.rows if r["status"] == "skipped"} == set(plan.skipped)
    assert all(r["status"] == "ok" for r in second.rows if r["index"] not in plan.skipped)
    events = read_ledger(tmp_path / LEDGER)
    starts = attempts(events)
    assert all(starts[i] == 1 for i in finished)  # Tune did not start the finished points again
    assert _trained(events) == dict.fromkeys(plan.train, 1)  # nothing skipped or shared was trained
    rows = {r["index"]: r for r in second.rows}
    assert all(rows[i]["accuracy"] == rows[j]["accuracy"] for i, j in plan.same_as.items())
    assert second.best is not None and second.best.index == select_best(second.rows, grid_budget(exact_spec, points))
    assert (tmp_path / "grid.csv").read_text().count("\n") == len(points) + 1

    # Without Tune's state (a hard kill before its snapshot), recorded points are replayed, not trained.
    import shutil

    shutil.rmtree(tmp_path / "tune")
    third = run_grid(exact_spec, points, **kwargs)
    assert _trained(read_ledger(tmp_path / LEDGER)) == _trained(events)
    assert [r["accuracy"] for r in third.rows] == [r["accuracy"] for r in second.rows]
    assert third.best == second.best


class ScriptedProxy:
    """A stand-in for the proxy trainer with a known accuracy per point (scheduler and retry tests).

    The real trainer is used by the resume test and the CLI test; here the outcome must be known in
    advance to check what Ray Tune and ASHA did with it. Quality depends on the phi = 1 network and
    its proxy resolution only, so it is the same in every worker process.
    """

    def __init__(self, *, crash_resolution=None, fail_resolution=None):
        self.crash_resolution, self.fail_resolution = crash_resolution, fail_resolution

    def quality(self, spec, config):
        # Of what the proxy's adaptation keeps (widths, depths, the side), so the deployment spec gives the same.
        size = sum(b.out_chs * b.repeats for b in spec.blocks)
        return 0.2 + 0.7 * ((size * 13 + config.resolution * 31) % 101) / 100

    def __call__(self, spec, data, config, *, seed=0, on_epoch=None):
        if config.resolution == self.crash_resolution:
            raise RuntimeError("simulated worker crash")
        if config.resolution == self.fail_resolution:
            return {"status": "failed", "reason": "diverged: loss is nan", "accuracy": 0.0}
        q, epochs = self.quality(spec, config), int(config.epochs)
        for epoch in range(1, epochs + 1):
            if on_epoch:
                on_epoch(epoch, {"accuracy": q * epoch / epochs})
        return {"status": "ok", "reason": None, "accuracy": q, "loss": 1 - q, "train_seconds": 0.01, "epochs": epochs}


@pytest.mark.slow
def test_asha_stops_poor_points_and_keeps_the_best(ray_cluster, digits, exact_spec, tmp_path):
    from effsearch.compound.trainable import phi1_spec
    from effsearch.compound.tune import run_grid
    from effsearch.proxy import ProxyConfig

    points, proxy = _points(21), ProxyConfig(epochs=3, resolution=12, threads=1)
    trainer = ScriptedProxy()
    settings = TuneSettings(scheduler="asha", max_concurrent=1, grace_period=1, reduction_factor=3)
    result = run_grid(exact_spec, points, data=digits, proxy=proxy, folder=tmp_path, settings=settings, train_fn=trainer)
    rows = {r["index"]: r for r in result.rows}
    quality = {p.index: trainer.quality(phi1_spec(exact_spec, p), proxy.replace(resolution=proxy_resolution(12, p.gamma)))
               for p in points}
    budget = grid_budget(exact_spec, points)
    # Only points within the budget are trained, so ASHA compares points that can be selected.
    trained = [i for i, r in rows.items() if r["status"] in ("ok", "stopped")]
    assert trained and all(rows[i]["macs"] <= budget for i in trained)
    assert all(rows[i]["macs"] > budget for i, r in rows.items() if r["status"] == "skipped")
    stopped = [i for i in trained if rows[i]["status"] == "stopped"]
    assert stopped and all(rows[i]["epochs"] == 1 for i in stopped)
    assert sum(rows[i]["epochs"] for i in trained) < 3 * len(trained)
    best = max(quality[i] for i in trained)
    # The best point is never stopped (it leads at every rung), so it is trained fully and selected.
    assert quality[result.best.index] == pytest.approx(best) and rows[result.best.index]["status"] == "ok"
    assert all(rows[i]["accuracy"] == pytest.approx(quality[i]) for i in trained if rows[i]["status"] == "ok")


@pytest.mark.slow
def test_crashed_points_are_retried_then_recorded_as_failed(ray_cluster, digits, exact_spec, tmp_path):
    from effsearch.compound.tune import run_grid
    from effsearch.proxy import ProxyConfig

    # Three points the plan trains, each at its own proxy side.
    points, proxy = [_points(21)[i] for i in (1, 3, 4)], ProxyConfig(epochs=1, resolution=12, threads=1)
    crash, fail = (proxy_resolution(12, p.gamma) for p in points[:2])
    assert crash != fail
    trainer = ScriptedProxy(crash_resolution=crash, fail_resolution=fail)
    settings = TuneSettings(max_failures=1, max_concurrent=2)
    result = run_grid(exact_spec, points, data=digits, proxy=proxy, folder=tmp_path, settings=settings, train_fn=trainer)
    crashed, failed, good = result.rows
    assert crashed["status"] == "failed" and "simulated worker crash" in crashed["reason"] and crashed["attempts"] == 2
    assert failed["status"] == "failed" and failed["reason"] == "diverged: loss is nan" and failed["attempts"] == 1
    assert failed["accuracy"] is None and crashed["accuracy"] is None
    assert good["status"] == "ok" and result.best == points[2] and result.complete


def test_every_point_trains_with_the_baselines_strides_whatever_its_side(monkeypatch):
    """At 28 px B0 drops its stem's stride; a gamma-1.5 point (42 px) would keep it under the proxy's own rule
    and train on a quarter of the positions, penalising resolution for a reason that is not resolution."""
    from types import SimpleNamespace

    from ray import tune

    from effsearch import count, get_preset
    from effsearch.compound.trainable import evaluate_point
    from effsearch.engine import ProxyConfig

    reports, seen = [], []
    monkeypatch.setattr(tune, "report", reports.append)

    def trainer(spec, data, config, *, seed):
        seen.append((spec, config.resolution))
        return {"status": "ok", "accuracy": 0.5}

    b0 = get_preset("efficientnet-b0")
    data = SimpleNamespace(name="fashion-mnist", default_resolution=28, num_classes=10, in_chans=1)
    for gamma in (1.0, 1.5):
        evaluate_point({"point": GridPoint(0, 1.0, 1.0, gamma).as_dict()}, baseline=b0, data=data,
                       proxy=ProxyConfig(epochs=1), seed=0, base_resolution=28, train_fn=trainer)
    assert [side for _, side in seen] == [28, 42]
    for spec, side in seen:
        assert spec.resolution == side and spec.stem_stride == 1 and spec.num_classes == 10
        assert [b.stride for b in spec.blocks if b.stride > 1] == [2, 2, 2, 2]
    assert reports[-1]["macs"] == count(phi1_spec(b0, GridPoint(0, 1.0, 1.0, 1.5))).macs  # deployment MACs, as before


def test_a_point_trained_in_the_callers_process_gives_its_thread_count_back(monkeypatch):
    """The trainable once set torch's threads for good, so a later test in the same process ran on one thread."""
    from types import SimpleNamespace

    import torch
    from ray import tune

    from effsearch import get_preset
    from effsearch.compound.trainable import evaluate_point
    from effsearch.engine import ProxyConfig

    monkeypatch.setattr(tune, "report", lambda row: None)
    during = []

    def trainer(spec, data, config, *, seed):
        during.append(torch.get_num_threads())
        return {"status": "ok", "accuracy": 0.5}

    data = SimpleNamespace(name="fashion-mnist", default_resolution=28, num_classes=10, in_chans=1)
    before = torch.get_num_threads()
    wanted = 1 if before > 1 else 2
    evaluate_point({"point": GridPoint(0, 1.0, 1.0, 1.0).as_dict()}, baseline=get_preset("efficientnet-b0"),
                   data=data, proxy=ProxyConfig(epochs=1), seed=0, base_resolution=28, threads=wanted,
                   train_fn=trainer)
    assert during == [wanted]
    assert torch.get_num_threads() == before


def test_selection_keeps_to_the_counted_budget_and_says_why_a_point_lost():
    # Rounding gave point 1 the most MACs (3.0x for a ratio of 2.09 in the d8 ResNet-18 grid), and
    # with them the best accuracy; within the budget, point 2 is the best.
    rows = [
        {"index": 0, "status": "ok", "accuracy": 0.90, "macs": 250, "reason": None},
        {"index": 1, "status": "ok", "accuracy": 0.95, "macs": 300, "reason": None},
        {"index": 2, "status": "ok", "accuracy": 0.92, "macs": 200, "reason": None},
    ]
    assert select_best(rows) == 1
    assert select_best(rows, budget=260) == 2
    # Nothing within: the cheapest compete, not the most accurate.
    assert select_best(rows, budget=100) == 2
    assert select_best([{**rows[0], "macs": 200}, rows[1], rows[2]], budget=100) == 2  # tie in MACs: accuracy


def test_grid_rows_mark_the_over_budget_point_and_select_within(tmp_path):
    from effsearch.arch.cost import count
    from effsearch.arch.presets import get_preset
    from effsearch.arch.scaling import compound_scale
    from effsearch.compound.grid import GridConfig, grid_points
    from effsearch.compound.ledger import grid_budget

    base = get_preset("resnet-18")
    points = grid_points(GridConfig(step=0.1))
    budget = grid_budget(base, points)
    assert budget == pytest.approx(count(base).macs * max(p.flops_ratio for p in points), rel=1e-6)
    # Each point's counted MACs, as the trainable records them; the accuracy rises with MACs, so
    # without the budget the selection would be the point rounding made largest.
    macs = {p.index: count(compound_scale(base, alpha=p.alpha, beta=p.beta, gamma=p.gamma, phi=1)).macs for p in points}
    events = [{"event": "done", "index": i, "status": "ok", "accuracy": m / 1e12, "macs": m, "epoch": 1} for i, m in macs.items()]
    rows = grid_rows(points, events, epochs=1, budget=budget)
    chosen = next(r for r in rows if r["selected"])
    assert chosen["macs"] <= budget
    assert chosen["macs"] == max(m for m in macs.values() if m <= budget)
    over = [r for r in rows if r["macs"] > budget]
    assert all(r["reason"].startswith("over budget") for r in over)
    assert not any(r["reason"] for r in rows if r["macs"] <= budget)


def test_the_printed_grid_says_which_points_lost_on_their_counted_macs(tmp_path):
    from rich.console import Console

    from effsearch.cli.scale_tables import grid_table
    from effsearch.compound.tune import GridResult

    points = _points(2)
    events = [{"event": "done", "index": 0, "status": "ok", "accuracy": 0.95, "macs": 300, "params": 10, "epoch": 1},
              {"event": "done", "index": 1, "status": "ok", "accuracy": 0.90, "macs": 200, "params": 10, "epoch": 1}]
    rows = grid_rows(points, events, epochs=1, budget=250)
    console = Console(record=True, width=200)
    console.print(grid_table(GridResult(rows, points[1], True, tmp_path)))
    lines = console.export_text().splitlines()
    assert any("0.9500" in line and "ok, over budget" in line for line in lines)
    assert any("0.9000" in line and "*" in line and "over budget" not in line for line in lines)


class SeededProxy(ScriptedProxy):
    """ScriptedProxy whose seed moves the accuracy, so a point's mean differs from any one seed."""

    def __call__(self, spec, data, config, *, seed=0, on_epoch=None):
        out = super().__call__(spec, data, config, seed=seed, on_epoch=on_epoch)
        return {**out, "accuracy": out["accuracy"] + 0.01 * seed}


@pytest.mark.slow
def test_several_seeds_per_point_rank_points_on_their_mean_and_resume(ray_cluster, digits, exact_spec, tmp_path):
    from effsearch.compound.trainable import phi1_spec
    from effsearch.compound.tune import run_grid
    from effsearch.proxy import ProxyConfig

    points, proxy = [_points(21)[i] for i in (1, 3, 4)], ProxyConfig(epochs=1, resolution=12, threads=1)
    trainer = SeededProxy()
    kwargs = {"data": digits, "proxy": proxy, "folder": tmp_path, "settings": TuneSettings(max_concurrent=2),
              "train_fn": trainer, "seeds": 3, "seed": 1}
    result = run_grid(exact_spec, points, **kwargs)
    quality = {p.index: trainer.quality(phi1_spec(exact_spec, p), proxy.replace(resolution=proxy_resolution(12, p.gamma)))
               for p in points}
    rows = {r["index"]: r for r in result.rows}
    for i, row in rows.items():  # seeds 1, 2, 3: mean quality + 0.02, SD 0.01
        assert row["status"] == "ok" and row["seeds"] == 3
        assert row["accuracy"] == pytest.approx(quality[i] + 0.02) and row["accuracy_sd"] == pytest.approx(0.01)
    events = read_ledger(tmp_path / LEDGER)
    seeds = sorted((e["index"], e["seed"]) for e in events if e.get("event") == "seed")
    assert seeds == sorted((p.index, s) for p in points for s in (1, 2, 3))
    assert result.best.index == max(quality, key=quality.get)
    again = run_grid(exact_spec, points, **kwargs)
    assert sum(e.get("event") == "seed" for e in read_ledger(tmp_path / LEDGER)) == len(seeds)  # nothing trained again
    assert again.best == result.best
    with pytest.raises(EffsearchError, match="seeds"):  # another seed count is another experiment
        run_grid(exact_spec, points, **{**kwargs, "seeds": 2})
