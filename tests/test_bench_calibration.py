"""benchmarks/bench_calibration.py without training: the report's math on a synthetic table, and ``archs``."""

from __future__ import annotations

import csv
import json
import math
import statistics

import pytest

from tests.benchscript import load_script


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """The script as a module, its results folder a fresh tmp dir."""
    module = load_script("bench_calibration", monkeypatch)
    monkeypatch.setattr(module, "ROOT", tmp_path / "calibration")
    return module


MEANS = [0.80, 0.82, 0.85, 0.86, 0.90]
OFFSET = {0: 0.01, 1: -0.02}  # a per-seed offset every architecture shares: pairing cancels it


def fake_archs(bench, n: int = len(MEANS)) -> list[dict]:
    archs = [{"id": f"a{i:02d}", "spec_sha": f"sha{i}", "macs": 1e8, "params": 2e6, "decisions": {}, "blocks": []}
             for i in range(n)]
    bench.ROOT.mkdir(parents=True, exist_ok=True)
    (bench.ROOT / "archs.json").write_text(json.dumps({"args": {}, "archs": archs}))
    return archs


def write_rows(bench, accs: dict[tuple[int, int], float], epochs: int = 3) -> None:
    with (bench.ROOT / "table.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=bench.TABLE_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for (i, seed), acc in accs.items():
            writer.writerow({"arch": f"a{i:02d}", "seed": seed, "epochs": epochs, "train_images": "all",
                             "test_top1": acc, "val_top1": acc, "spec_sha": f"sha{i}"})


def test_ceiling_and_shared_offset_cancel(bench):
    fake_archs(bench)
    # seed 1 swaps the order of a01/a02 only: 9 of 10 pairs concordant, tau = (9 - 1) / 10
    swapped = {0: MEANS, 1: [MEANS[0], MEANS[2], MEANS[1], MEANS[3], MEANS[4]]}
    write_rows(bench, {(i, s): swapped[s][i] + OFFSET[s] for i in range(len(MEANS)) for s in (0, 1)} | {(5, 0): 0.5})
    report = bench.compute_report()
    assert report["noise_ceiling"]["archs"] == 5  # the seed-0-only row of an unknown arch does not count
    assert report["noise_ceiling"]["tau"] == pytest.approx(0.8)
    assert report["per_seed"]["0"]["archs"] == 5

    noise = report["difference_noise"][0]
    assert noise["archs"] == 5 and noise["pairs"] == 10
    # paired: d_s = acc_i,s - acc_j,s; the offset cancels, what is left is the a01/a02 swap (0.03)
    # for the 7 pairs without a01 or a02 the paired difference is the same under both seeds: variance 0
    acc = {i: {s: swapped[s][i] + OFFSET[s] for s in (0, 1)} for i in range(5)}
    paired = [statistics.variance([acc[i][s] - acc[j][s] for s in (0, 1)]) for i in range(5) for j in range(i + 1, 5)]
    assert sum(v > 1e-12 for v in paired) == 7  # pairs with exactly one of a01, a02 (6) and a01-a02 itself
    assert noise["paired_sd"] == pytest.approx(math.sqrt(statistics.fmean(paired)))
    # unpaired: Var_i + Var_j; every architecture but a01/a02 varies by the offset alone (0.03)
    var = {i: statistics.variance(acc[i].values()) for i in range(5)}
    assert var[0] == pytest.approx(0.03 ** 2 / 2)
    unpaired = [var[i] + var[j] for i in range(5) for j in range(i + 1, 5)]
    assert noise["unpaired_sd"] == pytest.approx(math.sqrt(statistics.fmean(unpaired)))
    assert noise["ratio"] < 1


def test_pure_offset_pairing_is_exact(bench):
    acc = {f"a{i}": {s: m + OFFSET[s] for s in (0, 1)} for i, m in enumerate(MEANS)}
    noise = bench.difference_noise(acc, [0, 1])
    assert noise["paired_sd"] == pytest.approx(0.0, abs=1e-12)
    # Var(acc_i,s - acc_j,t), s != t independent: 2 x the offset's variance = 2 x 0.03^2 / 2
    assert noise["unpaired_sd"] == pytest.approx(0.03)
    assert noise["ratio"] == pytest.approx(0.0, abs=1e-9)
    assert bench.ceiling(acc, [0, 1]) == pytest.approx(1.0)


def test_independent_noise_pairing_does_not_help(bench):
    # no shared offset: e_i,s with opposite signs per architecture; paired variance = Var_i + Var_j - 2 Cov
    acc = {"a": {0: 0.80, 1: 0.82}, "b": {0: 0.86, 1: 0.84}}
    noise = bench.difference_noise(acc, [0, 1])
    # d_0 = -0.06, d_1 = -0.02: variance 0.0008; unpaired: 0.0002 + 0.0002
    assert noise["paired_sd"] == pytest.approx(math.sqrt(0.0008))
    assert noise["unpaired_sd"] == pytest.approx(math.sqrt(0.0004))
    assert noise["ratio"] == pytest.approx(math.sqrt(2))


def test_proxy_tau_and_ratio(bench):
    fake_archs(bench)
    write_rows(bench, {(i, s): MEANS[i] + OFFSET[s] for i in range(5) for s in (0, 1)})
    cache = {}
    for i in range(5):
        for s in (0, 1):
            # seed 0 ranks like the table; seed 1 reverses it, by less; a04 misses seed 1 at 150 steps
            acc = 0.5 + 0.01 * (i if s == 0 else (4 - i) / 2)
            if not (i == 4 and s == 1):
                cache[bench.proxy_key(f"a{i:02d}", 150, s, 16)] = {"arch": f"a{i:02d}", "steps": 150, "seed": s,
                                                                   "resolution": 16, "accuracy": acc,
                                                                   "spec_sha": f"sha{i}"}
    (bench.ROOT / "proxy.json").write_text(json.dumps(cache))
    report = bench.report()
    (p,) = report["proxy"]
    assert p["archs"] == 4 and p["seeds"] == [0, 1]
    assert p["tau_per_seed"] == {"0": pytest.approx(1.0), "1": pytest.approx(-1.0)}
    assert p["ceiling_same_archs"] == pytest.approx(1.0)
    assert p["tau_mean"] == pytest.approx(1.0) and p["ratio"] == pytest.approx(1.0)
    assert json.loads((bench.ROOT / "report.json").read_text())["noise_ceiling"]["archs"] == 5


def test_train_refuses_another_budget(bench):
    fake_archs(bench)
    write_rows(bench, {(0, 0): 0.8}, epochs=1)
    with pytest.raises(SystemExit, match="a different budget is a different table"):
        bench.train([0], epochs=3, train_images=None, threads=1, jobs=1, only=None)


def test_archs_is_deterministic_and_refuses_other_arguments(bench):
    first = bench.archs("100M", 3, 7, "0.8,1.2")
    text = (bench.ROOT / "archs.json").read_text()
    assert [a["id"] for a in first["archs"]] == ["a00", "a01", "a02"]
    assert all(80e6 <= a["macs"] <= 120e6 for a in first["archs"])
    assert len({a["spec_sha"] for a in first["archs"]}) == 3
    assert {"runs/", "*.lock", "proxy-job*.log"} <= set((bench.ROOT / ".gitignore").read_text().splitlines())
    from effsearch import count, load_spec

    spec = load_spec(bench.ROOT / "specs" / "a01.yaml")
    assert count(spec).macs == first["archs"][1]["macs"]
    bench.archs("100M", 3, 7, "0.8,1.2")
    assert (bench.ROOT / "archs.json").read_text() == text
    with pytest.raises(SystemExit, match="was made with"):
        bench.archs("100M", 4, 7, "0.8,1.2")
    with pytest.raises(SystemExit, match="was made with"):
        bench.archs("100M", 3, 8, "0.8,1.2")
    assert (bench.ROOT / "archs.json").read_text() == text


def test_archs_from_a_fitted_space_are_its_networks(bench):
    data = bench.archs("100M", 3, 7, "0.8,1.2", "auto")
    from effsearch import count, load_spec
    from effsearch.search.space import load_space
    from effsearch.search.space_fit import fit_width

    width = fit_width(load_space("mnasnet"), "macs", 100e6)
    assert data["args"]["space_width"] == width and width < 1  # 100M is far below the plain space's middle
    for arch in data["archs"]:
        assert arch["space_width"] == width
        spec = load_spec(bench.ROOT / arch["spec"])
        assert count(spec).macs == arch["macs"] and 80e6 <= arch["macs"] <= 120e6
    # the plain space's network for the same decisions is another, costlier network
    plain = load_space("mnasnet").to_spec(data["archs"][0]["decisions"])
    assert count(plain).macs > data["archs"][0]["macs"]
    with pytest.raises(SystemExit, match="was made with"):
        bench.archs("100M", 3, 7, "0.8,1.2")  # the same sample from the plain space is another table
    with pytest.raises(SystemExit, match="--space-width 'wide'"):
        bench.space_width("wide", 100e6)
    with pytest.raises(SystemExit, match="--space-width '0'"):
        bench.space_width("0", 100e6)


def test_report_against_a_long_proxy_budget(bench):
    fake_archs(bench)
    cache = {}
    for i in range(5):
        for s in (0, 1):
            entries = {
                150: 0.5 + 0.01 * (4 - i),             # ranks the archs backwards
                1350: MEANS[i] + 0.001 * s,             # ranks them like the reference
                4050: MEANS[i] + OFFSET[s],             # the reference, a per-seed offset shared by all
            }
            for steps, acc in entries.items():
                cache[bench.proxy_key(f"a{i:02d}", steps, s, 28)] = {"arch": f"a{i:02d}", "steps": steps, "seed": s,
                                                                     "resolution": 28, "accuracy": acc,
                                                                     "spec_sha": f"sha{i}"}
    (bench.ROOT / "proxy.json").write_text(json.dumps(cache))
    report = bench.report(4050)
    assert report["reference"] == "proxy 4050 steps"
    assert report["noise_ceiling"] == {"archs": 5, "tau": pytest.approx(1.0)}
    by_steps = {p["steps"]: p for p in report["proxy"]}
    assert sorted(by_steps) == [150, 1350]  # the reference is not ranked against itself
    assert by_steps[150]["tau_mean"] == pytest.approx(-1.0)
    assert by_steps[1350]["tau_mean"] == pytest.approx(1.0) and by_steps[1350]["ratio"] == pytest.approx(1.0)
    assert report["difference_noise"][0]["paired_sd"] == pytest.approx(0.0, abs=1e-12)  # the offset cancels
    assert (bench.ROOT / "report-proxy4050.json").is_file() and not (bench.ROOT / "report.json").exists()
    with pytest.raises(SystemExit, match="no run of 999 steps"):
        bench.report(999)


def test_report_ranks_each_supernet_against_the_table(bench):
    fake_archs(bench)
    write_rows(bench, {(i, s): MEANS[i] + OFFSET[s] for i in range(5) for s in (0, 1)})
    scores = {}
    for name, order in (("uniform-e3", [0, 1, 2, 3, 4]), ("sandwich-e3", [4, 3, 2, 0, 1])):
        for rank, i in enumerate(order):
            scores[f"{name}|a{i:02d}"] = {"supernet": name, "arch": f"a{i:02d}", "accuracy": 0.3 + 0.01 * rank,
                                         "spec_sha": f"sha{i}"}
    scores["uniform-e3|a09"] = {"supernet": "uniform-e3", "arch": "a09", "accuracy": 0.9, "spec_sha": "other"}
    (bench.ROOT / "supernet.json").write_text(json.dumps(scores))
    report = bench.report()
    rows = {r["supernet"]: r for r in report["supernet"]}
    assert rows["uniform-e3"]["archs"] == 5 and rows["uniform-e3"]["tau"] == pytest.approx(1.0)
    # sandwich reverses the order but for a00 below a01: 1 concordant pair of 10, 9 discordant -> tau -0.8
    assert rows["sandwich-e3"]["tau"] == pytest.approx(-0.8)
    assert rows["uniform-e3"]["ratio"] == pytest.approx(1.0)


def test_proxy_jobs_deal_the_architectures_round_robin(bench, monkeypatch):
    fake_archs(bench)
    started = []

    class Proc:
        def __init__(self, cmd, **kwargs):
            started.append((cmd, kwargs["env"]["OMP_NUM_THREADS"]))

        def wait(self):
            return 0

    monkeypatch.setattr(bench.subprocess, "Popen", Proc)
    assert bench.main(["--results", str(bench.ROOT), "proxy", "--steps", "150,4050", "--seeds", "0,1",
                       "--jobs", "2", "--only", "a00,a01,a02,a04"]) == 0
    assert len(started) == 2 and all(threads == "1" for _, threads in started)
    shares = [cmd[cmd.index("--only") + 1] for cmd, _ in started]
    assert shares == ["a00,a02", "a01,a04"]
    for cmd, _ in started:
        assert cmd[cmd.index("--steps") + 1] == "150,4050" and cmd[cmd.index("--seeds") + 1] == "0,1"
        assert "--jobs" not in cmd and cmd[cmd.index("--results") + 1] == str(bench.ROOT)


def test_keeps_counts_the_tables_best_third_an_evaluator_keeps(bench):
    target = {f"a{i:02d}": float(i) for i in range(9)}          # a06-a08 are the best third
    assert bench.keeps(dict(target), target) == {"keeps_third": 1.0, "keeps_half": 1.0}
    backwards = {a: -v for a, v in target.items()}
    assert bench.keeps(backwards, target) == {"keeps_third": 0.0, "keeps_half": 0.0}
    mixed = {**backwards, "a08": 100.0, "a07": -1.5}  # a08 in its third (a08 a00 a01), a07 in its half of 4
    assert bench.keeps(mixed, target) == {"keeps_third": pytest.approx(1 / 3), "keeps_half": pytest.approx(2 / 3)}
    assert bench.keeps({"a00": 1.0, "a01": 2.0}, target) == {"keeps_third": None, "keeps_half": None}


def test_schedule_cost_and_ladders(bench):
    assert bench.ladder(150, 1350) == [150, 450, 1350] and bench.ladder(1350, 1350) == [1350]
    with pytest.raises(bench.Refused, match="does not reach"):
        bench.ladder(200, 1350)
    # 12 candidates: 12 x 150, then 4 x 450, then 2 x 1350 with both seeds.
    assert bench.schedule_cost(12, [150, 450, 1350], 2) == 12 * 150 + 4 * 450 + 2 * 1350 * 2


def _ladder_table(noisy_low: bool) -> tuple[dict, dict]:
    """12 architectures whose reference is their index; the top rung is exact, the lower rungs exact or noise."""
    import random as _random

    rng = _random.Random(5)
    ref = {f"a{i:02d}": 0.80 + i / 100 for i in range(12)}
    rungs = {}
    for steps in (150, 450, 1350):
        exact = steps == 1350 or not noisy_low
        rungs[steps] = {a: {s: (v if exact else rng.random()) for s in (0, 1)} for a, v in ref.items()}
    return rungs, ref


def test_a_first_rung_that_ranks_wins_with_more_candidates_and_one_that_is_noise_loses(bench):
    rungs, ref = _ladder_table(noisy_low=False)
    budget = bench.schedule_cost(12, [150, 450, 1350], 2)
    short = bench.simulate_schedule(rungs, ref, [150, 450, 1350], budget, draws=200, seed=0)
    long = bench.simulate_schedule(rungs, ref, [1350], budget, draws=200, seed=0)
    assert short["candidates"] == 12 and short["regret"] == 0 and short["best_three"] == 1
    assert long["candidates"] == 3 and long["regret"] > 0  # 3 of 12 drawn: the best is rarely among them
    rungs, ref = _ladder_table(noisy_low=True)
    short = bench.simulate_schedule(rungs, ref, [150, 450, 1350], budget, draws=400, seed=0)
    assert short["regret"] > long["regret"]  # promotions by noise: 2 random finalists of 12 against the best of 3 drawn
    with pytest.raises(bench.Refused, match="does not train one"):
        bench.simulate_schedule(rungs, ref, [1350], 100, draws=10, seed=0)
