"""The grid's plan: which points are trained, skipped over budget, or share another point's network."""

from __future__ import annotations

import dataclasses
import json

import pytest

from effsearch.arch.cost import count
from effsearch.arch.scaling import proxy_resolution
from effsearch.arch.specio import spec_to_dict
from effsearch.compound.grid import GridConfig, grid_points
from effsearch.compound.ledger import grid_budget, grid_rows
from effsearch.compound.plan import GridPlan, plan_grid
from effsearch.compound.trainable import phi1_spec


def _plan(spec, points, budget=None):
    budget = grid_budget(spec, points) if budget is None else budget
    return plan_grid(spec, points, budget, base_resolution=12, resolution_multiple=8), budget


def test_points_over_the_budget_are_skipped_and_the_same_network_is_trained_once():
    from effsearch.arch.presets import get_preset

    base = get_preset("resnet-18")
    points = grid_points(GridConfig(step=0.1))
    plan, budget = _plan(base, points)
    macs = {p.index: count(phi1_spec(base, p)).macs for p in points}
    assert {i for i, m in macs.items() if m > budget} == set(plan.skipped)
    assert plan.skipped and all(plan.skipped[i].startswith("over budget") and "(not trained)" in plan.skipped[i]
                                for i in plan.skipped)
    assert all(plan.counted[i]["macs"] == m for i, m in macs.items())
    # Every point within the budget is trained or shares a trained point's network, which is equal
    # to its own at the same proxy side, and comes first.
    within = sorted(i for i, m in macs.items() if m <= budget)
    assert sorted([*plan.train, *plan.same_as]) == within
    key = {p.index: (json.dumps(spec_to_dict(phi1_spec(base, p)), sort_keys=True), proxy_resolution(12, p.gamma))
           for p in points}
    assert plan.same_as, "ResNet-18's two-block stages give alpha 1.1 and 1.2 the same depth"
    for i, j in plan.same_as.items():
        assert key[i] == key[j] and j < i and j in plan.train
    assert len({key[i] for i in plan.train}) == len(plan.train)


def test_when_no_point_keeps_to_the_budget_every_point_is_trained(tiny_spec):
    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:4]
    plan, _ = _plan(tiny_spec, points, budget=1.0)
    assert not plan.skipped
    assert sorted([*plan.train, *plan.same_as]) == [p.index for p in points]


def test_the_plan_round_trips_through_the_ledger(tiny_spec):
    spec = dataclasses.replace(tiny_spec, channel_divisor=1)
    plan, _ = _plan(spec, grid_points(GridConfig(step=0.1, tolerance=0.1)))
    event = json.loads(json.dumps(plan.event()))
    assert GridPlan.from_events([{"event": "settings"}, event]) == plan
    assert GridPlan.from_events([{"event": "settings"}]) is None


def _done(index, accuracy, macs, epoch=1, status="ok"):
    return {"event": "done", "index": index, "status": status, "accuracy": accuracy, "macs": macs, "params": 10,
            "epoch": epoch, "train_seconds": 3.0}


def test_rows_say_skipped_and_copy_a_shared_network_once_it_is_trained():
    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:4]
    plan = GridPlan(train=(0, 1), skipped={3: "over budget: 9M counted MACs, the grid allows 5M (not trained)"},
                    same_as={2: 1}, counted={3: {"macs": 9e6, "params": 7, "resolution": 40, "proxy_resolution": 16}})
    events = [{"event": "settings"}, plan.event(), _done(0, 0.80, 4e6)]
    rows = grid_rows(points, events, epochs=1, budget=5e6)
    assert [r["status"] for r in rows] == ["ok", "pending", "pending", "skipped"]
    assert rows[3]["macs"] == 9e6 and rows[3]["proxy_resolution"] == 16 and rows[3]["accuracy"] is None
    assert not rows[3]["selected"] and rows[0]["selected"]

    rows = grid_rows(points, [*events, _done(1, 0.85, 5e6)], epochs=1, budget=5e6)
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "skipped"]
    assert rows[2]["accuracy"] == 0.85 and rows[2]["macs"] == 5e6 and rows[2]["train_seconds"] == 0.0
    assert rows[2]["reason"] == "the same network as point 1 (trained once)"
    assert rows[1]["selected"] and not rows[2]["selected"]  # a tie goes to the point that was trained


def test_a_point_trained_before_the_plan_skipped_it_keeps_its_training():
    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:2]
    plan = GridPlan(train=(0,), skipped={1: "over budget: 9M counted MACs, the grid allows 5M (not trained)"})
    rows = grid_rows(points, [_done(1, 0.9, 9e6), plan.event(), _done(0, 0.8, 4e6)], epochs=1, budget=5e6)
    assert rows[1]["status"] == "ok" and rows[1]["accuracy"] == 0.9
    assert rows[1]["reason"].startswith("over budget") and "(not trained)" not in rows[1]["reason"]
    assert rows[0]["selected"]


def test_the_printed_grid_counts_skipped_and_shared_points(tmp_path):
    from rich.console import Console

    from effsearch.cli.scale_tables import grid_table
    from effsearch.compound.tune import GridResult

    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:3]
    plan = GridPlan(train=(0,), skipped={2: "over budget: 9M counted MACs, the grid allows 5M (not trained)"}, same_as={1: 0})
    rows = grid_rows(points, [plan.event(), _done(0, 0.8, 4e6)], epochs=1, budget=5e6)
    console = Console(record=True, width=200)
    console.print(grid_table(GridResult(rows, points[0], True, tmp_path)))
    text = console.export_text()
    title = " ".join(text.split("┏")[0].split())  # the title wraps at the table's width
    assert title == "grid at phi = 1: 3 points (2 ok, 1 over budget, not trained); 1 shared another point's network and were trained once"
    assert any("ok, as point 0" in line for line in text.splitlines())


@pytest.mark.parametrize(("skipped", "same", "expected"), [
    (0, 0, ""), (2, 0, ", 3 to train (2 over budget)"), (2, 1, ", 3 to train (2 over budget, 1 the same network as another)"),
])
def test_the_grid_header_says_what_the_plan_saves(skipped, same, expected):
    from effsearch.cli.scale_progress import _left_out

    plan = GridPlan(train=(0, 1, 2), skipped={10 + i: "" for i in range(skipped)}, same_as={20 + i: 0 for i in range(same)})
    assert _left_out(plan) == expected


# --------------------------------------------------------------------------- several seeds per point


class SeededTrainer:
    """A proxy trainer whose accuracy depends on the seed, recording what it trained."""

    def __init__(self, fail_seed=None):
        self.calls, self.fail_seed = [], fail_seed

    def __call__(self, spec, data, config, *, seed=0, on_epoch=None):
        self.calls.append(seed)
        if seed == self.fail_seed:
            return {"status": "failed", "reason": "diverged: loss is nan", "accuracy": 0.0}
        return {"status": "ok", "accuracy": 0.80 + 0.01 * seed, "loss": 1.0 - 0.01 * seed}


def _seeds(trainer, seeds, done=None):
    from effsearch.compound.trainable import _train_seeds
    from effsearch.proxy import ProxyConfig

    reports = []
    fixed = {"index": 3, "proxy_resolution": 12, "macs": 1, "params": 1}
    final = _train_seeds(None, None, ProxyConfig(epochs=1, resolution=12), seeds, fixed, 1, reports.append, trainer, done or {})
    return final, reports


def test_a_point_with_several_seeds_scores_their_mean_and_reports_each():
    trainer = SeededTrainer()
    final, reports = _seeds(trainer, range(0, 3))
    assert trainer.calls == [0, 1, 2]
    assert [r["seed_done"] for r in reports] == [0, 1, 2] and not any(r["final"] for r in reports)
    assert final["final"] and final["status"] == "ok"
    assert final["accuracy"] == pytest.approx(0.81) and final["accuracy_sd"] == pytest.approx(0.01)
    assert final["seed_accuracies"] == pytest.approx([0.80, 0.81, 0.82])


def test_seeds_an_earlier_attempt_finished_are_not_trained_again():
    trainer = SeededTrainer()
    done = {0: {"status": "ok", "accuracy": 0.5, "loss": 0.5, "train_seconds": 7.0}}
    final, reports = _seeds(trainer, range(0, 2), done)
    assert trainer.calls == [1] and [r["seed_done"] for r in reports] == [1]
    assert final["seed_accuracies"] == pytest.approx([0.5, 0.81]) and final["train_seconds"] >= 7.0


def test_a_seed_that_fails_fails_the_point():
    final, _ = _seeds(SeededTrainer(fail_seed=1), range(0, 3))
    assert final["status"] == "failed" and final["reason"] == "seed 1: diverged: loss is nan"


def test_rows_and_resume_read_each_seed_from_the_ledger():
    from effsearch.compound.ledger import finished_seeds

    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:2]
    events = [{"event": "seed", "index": 1, "seed": 0, "status": "ok", "accuracy": 0.8},
              {"event": "seed", "index": 1, "seed": 1, "status": "failed", "accuracy": 0.0},
              {**_done(0, 0.81, 4e6), "accuracy_sd": 0.01, "seed_accuracies": [0.80, 0.81, 0.82]}]
    assert {i: sorted(s) for i, s in finished_seeds(events).items()} == {1: [0]}
    rows = grid_rows(points, events, epochs=1)
    assert rows[0]["seeds"] == 3 and rows[0]["accuracy_sd"] == 0.01 and rows[1]["status"] == "pending"
    one = grid_rows(points, [_done(0, 0.81, 4e6)], epochs=1)
    assert one[0]["seeds"] == 1 and one[0]["accuracy_sd"] is None


def test_the_seed_count_is_part_of_a_grids_fingerprint_only_above_one(tiny_spec):
    from effsearch.compound.ledger import grid_settings
    from effsearch.proxy import ProxyConfig

    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:2]
    kwargs = {"seed": 0, "dataset": "digits", "resolution_multiple": 8, "scheduler": "fifo", "dropped_strides": 0}
    one = grid_settings(tiny_spec, points, ProxyConfig(), **kwargs)
    assert "seeds" not in one and one == grid_settings(tiny_spec, points, ProxyConfig(), seeds=1, **kwargs)
    assert grid_settings(tiny_spec, points, ProxyConfig(), seeds=3, **kwargs)["seeds"] == 3


def test_several_seeds_under_asha_are_refused_before_anything_is_written(tiny_spec, tmp_path):
    from effsearch.compound.settings import TuneSettings
    from effsearch.compound.tune import run_grid
    from effsearch.errors import EffsearchError
    from effsearch.proxy import ProxyConfig

    out = tmp_path / "grid"
    points = grid_points(GridConfig(step=0.1, tolerance=0.1))[:2]
    with pytest.raises(EffsearchError, match="ASHA cannot compare points epoch by epoch"):
        run_grid(tiny_spec, points, data=None, proxy=ProxyConfig(epochs=1), folder=out,
                 settings=TuneSettings(scheduler="asha"), seeds=2)
    with pytest.raises(EffsearchError, match="whole number >= 1"):
        run_grid(tiny_spec, points, data=None, proxy=ProxyConfig(epochs=1), folder=out, seeds=0)
    assert not out.exists()
