"""bench_versus.py's report: paired per-seed differences against the search's baseline (no training here)."""

from __future__ import annotations

import json

import pytest

from tests.benchscript import load_script


@pytest.fixture()
def bench(tmp_path, monkeypatch):
    module = load_script("bench_versus", monkeypatch)
    monkeypatch.setattr(module, "ROOT", tmp_path)
    return module


def _rows(name, accs):
    return [{"network": name, "source": "x", "phi": "", "seed": s, "epochs": 2.0, "test_top1": a} for s, a in enumerate(accs)]


def test_paired_differences_and_the_verdict(bench):
    # Seed 1 is lucky for every network (+0.02): pairing by seed removes it from the difference.
    bench.write_table(_rows("effsearch", [0.85, 0.87, 0.851]) + _rows("b0", [0.83, 0.85, 0.832])
                      + _rows("random", [0.849, 0.871, 0.850]))
    report = bench.compute()
    b0, rnd = report["versus"]["b0"], report["versus"]["random"]
    assert b0["mean_difference"] == pytest.approx(0.0197, abs=1e-4) and b0["wins"] == 3
    assert b0["sd_of_difference"] == pytest.approx(0.000577, abs=1e-5)  # far below either network's seed SD
    assert b0["beats_by_more_than_spread"] is True  # 0.0197 > the larger seed SD (~0.0113)
    assert rnd["beats_by_more_than_spread"] is False and rnd["wins"] == 2
    text = bench.render(report)
    assert "| b0 | +0.0197 |" in text and "| random |" in text


def test_a_scale_folder_trains_the_member_its_budget_added(bench, tmp_path):
    folder = tmp_path / "scale"
    folder.mkdir()
    (folder / "family.json").write_text(json.dumps({"members": [{"phi": 0.0}, {"phi": -3.0246, "target": {"cost": 1e8}}]}))
    assert bench.budget_member(folder) == "-3.0246"
    assert bench.budget_member(tmp_path / "baseline-folder") is None


def test_a_table_of_another_budget_is_refused(bench):
    bench.write_table(_rows("effsearch", [0.85]))
    with pytest.raises(SystemExit, match=r"trained for 2\.0 epochs, not 3"):
        bench.train([("effsearch", "x")], [0], 3.0, 1, 1)
