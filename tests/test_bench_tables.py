"""benchmarks/bench_tables.py on a small synthetic table: scores, resume, report, and the evolution comparator."""

from __future__ import annotations

import gzip
import json
import sys

import numpy as np
import optuna
import pytest

from tests.benchscript import load_script


@pytest.fixture
def bench(monkeypatch):
    module = load_script("bench_tables", monkeypatch)
    return module


def toy(bench, seeds: int = 2):
    """Four decisions of three choices (81 networks): accuracy additive, MACs rising with each choice."""
    rng = np.random.default_rng(0)
    decisions = [(f"x{i}", [0, 1, 2]) for i in range(4)]
    effects = rng.normal(0, 0.01, size=(4, 3))
    keys = [tuple(int(v) for v in k) for k in np.ndindex(3, 3, 3, 3)]
    acc = np.array([0.8 + sum(effects[d, c] for d, c in enumerate(k)) for k in keys])
    macs = np.array([1e8 * (1 + 0.2 * sum(k)) for k in keys])
    noisy = acc[:, None] + rng.normal(0, 0.005, size=(len(keys), seeds))
    return bench.Table("toy", decisions, keys, macs, noisy)


def test_rewards_and_the_optimum(bench):
    table = toy(bench)
    assert table.target == np.median(table.macs)
    soft, hard, reject = (table.true_rewards(kind) for kind in ("soft", "hard", "reject"))
    over = table.macs > table.target
    assert np.allclose(hard[~over], table.mean[~over]) and (hard[over] < table.mean[over]).all()
    assert (reject[table.macs > bench.REJECT * table.target] == 0).all()
    assert np.allclose(soft, table.mean * (table.macs / table.target) ** -0.07)


@pytest.mark.parametrize("sampler", ["mnas", "mnas[unique=false,proposals=1,remeasure=0]", "random", "tpe", "evolution[population=10,sample=3]"])
def test_one_run_scores_the_pick_by_its_true_reward(bench, sampler):
    table = toy(bench)
    out = bench.one_run(table, "hard", "seeds", sampler, seed=0, evaluations=60)
    regret = out["regret"]
    true = table.true_rewards("hard")
    assert len(regret) == 60 and min(regret) >= 0
    assert max(regret) <= 100 * (true.max() - true.min()) + 1e-9
    assert 1 <= out["distinct"] <= 60 and len(out["over"]) == 2
    if out["to_top"] is not None:
        assert regret[-1] <= regret[0] or out["to_top"] <= 60
    if sampler == "mnas":
        # New architectures only, except every 4th trial from the 8th, which re-measures under noise
        # (or only the first three probes, where two recorded seeds happen to repeat their values).
        assert 60 - len(range(8, 60, 4)) <= out["distinct"] <= 60 - 3
        assert out["history"] and out["history"][0]["entropy_share"] > 0.99


def test_cached_repeats_cost_nothing_and_count_trainings(bench):
    """As effsearch baseline's cache: a repeated architecture is answered, not trained, and not counted."""
    table = toy(bench)
    stuck = bench.one_run(table, "soft", "seeds", "mnas[unique=false,proposals=1,lr=0.05,remeasure=0]", seed=0, evaluations=60,
                          repeats="cached")
    # A policy collapsed by a large step asks for the same few networks: asks hit the cap, the pick is kept.
    assert stuck["repeats"] == "cached" and len(stuck["regret"]) == 60
    assert stuck["asks"] == bench.ASKS * 60 and stuck["distinct"] < 60
    assert stuck["regret"][-1] == stuck["regret"][stuck["distinct"] - 1]
    plain = bench.one_run(table, "soft", "seeds", "mnas[unique=false,proposals=1,lr=0.05,remeasure=0]", seed=0, evaluations=60)
    assert plain["asks"] == 60 and plain["distinct"] < 60  # re-evaluated instead
    fresh = bench.one_run(table, "soft", "seeds", "mnas[remeasure=0]", seed=0, evaluations=60, repeats="cached")
    assert fresh["asks"] == 60 and fresh["distinct"] == 60  # as effsearch baseline runs the controller
    probed = bench.one_run(table, "soft", "seeds", "mnas", seed=0, evaluations=60, repeats="cached")
    assert probed["asks"] == 63 and probed["distinct"] == 60  # three cached repeats: no noise, no more


def test_without_noise_the_pick_never_gets_worse(bench):
    out = bench.one_run(toy(bench), "soft", "none", "random", seed=1, evaluations=80)
    assert all(b <= a for a, b in zip(out["regret"], out["regret"][1:], strict=False))


def test_the_mean_pick_judges_a_remeasured_network_on_its_mean(bench):
    """With --pick mean an architecture evaluated again is judged on the mean of its values, as
    effsearch baseline picks on a finalist's seed mean; without repeats both picks are the same."""
    table = toy(bench, seeds=3)
    out = bench.one_run(table, "soft", "seeds", "evolution[population=10,sample=3]", seed=0, evaluations=120)
    assert len(out["regret_mean"]) == 120 and min(out["regret_mean"]) >= 0
    assert out["distinct"] < 120  # evolution repeats parents' children: there are means to take
    # Replayed by hand: the regret of the best mean after each evaluation.
    clean = bench.one_run(table, "soft", "none", "random", seed=2, evaluations=60)
    assert clean["regret_mean"] == clean["regret"]  # one value per network (no noise): the same pick
    cached = bench.one_run(table, "soft", "seeds", "tpe", seed=0, evaluations=40, repeats="cached")
    assert cached["regret_mean"] == cached["regret"]  # a cached repeat adds no value to a mean


def test_the_mean_pick_is_the_best_mean_so_far(bench, monkeypatch):
    """Against a brute-force replay of what was told to the study: the pick is the argmax of running means."""
    table = toy(bench, seeds=3)
    told: list[tuple[int, float]] = []
    real_tell = optuna.Study.tell

    def tell(self, trial, value=None, **kwargs):
        key = tuple(choices.index(trial.params[name]) for name, choices in table.decisions)
        told.append((table.index[key], float(value)))
        return real_tell(self, trial, value, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", tell)
    out = bench.one_run(table, "soft", "seeds", "evolution[population=10,sample=3]", seed=1, evaluations=80)
    true = table.true_rewards("soft")
    sums: dict[int, list[float]] = {}
    expected = []
    for i, value in told:
        sums.setdefault(i, []).append(value)
        best = max(sums, key=lambda k: sum(sums[k]) / len(sums[k]))  # as the bench sums them
        expected.append(round(100 * (true.max() - true[best]), 4))
    assert len(told) == 80 and len(sums) < 80
    assert out["regret_mean"] == expected


def test_the_shrunk_pick_discounts_a_lucky_single_value(bench):
    """A network measured once at 0.95 loses to one measured eight times at a mean of 0.90 when the noise
    is large, and wins when the repeats say the noise is small; without repeats it is the plain max."""
    def sums_of(values: dict[int, list[float]]) -> dict[int, list[float]]:
        return {k: [sum(v), len(v), sum(x * x for x in v)] for k, v in values.items()}

    noisy = {0: [0.95], 1: [0.80, 0.96, 0.84, 0.96, 0.82, 0.98, 0.86, 0.98], 2: [0.70], 3: [0.75], 4: [0.72]}
    assert bench.shrunk_pick(sums_of(noisy)) == 1
    quiet = {0: [0.95], 1: [0.899, 0.901] * 4, 2: [0.70], 3: [0.75], 4: [0.72]}
    assert bench.shrunk_pick(sums_of(quiet)) == 0
    assert bench.shrunk_pick(sums_of({0: [0.5], 1: [0.9], 2: [0.7]})) == 1  # no repeats: the max
    # The formula, by hand, for the noisy case.
    n = np.array([len(v) for v in noisy.values()], float)
    m = np.array([np.mean(v) for v in noisy.values()])
    s2 = sum(float(np.sum((np.array(v) - np.mean(v)) ** 2)) for v in noisy.values()) / float(np.sum(n - 1))
    t2 = max(float(np.var(m, ddof=1)) - s2 * float(np.mean(1 / n)), 0.1 * float(np.var(m, ddof=1)))
    post = (n * m / s2 + m.mean() / t2) / (n / s2 + 1 / t2)
    assert post[1] > post[0] > m.mean() and int(np.argmax(post)) == 1


def test_the_shrunk_pick_is_recorded_and_plain_without_noise(bench):
    table = toy(bench, seeds=3)
    out = bench.one_run(table, "soft", "seeds", "evolution[population=10,sample=3]", seed=0, evaluations=100)
    assert len(out["regret_shrunk"]) == 100 and min(out["regret_shrunk"]) >= 0
    clean = bench.one_run(table, "soft", "none", "evolution[population=10,sample=3]", seed=0, evaluations=100)
    assert clean["regret_shrunk"] == clean["regret"]  # repeats agree exactly: no noise, nothing to shrink


def test_the_finalists_pick_keeps_the_best_seed_mean_of_the_top_observed(bench):
    """A network whose one value was unlucky but still in the top five is kept when its seed mean is best;
    one outside the top five is not, however good its seed mean."""
    observed = {0: 0.95, 1: 0.93, 2: 0.90, 3: 0.89, 4: 0.88, 5: 0.80}
    truth = {0: 0.85, 1: 0.86, 2: 0.84, 3: 0.91, 4: 0.83, 5: 0.99}
    assert bench.finalists_pick(observed, truth.__getitem__) == 3
    assert bench.finalists_pick(observed, truth.__getitem__, k=3) == 1
    assert bench.finalists_pick({7: 0.5}, truth.get) == 7


def test_the_finalists_pick_is_recorded_and_the_max_without_noise(bench):
    table = toy(bench, seeds=3)
    out = bench.one_run(table, "hard", "seeds", "random", seed=0, evaluations=60)
    assert len(out["regret_finalists"]) == 60 and min(out["regret_finalists"]) >= 0
    # A finalist's seed mean is its true reward on a table of recorded seeds, and the max pick is one of
    # the finalists: never behind it, and ahead wherever noise fooled it (here 44 of the 60 evaluations).
    behind = [f - m for f, m in zip(out["regret_finalists"], out["regret"], strict=True)]
    assert max(behind) <= 0 and sum(d < 0 for d in behind) > 20
    clean = bench.one_run(table, "hard", "none", "random", seed=1, evaluations=60)
    assert clean["regret_finalists"] == clean["regret"]  # exact values: the best observed is the best seed mean


def test_best_counts_the_evaluations_of_the_tables_best(bench, tmp_path, monkeypatch, capsys):
    table = toy(bench, seeds=3)
    monkeypatch.setitem(bench.TABLES, "toy", lambda: table)
    out = tmp_path / "runs.jsonl.gz"
    argv = ["--out", str(out), "run", "--table", "toy", "--samplers", "evolution[population=10,sample=3];",
            "--rewards", "hard", "--noise", "seeds", "--seeds", "0-2", "--evaluations", "80"]
    assert bench.main(argv) == 0
    rows = bench._rows(out)
    for r in rows:  # the recorded evaluations of the best network are the ones whose regret can be 0
        assert r["best_at"] == sorted(r["best_at"]) and all(1 <= n <= 80 for n in r["best_at"])
        if r["best_at"]:
            assert min(r["regret_finalists"][r["best_at"][0] - 1:]) == 0.0
        else:
            assert min(r["regret_finalists"]) > 0
    found = sum(bool([n for n in r["best_at"] if n <= 50]) for r in rows)
    capsys.readouterr()
    assert bench.main(["--out", str(out), "best", "--budget", "50"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |"))
    assert line.split(" | ")[5] == str(found)
    assert bench.main(["--out", str(out), "best", "--budget", "50", "--seeds", "1-2"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |"))
    assert line.split(" | ")[4] == "2"  # one seed set of the file


def test_evolution_children_change_one_decision(bench):
    space = {f"x{i}": optuna.distributions.CategoricalDistribution([0, 1, 2]) for i in range(4)}
    sampler = bench.Evolution(space, seed=0, population=10, sample=5)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(sum(t.suggest_categorical(n, [0, 1, 2]) for n in space)), n_trials=80)
    done = study.trials
    nearest = [min(sum(trial.params[n] != parent.params[n] for n in space) for parent in done[trial.number - 10:trial.number])
               for trial in done[10:]]
    assert max(nearest) <= 1 and nearest.count(1) > len(nearest) // 2  # a parent's child, sometimes a repeat
    values = [t.value for t in done]
    assert np.mean(values[-20:]) > np.mean(values[:10]) + 1 and max(values) == 8  # tournament selection climbs


def test_the_oracle_evaluates_only_the_tables_best_networks(bench):
    """The reference for what noise alone costs the pick: a search that only ever evaluates the top networks."""
    table = toy(bench, seeds=3)
    true = table.true_rewards("soft")
    alone = bench.one_run(table, "soft", "seeds", "oracle[top=1]", seed=0, evaluations=40)
    assert alone["distinct"] == 1 and set(alone["regret"]) == {0.0} and alone["best_at"] == list(range(1, 41))
    few = bench.one_run(table, "soft", "seeds", "oracle[top=5]", seed=0, evaluations=200)
    assert few["distinct"] == 5 and len(few["best_at"]) > 20  # each of the five drawn about as often
    fifth = np.sort(true)[-5]
    assert max(few["regret"]) <= 100 * (true.max() - fifth) + 1e-4  # regrets are rounded to 4 places
    # Noise lets a lucky seed of a runner-up beat every value of the best: the max pick's regret is the
    # largest gap between the optimum and the runner-up whose lucky seed is the highest value of the five.
    top5 = np.argsort(-true)[:5]
    luckiest = top5[np.argmax([table.reward(table.seeds[i], table.macs[i], "soft").max() for i in top5])]
    assert few["regret"][-1] == round(100 * (true.max() - true[luckiest]), 4)


@pytest.mark.parametrize(("text", "expected"), [
    ("mnas,random,tpe", ["mnas", "random", "tpe"]),
    ("mnas[local=2,optima=2]", ["mnas[local=2,optima=2]"]),  # one sampler with settings is not cut at its commas
    ("mnas[local=2,optima=0],tpe", ["mnas[local=2,optima=0]", "tpe"]),
    ("mnas[lr=0.01];tpe;", ["mnas[lr=0.01]", "tpe"]),
])
def test_sampler_list_keeps_settings_together(bench, text, expected):
    assert bench.sampler_list(text) == expected


def test_run_resumes_and_report_prints(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(bench.TABLES, "toy", lambda: toy(bench))
    out = tmp_path / "runs.jsonl.gz"
    argv = ["--out", str(out), "run", "--table", "toy", "--samplers", "random,evolution", "--rewards", "soft",
            "--noise", "seeds", "--seeds", "0-1", "--evaluations", "30"]
    monkeypatch.setattr(sys, "argv", ["bench_tables.py", *argv])
    parser_choices = bench.TABLES  # --table's choices are read from TABLES when the parser is built
    assert "toy" in parser_choices
    assert bench.main(argv) == 0
    lines = gzip.decompress(out.read_bytes()).decode().splitlines()
    assert len(lines) == 4 and {json.loads(line)["sampler"] for line in lines} == {"random", "evolution"}
    assert bench.main(argv) == 0
    assert len(bench._rows(out)) == 4  # nothing rerun
    with out.open("ab") as f:  # a run killed while writing leaves a cut member at the end
        f.write(gzip.compress(b'{"table": "toy"')[:12])
    assert len(bench._rows(out)) == 4
    capsys.readouterr()
    assert bench.main(["--out", str(out), "report"]) == 0
    text = capsys.readouterr().out
    assert "| random | 2 |" in text and "| evolution | 2 |" in text and "@25" in text


def test_sampler_settings_parse(bench):
    assert bench.parse_sampler("mnas[lr=0.01,unique=false,algorithm=reinforce]") == (
        "mnas", {"lr": 0.01, "unique": False, "algorithm": "reinforce"})
    assert bench.parse_sampler("tpe") == ("tpe", {})


def test_bench_neighbours_reports_where_the_neighbours_start(monkeypatch, capsys):
    """The anchor diagnosis reruns a seeded search; its wrapper is undone afterwards."""
    from effsearch.controller import propose

    module = load_script("bench_neighbours", monkeypatch)
    original = propose._neighbours
    table = module.bench_tables.TABLES["micro"]()
    row = module.one_seed(table, "hard", "none", "mnas[local=2]", 3, 30)
    assert propose._neighbours is original and module.bench_tables.optuna.create_study is optuna.create_study
    assert row["screened"] > 0 and 0 <= row["one_step"] <= row["screened"] and 0 < row["neighbour_share"] < 1
    assert row["last_steps"] is not None and (row["last_steps"] == 0) == (row["better_than_anchor"] == 0)
    assert 8 <= row["anchor_since"] < 30  # screened trials start once the surrogate has its rows
    assert module.main(["--seeds", "3", "--budget", "30", "--noise", "none"]) == 0
    out = capsys.readouterr().out
    assert "| 3 |" in out and "best network found in" in out


def test_summary_reports_the_median_the_mean_or_the_share_at_zero(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(bench.TABLES, "toy", lambda: toy(bench, seeds=3))
    out = tmp_path / "runs.jsonl.gz"
    argv = ["--out", str(out), "run", "--table", "toy", "--samplers", "random", "--rewards", "hard",
            "--noise", "seeds", "--seeds", "0-3", "--evaluations", "50"]
    assert bench.main(argv) == 0
    regrets = [r["regret"] for r in bench._rows(out)]
    expected = {"median": [np.median([r[b - 1] for r in regrets]) for b in (25, 50)],
                "mean": [np.mean([r[b - 1] for r in regrets]) for b in (25, 50)],
                "zero": [np.mean([r[b - 1] == 0 for r in regrets]) for b in (25, 50)]}
    assert len({tuple(v) for v in expected.values()}) == 3, expected  # the three statistics differ here
    for stat, values in expected.items():
        capsys.readouterr()
        assert bench.main(["--out", str(out), "summary", "--stat", stat]) == 0
        line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |"))
        assert line.split(" | ")[6:8] == [f"{v:.2f}" for v in values], stat


def test_also_pools_seed_sets_from_several_ledgers_once_each(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(bench.TABLES, "toy", lambda: toy(bench, seeds=3))
    one, first, second = (tmp_path / f"{n}.jsonl.gz" for n in ("one", "first", "second"))
    common = ["run", "--table", "toy", "--samplers", "random", "--rewards", "hard", "--noise", "seeds", "--evaluations", "30"]
    assert bench.main(["--out", str(one), *common, "--seeds", "0-3"]) == 0
    assert bench.main(["--out", str(first), *common, "--seeds", "0-1"]) == 0
    assert bench.main(["--out", str(second), *common, "--seeds", "1-3"]) == 0  # seed 1 in both: counted once

    def summary(*files):
        capsys.readouterr()
        argv = ["--out", str(files[0]), *[a for f in files[1:] for a in ("--also", str(f))], "summary"]
        assert bench.main(argv) == 0
        return next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |"))

    pooled = summary(first, second)
    assert pooled == summary(one) and "| random | 4 |" in pooled
    assert "| random | 2 |" in summary(first)
    with pytest.raises(SystemExit, match=r"--also .* is not a runs file"):
        bench.main(["--out", str(first), "--also", str(tmp_path / "missing.jsonl.gz"), "summary"])


def test_best_counts_every_network_that_shares_the_optimum(bench, tmp_path, monkeypatch, capsys):
    """A score rounded to its validation set's resolution can put several networks at the optimum (18 in
    supernet-small's hard reward): evaluating any of them is zero regret, so each counts as found."""
    base = toy(bench, seeds=1)
    seeds = np.round(base.seeds, 2)  # a resolution of 0.01: several networks share the best accuracy
    table = bench.Table("toy", base.decisions, base.keys, np.full(len(base.keys), 1e8), seeds)
    true = table.true_rewards("hard")
    tied = set(np.flatnonzero(true >= true.max()))
    assert len(tied) > 1
    monkeypatch.setitem(bench.TABLES, "toy", lambda: table)
    out = tmp_path / "runs.jsonl.gz"
    assert bench.main(["--out", str(out), "run", "--table", "toy", "--samplers", "random", "--rewards", "hard",
                       "--noise", "none", "--seeds", "0-3", "--evaluations", "60"]) == 0
    for seed in range(4):
        r = next(x for x in bench._rows(out) if x["seed"] == seed)
        assert r["ties"] == len(tied)
        # replay the run: the same seed draws the same networks
        evaluated = []
        study = bench.optuna.create_study(direction="maximize", sampler=bench.make_sampler("random", {
            n: bench.optuna.distributions.CategoricalDistribution(c) for n, c in table.decisions}, seed, None))
        for _ in range(60):
            trial = study.ask()
            key = tuple(c.index(trial.suggest_categorical(n, c)) for n, c in table.decisions)
            evaluated.append(table.index[key])
            study.tell(trial, float(true[table.index[key]]))
        assert r["best_at"] == [n + 1 for n, i in enumerate(evaluated) if i in tied]
        assert (min(r["regret"]) == 0.0) == bool(r["best_at"])
    # A run recorded before ties counted (no "ties" field) is left out on such a table, and said so.
    rows = bench._rows(out)
    with bench._open(out, "w") as f:
        for r in rows:
            r.pop("ties")
            f.write(bench.json.dumps(r) + "\n")
    capsys.readouterr()
    assert bench.main(["--out", str(out), "best", "--budget", "60"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("4 runs of tables whose optimum several networks share") and "| toy |" not in text


def test_sign_test_matches_the_binomial_tails(bench):
    from math import comb

    assert bench.sign_test(5, 0) == pytest.approx(2 / 32)
    assert bench.sign_test(0, 5) == pytest.approx(2 / 32)
    assert bench.sign_test(3, 3) == 1.0 and bench.sign_test(0, 0) == 1.0
    assert bench.sign_test(14, 6) == pytest.approx(2 * sum(comb(20, i) for i in range(7)) / 2**20)


def test_standing_gives_the_gap_between_medians_on_the_seeds_both_ran(bench, tmp_path, monkeypatch, capsys):
    def row(sampler, seed, value, noise="seeds"):
        return {"table": "toy", "reward": "hard", "noise": noise, "sampler": sampler, "seed": seed, "evaluations": 25,
                "repeats": "evaluate", "regret": [value] * 25}

    a = [row("a", s, v) for s, v in enumerate([0.0, 0.0, 0.1, 0.2, 0.5, 0.0, 0.9])]
    b = [row("b", s, v) for s, v in enumerate([0.3, 0.0, 0.4, 0.1, 0.6, 0.2])]  # seed 6 only in a: not paired
    c = bench.medians_apart(a, b, 25)
    assert c["seeds"] == 6 and c["a"] == pytest.approx(0.05) and c["b"] == pytest.approx(0.25)
    assert c["gap"] == pytest.approx(-0.2) and c["low"] <= c["gap"] <= c["high"]
    assert (c["better"], c["worse"]) == (4, 1) and c["p"] == pytest.approx(bench.sign_test(4, 1))
    same = bench.medians_apart(a, [row("b", r["seed"], r["regret"][0]) for r in a], 25)
    assert (same["gap"], same["low"], same["high"], same["better"], same["worse"], same["p"]) == (0, 0, 0, 0, 0, 1.0)
    out = tmp_path / "runs.jsonl.gz"
    with gzip.open(out, "wt") as f:
        # A setting the two ran on different seeds has nothing to pair: no row for it, and no error.
        f.writelines(json.dumps(r) + "\n" for r in [*a, *b, row("a", 50, 0.1, "none"), row("b", 51, 0.1, "none")])
    assert bench.main(["--out", str(out), "standing", "--a", "a", "--b", "b"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |")]
    assert line.startswith("| toy | hard | seeds | 6 | 0.05 / 0.25: -0.20 [") and "4/1 p=0.38" in line


def test_compare_pairs_two_samplers_by_seed(bench, tmp_path, capsys):
    def row(sampler, seed, value):
        return {"table": "toy", "reward": "hard", "noise": "seeds", "sampler": sampler, "seed": seed, "evaluations": 500,
                "repeats": "evaluate", "regret": [value] * 500}

    out = tmp_path / "runs.jsonl.gz"
    with gzip.open(out, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in [row("a", 0, 0.1), row("a", 1, 0.5), row("a", 2, 0.2),
                                                    row("b", 0, 0.3), row("b", 1, 0.5), row("b", 2, 0.1), row("b", 3, 0.0)])
    assert bench.main(["--out", str(out), "compare", "--a", "a", "--b", "b"]) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("| toy |")]
    assert line.startswith("| toy | hard | seeds | 3 | +0.00 [") and line.count(" 1/1/1") == 5  # seed 3 has no pair
