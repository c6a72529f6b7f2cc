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
