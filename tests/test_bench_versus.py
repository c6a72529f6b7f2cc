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


def test_any_network_can_be_ours_and_the_proxy_table_reports_the_same_way(bench):
    bench.write_table(_rows("effsearch", [0.85, 0.87, 0.851]) + _rows("wide", [0.86, 0.88, 0.861]))
    report = bench.compute("wide")
    assert report["versus"]["effsearch"]["mean_difference"] == pytest.approx(0.01, abs=1e-9)
    assert report["versus"]["effsearch"]["wins"] == 3 and "| wide against |" in bench.render(report)
    rows = [{"network": n, "source": "x", "seed": s, "steps": 1350, "px": 28, "val_top1": a}
            for n, accs in (("effsearch", [0.90, 0.91]), ("b0", [0.89, 0.905])) for s, a in enumerate(accs)]
    bench.write_table(rows, "proxy.csv")
    proxy = bench.compute(table="proxy")
    assert proxy["versus"]["b0"]["mean_difference"] == pytest.approx(0.0075) and proxy["versus"]["b0"]["wins"] == 2
    assert "validation top-1 (proxy)" in bench.render(proxy)
    with pytest.raises(SystemExit, match="another step budget"):
        bench.proxy([("b0", "x")], [0], 450, 1, 1)


def test_the_proxy_trains_each_network_at_its_adapted_side(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "REPO", tmp_path)
    scale = tmp_path / "scale"
    (scale / "members").mkdir(parents=True)
    (scale / "family.json").write_text(json.dumps({"members": [
        {"phi": 0.0, "name": "b0", "resolution": 224},
        {"phi": -3.02, "name": "b0-100M", "resolution": 144, "target": {"cost": 1e8}}]}))
    search = tmp_path / "search"
    search.mkdir()
    (search / "baseline.yaml").write_text("name: x\nresolution: 224\nblocks: []\n")
    assert bench.proxy_spec("scale") == (scale / "members" / "b0-100M.yaml", 18)  # 28 x 144 / 224
    assert bench.proxy_spec("search") == (search / "baseline.yaml", 28)
    assert bench.proxy_spec("scale:28") == (scale / "members" / "b0-100M.yaml", 28)
