"""benchmarks/bench_table_build.py on digits with a tiny budget: the plan, append-as-you-go, resume, shards."""

from __future__ import annotations

import json

import pytest

from tests.benchscript import BENCHMARKS, load_script

SPECS = BENCHMARKS / "specs"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """The script as a module, its results folder a fresh tmp dir."""
    module = load_script("bench_table_build", monkeypatch)
    monkeypatch.setattr(module, "ROOT", tmp_path / "micro-table")
    return module


@pytest.fixture(scope="module")
def setup():
    from effsearch.data import load_dataset
    from effsearch.search.space import load_space

    space = load_space(SPECS / "micro.yaml")
    data = load_dataset("digits", seed=0).subset(train=320, val=120, seed=0)
    return space, data


def test_every_architecture_is_distinct_and_fixed(bench, setup):
    from effsearch.search.flight import blocks_key

    space, _ = setup
    archs = bench.every_architecture(space)
    assert len(archs) == space.size == 648
    assert len({k for k, _ in archs}) == 648
    assert all(blocks_key(space.to_spec(p)) == k for k, p in archs[:20])
    assert archs == bench.every_architecture(space)
    assert [(s, k) for s, k, _ in bench.plan(archs[:2], [0, 1])] == [(0, archs[0][0]), (0, archs[1][0]),
                                                                      (1, archs[0][0]), (1, archs[1][0])]


def test_build_appends_resumes_and_refuses_another_budget(bench, setup):
    from effsearch.search.flight import blocks_key

    space, data = setup
    proxy = bench.budget(threads=1, steps=2, resolution=8)
    first = bench.build(space, data, proxy, [0, 1], budget_text="tiny", limit=2, log=lambda _: None)
    assert first == {"todo": 4, "written": 4, "failed": 0}
    path = bench.table_path()
    text = path.read_text()
    rows = bench.read_table()
    archs = [k for k, _ in bench.every_architecture(space)[:2]]
    assert [(int(r["seed"]), r["blocks"]) for r in rows] == [(0, archs[0]), (0, archs[1]), (1, archs[0]), (1, archs[1])]
    assert all(0 <= float(r["accuracy"]) <= 1 and int(r["macs"]) > 1e7 and int(r["params"]) > 0 for r in rows)
    assert all(blocks_key(space.to_spec(json.loads(r["decisions"]))) == r["blocks"] for r in rows)

    again = bench.build(space, data, proxy, [0, 1], budget_text="tiny", limit=2, log=lambda _: None)
    assert again == {"todo": 0, "written": 0, "failed": 0}
    assert path.read_text() == text

    with path.open("a") as f:  # a build killed in the middle of writing a row
        f.write(text.splitlines()[1][:40])
    assert len(bench.read_table()) == 4
    more = bench.build(space, data, proxy, [0], budget_text="tiny", limit=3, log=lambda _: None)
    assert more["written"] == 1
    assert path.read_text().startswith(text) and len(bench.read_table()) == 5

    summary = bench.summarise(space)
    assert summary["archs"] == 3 and summary["rows"] == 5 and summary["rows_per_seed"] == {0: 3, 1: 2}
    assert summary["pairs"][0]["archs"] == 2
    assert "3 architectures of 648, 5 rows" in bench.render(summary)

    with pytest.raises(SystemExit, match="another space or budget is another table"):
        bench.build(space, data, proxy, [0], budget_text="other", limit=2, log=lambda _: None)


def test_shards_split_the_plan(bench, setup):
    space, data = setup
    proxy = bench.budget(threads=1, steps=1, resolution=8)
    for i in range(2):
        out = bench.build(space, data, proxy, [0], budget_text="tiny", shard=(i, 2), limit=3, log=lambda _: None)
        assert out["written"] == (2 if i == 0 else 1)
    keys = [r["blocks"] for r in bench.read_table()]
    assert sorted(keys) == sorted(k for k, _ in bench.every_architecture(space)[:3])
