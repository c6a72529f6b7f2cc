"""benchmarks/bench_fair_report.py: the fair test's tables from the ledgers, paired by seed."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from tests.benchscript import load_script

# Test top-1 by variant and phi, seeds 0-2 (seed 3 of width-only is in the ledger and must not count).
ACCURACY = {
    ("baseline", 0): [0.900, 0.902, 0.901],
    ("compound", 1): [0.910, 0.912, 0.911], ("width", 1): [0.909, 0.913, 0.908, 0.990],
    ("depth", 1): [0.900, 0.901, 0.902], ("resolution", 1): [0.911, 0.911, 0.912],
}
MACS = {"baseline": 100e6, "compound": 210e6, "width": 205e6, "depth": 190e6, "resolution": 212e6}


def _ledger(folder, accuracy, coefficients=(1.2, 1.1, 1.15)):
    folder.mkdir(parents=True)
    lines = [{"settings": {"kind": "compare", "coefficients": dict(zip(("alpha", "beta", "gamma"), coefficients, strict=True))}}]
    for (variant, phi), values in accuracy.items():
        for seed, acc in enumerate(values):
            lines.append({"key": f"{variant}-phi{phi}-s{seed}", "row": {"variant": variant, "phi": phi, "seed": seed,
                                                                        "test_accuracy": acc, "macs": MACS[variant]}})
    (folder / "rows.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


@pytest.fixture
def results(tmp_path):
    _ledger(tmp_path / "compare-fair" / "resnet-18-w0.25", ACCURACY)
    _ledger(tmp_path / "compare-fair-grid" / "resnet-18-w0.25", {("compound", 1): [0.913, 0.911, 0.914]}, (1.0, 1.4, 1.0))
    grid = tmp_path / "grid-fair" / "resnet-18-w0.25"
    grid.mkdir(parents=True)
    pd.DataFrame([
        {"alpha": 1.0, "beta": 1.4, "gamma": 1.0, "accuracy": 0.92, "macs": 195e6, "status": "ok", "reason": None, "selected": True},
        {"alpha": 1.1, "beta": 1.2, "gamma": 1.1, "accuracy": 0.92, "macs": 195e6, "status": "ok",
         "reason": "the same network as point 0 (trained once)", "selected": False},
        {"alpha": 1.2, "beta": 1.2, "gamma": 1.1, "accuracy": None, "macs": 300e6, "status": "skipped",
         "reason": "over budget: 300M counted MACs, the grid allows 209M (not trained)", "selected": False},
    ]).to_csv(grid / "grid.csv", index=False)
    return tmp_path


def test_the_tables_pair_by_seed_and_name_the_best_single_dimension(results, monkeypatch, capsys):
    report = load_script("bench_fair_report", monkeypatch)
    assert report.main(["--results", str(results), "--baselines", "resnet-18,mobilenet-v2"]) == 0
    text = capsys.readouterr().out
    rows = {line.split("|")[1].strip() + line.split("|")[2].strip(): line for line in text.splitlines()
            if line.startswith("| resnet-18") or line.startswith("| mobilenet-v2")}
    phi1 = rows["resnet-181"]
    assert "0.9110 ± 0.0010 [2.10x]" in phi1
    # width-only: 0.910 (SD 0.0026) over seeds 0-2 only; compound - width = +0.001, 2 of 3, within the spread
    assert "0.9100 ± 0.0026 [2.05x], +0.0010 (2 of 3)" in phi1
    # depth-only: +0.010 on every seed, beyond both SDs (0.0010)
    assert "**+0.0100 (3 of 3)**" in phi1
    # resolution-only has the best mean of the singles: compound trails it by 0.0003, winning 1 of 3 seeds
    assert phi1.rstrip(" |").endswith("-0.0003 (1 of 3) vs resolution-only")
    assert "baseline 0.9010 ± 0.0010 (100.0M)" in rows["resnet-180"]
    assert "not run" in rows["mobilenet-v2"]
    grid = next(line for line in text.splitlines() if line.startswith("| resnet-18 | 1 / 1 / 1"))
    assert "(1, 1.4, 1), 0.9200 | 1 | 0.9110 ± 0.0010 [2.10x] | 0.9127 ± 0.0015 [2.10x] | **+0.0017 (2 of 3)** |" in grid  # beyond both SDs


def _grid(folder, points, events, settings_seed=0):
    folder.mkdir(parents=True)
    pd.DataFrame(points).to_csv(folder / "grid.csv", index=False)
    lines = [{"event": "settings", "settings": {"seed": settings_seed}}, *events]
    (folder / "grid.jsonl").write_text("\n".join(json.dumps(e) for e in lines) + "\n")


def test_the_seeds_table_ranks_the_grid_on_one_seed_and_on_the_mean(tmp_path, monkeypatch, capsys):
    def point(i, a, b, g, acc, selected, reason=None):
        return {"index": i, "alpha": a, "beta": b, "gamma": g, "accuracy": acc, "macs": 200e6 + i * 1e6,
                "status": "ok", "reason": reason, "selected": selected}
    one = [point(0, 1.0, 1.4, 1.0, 0.920, True), point(1, 1.0, 1.1, 1.3, 0.915, False),
           point(2, 1.1, 1.3, 1.0, 0.920, False, "the same network as point 0 (trained once)"), point(3, 1.0, 1.0, 1.4, 0.918, False)]
    _grid(tmp_path / "grid-fair" / "resnet-18-w0.25", one,
          [{"event": "done", "status": "ok", "index": p["index"], "accuracy": p["accuracy"]} for p in one])
    seeds = {0: [0.920, 0.905, 0.906], 1: [0.915, 0.916, 0.917], 3: [0.917, 0.913, 0.912]}
    many = [point(0, 1.0, 1.4, 1.0, 0.9103, False), point(1, 1.0, 1.1, 1.3, 0.916, True),
            point(2, 1.1, 1.3, 1.0, 0.9103, False, "the same network as point 0 (trained once)"), point(3, 1.0, 1.0, 1.4, 0.914, False)]
    _grid(tmp_path / "grid-fair-seeds3" / "resnet-18-w0.25", many,
          [{"event": "seed", "status": "ok", "index": i, "seed": s, "accuracy": a} for i, v in seeds.items() for s, a in enumerate(v)])
    report = load_script("bench_fair_report", monkeypatch)
    assert report.main(["--results", str(tmp_path), "--baselines", "resnet-18"]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| resnet-18 | (")]
    # ranked on the mean: point 1 first (the several-seed pick), then 3, then 0 (the one-seed pick); the sharing point is left out
    assert [r.split("|")[2].strip().split(" **")[0] for r in rows] == ["(1, 1.1, 1.3)", "(1, 1, 1.4)", "(1, 1.4, 1)"]
    assert "**several-seed pick**" in rows[0] and "0.9150 (3) | 0.9160 ± 0.0010 (n=3) (1) | yes |" in rows[0]
    assert "**one-seed pick**" in rows[2] and "0.9200 (1) | 0.9103 ± 0.0084 (n=3) (3) | yes |" in rows[2]
    assert rows[1].rstrip(" |").endswith("no (0.9170)")  # seed 0 scored differently the second time


def test_a_grid_pick_is_paired_only_with_trainings_of_its_own_coefficients(results, monkeypatch, capsys):
    report = load_script("bench_fair_report", monkeypatch)
    # the several-seed grid picks what the one-seed grid picked: the one-seed grid's trainings serve both
    shutil.copytree(results / "grid-fair", results / "grid-fair-seeds3")
    table = report.grid_table(["resnet-18"], results, "0.25", "grid-fair-seeds3", "compare-fair-grid-seeds3")
    assert "| 0.9127 ± 0.0015 [2.10x] | **+0.0017 (2 of 3)** |" in table[2]
    # a ledger of other coefficients is not this pick's
    _ledger(results / "compare-fair-grid" / "mobilenet-v2-w0.25", {("compound", 1): [0.9, 0.9, 0.9]}, (1.2, 1.1, 1.15))
    grid = results / "grid-fair" / "mobilenet-v2-w0.25"
    shutil.copytree(results / "grid-fair" / "resnet-18-w0.25", grid)
    assert "not trained yet" in report.grid_table(["mobilenet-v2"], results, "0.25")[2]
