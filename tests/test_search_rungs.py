"""Multi-fidelity search: rungs, promotion, seeds at the top rung, the noise-aware pick, resume at any rung."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from effsearch.errors import EffsearchError
from effsearch.search.loop import blocks_key
from effsearch.search.pick import describe, pick_summary, residual_noise
from effsearch.search.rungs import Rungs, promotable
from tests.search_helpers import RESUME_SPACE, search, write_space


class NoisyScorer:
    """Accuracy = the architecture's quality + what a longer budget adds + a seed effect shared by all + noise."""

    def __init__(self, noise: float = 0.004) -> None:
        self.calls: list[tuple[str, float, int]] = []
        self.noise = noise

    def __call__(self, spec: Any, data: Any, config: Any, seed: int = 0) -> dict[str, Any]:
        key = blocks_key(spec)
        self.calls.append((key, config.epochs, seed))
        quality = _unit(key) * 0.2
        jitter = (_unit(f"{key}/{seed}/{config.epochs}") - 0.5) * self.noise
        accuracy = 0.6 + quality + 0.02 * config.epochs ** 0.5 + 0.01 * (seed % 3) + jitter
        return {"status": "ok", "accuracy": round(min(accuracy, 1.0), 6), "loss": 0.5, "train_seconds": 0.001}


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 16**8


def _run(tmp_path: Path, scorer: Any, *, sampler: str = "random", trials: int = 27, rungs: Rungs, **kw: Any):
    return search(tmp_path / "out", evaluate=scorer, space=write_space(tmp_path, RESUME_SPACE, "resume"),
                  sampler=sampler, trials=trials, target=4e7, rungs=rungs, **kw)


# --- the rungs themselves -----------------------------------------------------------------------


def test_rung_budgets_scale_every_budget_the_proxy_has():
    from effsearch.proxy import ProxyConfig

    rungs = Rungs(count=3, factor=3, seeds=2)
    assert [rungs.budget(ProxyConfig(steps=150, epochs=None), k).steps for k in range(3)] == [150, 450, 1350]
    assert [rungs.budget(ProxyConfig(epochs=0.5), k).epochs for k in range(3)] == [0.5, 1.5, 4.5]
    assert rungs.seeds_at(0, 7) == [7] and rungs.seeds_at(2, 7) == [7, 8]
    assert rungs.describe(ProxyConfig(steps=150, epochs=None)) == \
        "rungs of 150 / 450 / 1350 steps (top third promoted), 2 seeds at the top rung (mean)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"count": 0}, "rungs 0 is invalid"), ({"count": 7}, "rungs 7 is invalid"), ({"factor": 1}, "rung factor 1"),
    ({"seeds": 0}, "final seeds 0"), ({"count": 2.5}, "rungs 2.5"), ({"factor": True}, "rung factor True"),
])
def test_bad_rung_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(EffsearchError, match=message):
        Rungs(**kwargs)


def test_a_time_budget_alone_cannot_be_split_into_rungs(tmp_path):
    from effsearch.proxy import ProxyConfig

    with pytest.raises(EffsearchError, match="rungs need a proxy budget in steps or epochs"):
        _run(tmp_path, NoisyScorer(), rungs=Rungs(count=2), proxy=ProxyConfig(seconds=5, epochs=None))
    assert not (tmp_path / "out" / "study.db").exists()


def test_promotable_is_ashas_rule():
    assert promotable(0.5, [], 3)  # the first value of a rung goes on
    assert promotable(0.6, [0.5], 3) and not promotable(0.4, [0.5], 3)
    assert promotable(0.7, [0.9, 0.1], 3) is False  # 3 values: only the best (1 = 3 // 3) goes on
    assert promotable(0.8, [0.9, 0.7, 0.1, 0.2, 0.3], 3)  # 6 values: the top 2


# --- a search with rungs ------------------------------------------------------------------------


@pytest.mark.parametrize("sampler", ["random", "tpe", "mnas", "nsga2"])
def test_candidates_are_promoted_by_asha_and_only_finalists_complete(tmp_path, sampler):
    scorer = NoisyScorer()
    result = _run(tmp_path, scorer, sampler=sampler, rungs=Rungs(count=3, factor=3, seeds=2))
    trials = result.study.get_trials(deepcopy=False)
    assert len(trials) == 27
    trained = [t for t in trials if t.user_attrs.get("status") == "ok"]
    complete = [t for t in trained if t.state == TrialState.COMPLETE]
    pruned = [t for t in trained if t.state == TrialState.PRUNED]
    assert complete and pruned and len(complete) + len(pruned) == len(trained)
    for t in complete:  # finalists went through every rung, the top one with two seeds
        assert t.user_attrs["rung"] == 2 and t.user_attrs["rung0_promoted"] and t.user_attrs["rung1_promoted"]
        assert len(t.user_attrs["seed_accuracies"]) == 2
        assert t.user_attrs["accuracy"] == pytest.approx(sum(t.user_attrs["seed_accuracies"]) / 2)
    for t in pruned:
        k = t.user_attrs["rung"]
        assert k in (0, 1) and t.user_attrs[f"rung{k}_promoted"] is False
        assert t.user_attrs["accuracy"] == t.user_attrs[f"rung{k}_accuracy"]
    # Every decision follows ASHA's rule over the rung's earlier values (one worker: decisions in trial order).
    for k in (0, 1):
        seen: list[float] = []
        for t in sorted(trained, key=lambda t: t.number):
            if f"rung{k}_reward" not in t.user_attrs or t.user_attrs.get("cached_from") is not None:
                continue
            value = t.user_attrs[f"rung{k}_reward"]
            assert t.user_attrs[f"rung{k}_promoted"] == promotable(value, list(seen), 3), (k, t.number)
            seen.append(value)
    # Training calls: each trained candidate once at rung 0, the promoted at 3x and 9x (twice, two seeds).
    epochs = [c[1] for c in scorer.calls]
    assert epochs.count(1) == sum(t.user_attrs.get("cached_from") is None for t in trained)
    assert epochs.count(9) == 2 * sum(t.user_attrs.get("cached_from") is None for t in complete)
    assert {c[2] for c in scorer.calls if c[1] < 9} == {0} and {c[2] for c in scorer.calls if c[1] == 9} == {0, 1}
    frame = pd.read_csv(tmp_path / "out" / "trials.csv")
    assert {"rung", "seed_accuracies", "rung0_accuracy", "rung1_promoted", "rung2_reward"} <= set(frame.columns)
    assert set(pd.read_csv(tmp_path / "out" / "pareto.csv")["number"]) <= {t.number for t in complete}


def test_the_baseline_is_the_best_seed_mean_among_finalists_and_the_pick_states_the_noise(tmp_path):
    result = _run(tmp_path, NoisyScorer(), sampler="random", rungs=Rungs(count=2, factor=3, seeds=2))
    complete = [t for t in result.study.get_trials(deepcopy=False)
                if t.state == TrialState.COMPLETE and t.user_attrs.get("status") in ("ok", "cached")]
    best = max(complete, key=lambda t: (t.user_attrs["reward"], -t.number))
    assert result.baseline["number"] == best.number  # never a pruned trial, whatever its lower rung's reward
    pick = json.loads((tmp_path / "out" / "run.json").read_text())["results"]["pick"]
    assert pick["best"] == best.number and pick["noise"]["seeds"] == 2
    assert pick["within_noise"] == (pick["gap"] < 2 * pick["noise"]["sd_of_difference"])
    assert "runner-up trial" in describe(pick)


def test_without_rungs_a_search_is_single_fidelity_as_before(tmp_path):
    scorer = NoisyScorer()
    result = _run(tmp_path, scorer, trials=8, rungs=Rungs())
    assert all(t.state != TrialState.PRUNED for t in result.study.get_trials(deepcopy=False))
    assert {c[1] for c in scorer.calls} == {1}
    from effsearch.search.study import FINGERPRINT_KEY

    assert "rungs" not in result.study.user_attrs[FINGERPRINT_KEY]  # older single-fidelity studies still resume
    assert json.loads((tmp_path / "out" / "run.json").read_text())["config"]["rungs"] == {"count": 1, "factor": 3, "seeds": 1}


def test_a_study_refuses_other_rung_settings(tmp_path):
    _run(tmp_path, NoisyScorer(), trials=4, rungs=Rungs(count=2))
    with pytest.raises(EffsearchError, match="rungs"):
        _run(tmp_path, NoisyScorer(), trials=6, rungs=Rungs(count=3))


# --- the pick's noise ------------------------------------------------------------------------------


def test_residual_noise_removes_the_shared_seed_effect():
    # Two seeds; seed 1 adds 0.05 to every network: pairing removes it, leaving a known residual.
    rows = [[0.80, 0.85], [0.70, 0.75], [0.60, 0.65]]
    assert residual_noise(rows)["residual_sd"] == pytest.approx(0.0, abs=1e-12)
    # unpaired, the shared +0.05 counts: each network spreads 0.025 around its mean, var 0.00125 (df 1 each)
    assert residual_noise(rows)["sd_of_unpaired_difference"] == pytest.approx((2 * 0.00125 / 2) ** 0.5)
    rows = [[0.80 + 0.01, 0.85 - 0.01], [0.70 - 0.01, 0.75 + 0.01], [0.60, 0.65]]
    noise = residual_noise(rows)
    # residuals +-0.01 on two rows, 0 on the third: SS = 4 * 1e-4, df = (3-1)(2-1) = 2
    assert noise["residual_sd"] == pytest.approx((4e-4 / 2) ** 0.5)
    assert noise["sd_of_difference"] == pytest.approx((2 * 2e-4 / 2) ** 0.5)
    assert residual_noise([[0.8], [0.7]]) is None and residual_noise([[0.8, 0.9]]) is None


def test_pick_summary_says_when_the_runner_up_is_within_the_noise():
    rows = [{"number": 3, "reward": 0.801, "accuracy": 0.801, "seed_accuracies": [0.80, 0.802]},
            {"number": 5, "reward": 0.800, "accuracy": 0.800, "seed_accuracies": [0.805, 0.795]},
            {"number": 9, "reward": 0.700, "accuracy": 0.700, "seed_accuracies": [0.70, 0.70]}]
    pick = pick_summary(rows)
    assert (pick["best"], pick["runner_up"]) == (3, 5) and pick["gap"] == pytest.approx(0.001)
    assert pick["within_noise"] is True and "within the noise" in describe(pick)
    far = pick_summary([{**rows[0], "reward": 0.9, "accuracy": 0.9, "seed_accuracies": [0.9, 0.9]}, *rows[1:]])
    assert far["within_noise"] is False and "beyond the noise" in describe(far)
    one_seed = pick_summary([{**r, "seed_accuracies": None} for r in rows])
    assert one_seed["within_noise"] is None and "two seeds to measure it" in describe(one_seed)


# --- the controller learns from the first rung --------------------------------------------------


def test_the_controller_learns_from_the_first_rung_under_successive_halving():
    from effsearch.controller import MnasSampler

    def trial_with(study):
        trial = study.ask({"a": optuna.distributions.CategoricalDistribution([0, 1])})
        trial.report(0.5, 1)
        trial.report(0.7, 3)
        return study.tell(trial, 0.7)

    from effsearch.controller.rewards import trial_reward

    halving = optuna.create_study(direction="maximize", pruner=Rungs(count=3).pruner())
    plain = optuna.create_study(direction="maximize")
    for study, expected in ((halving, 0.5), (plain, 0.7)):
        frozen = trial_with(study)
        assert trial_reward(study, frozen, frozen.state, frozen.values, fidelity="auto", failed_reward=None) == expected
    assert trial_reward(halving, frozen, frozen.state, frozen.values, fidelity="final", failed_reward=None) == 0.7
    assert trial_reward(plain, frozen, frozen.state, frozen.values, fidelity="first", failed_reward=None) == 0.5
    with pytest.raises(EffsearchError, match="fidelity"):
        MnasSampler(seed=0, fidelity="best")


# --- a SIGKILL at any rung loses no finished rung -----------------------------------------------

KILLED_RUN = """
import json, os, signal, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.search_helpers import search, write_space, RESUME_SPACE
from tests.test_search_rungs import NoisyScorer
from effsearch.search.loop import blocks_key
from effsearch.search.rungs import Rungs

log, kill_at = Path({log!r}), {kill_at}

class Logged(NoisyScorer):
    def __call__(self, spec, data, config, seed=0):
        calls = log.read_text().splitlines() if log.exists() else []
        if len(calls) + 1 == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        metrics = super().__call__(spec, data, config, seed)
        with log.open("a") as f:
            f.write(json.dumps([blocks_key(spec), config.epochs, seed]) + "\\n")
        return metrics

tmp = Path({tmp!r})
search(tmp / "out", evaluate=Logged(), space=write_space(tmp, RESUME_SPACE, "resume"), sampler="random",
       trials=12, target=4e7, rungs=Rungs(count=3, factor=3, seeds=2))
"""


@pytest.mark.parametrize("kill_at", [2, 5, 6, 7])
def test_a_sigkill_at_any_rung_loses_no_finished_rung(tmp_path, kill_at):
    """With one worker trial 0 (always promoted first) trains rung 0 (call 1), rung 1 (2), rung 2 seeds 0 and 1 (3, 4)."""
    root = str(Path(__file__).resolve().parents[1])
    log = tmp_path / "calls.log"
    script = tmp_path / "run.py"
    env = {**os.environ, "PYTHONPATH": root}
    for kill in (kill_at, 0):  # killed, then the same command again to the end
        script.write_text(textwrap.dedent(KILLED_RUN.format(root=root, log=str(log), kill_at=kill, tmp=str(tmp_path))))
        done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
        if kill:
            assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
        else:
            assert done.returncode == 0, done.stderr[-2000:]
    calls = [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    assert len(calls) == len(set(calls)), "a finished (architecture, rung, seed) was trained again after the kill"
    study = optuna.load_study(study_name="out", storage=f"sqlite:///{tmp_path / 'out' / 'study.db'}")
    trials = study.get_trials(deepcopy=False)
    assert any(t.user_attrs.get("status") == "interrupted" for t in trials)
    assert sum(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials) == 12
    assert not [t for t in trials if t.state == TrialState.RUNNING]


class Jittery(NoisyScorer):
    """Finishes after a delay that depends on the architecture, the seed and ``salt``: workers finish out of order."""

    def __init__(self, salt: str, delay: float = 0.2) -> None:
        super().__init__()
        self.salt, self.delay = salt, delay

    def __call__(self, spec, data, config, seed=0):
        import time

        digest = hashlib.sha256(f"{self.salt}{blocks_key(spec)}{seed}{config.epochs}".encode()).digest()
        time.sleep(digest[0] / 255 * self.delay)
        return super().__call__(spec, data, config, seed)


@pytest.mark.parametrize("sampler", ["mnas", "tpe"])
def test_two_workers_promote_the_same_candidates_whatever_order_they_finish_in(tmp_path, sampler):
    runs = []
    for salt in ("a", "b"):
        (tmp_path / salt).mkdir()
        runs.append(_run(tmp_path / salt, Jittery(salt), sampler=sampler, trials=18, workers=2,
                         rungs=Rungs(count=3, factor=3, seeds=2)))
    histories = [[(t.number, t.params, t.state, t.values, t.user_attrs.get("rung"), t.user_attrs.get("seed_accuracies"))
                  for t in sorted(r.study.get_trials(deepcopy=False), key=lambda t: t.number)] for r in runs]
    assert histories[0] == histories[1]
    assert any(h[2] == TrialState.PRUNED for h in histories[0]) and any(h[2] == TrialState.COMPLETE for h in histories[0])


def test_past_the_time_limit_nothing_is_promoted_and_the_run_ends(tmp_path):
    import time

    start = time.monotonic()
    result = _run(tmp_path, Jittery("t", delay=0.0), trials=1000, rungs=Rungs(count=3), timeout=1.0)
    slow = Jittery("t", delay=0.0)
    assert slow  # the scorer itself is instant; the time limit is hit through many quick trials
    trials = result.study.get_trials(deepcopy=False)
    late = [t for t in trials if "time limit" in (t.user_attrs.get("reason") or "")]
    assert time.monotonic() - start < 30
    assert all(t.state == TrialState.PRUNED and t.user_attrs["status"] == "ok" for t in late)
    started_late = [t for t in trials if t.datetime_start and (t.datetime_start - trials[0].datetime_start).total_seconds() > 1.5]
    assert not started_late  # no new candidate after the limit (a little slack for the study's own writes)
