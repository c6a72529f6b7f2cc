"""The ask/tell loop with an instant evaluation: counting, caching, rejection, failures, outputs, resume."""

from __future__ import annotations

import math

import optuna
import pandas as pd
import pytest
import yaml
from optuna.trial import TrialState

from effsearch import count, load_spec
from effsearch.search.outputs import RETRAIN_COLUMNS, TRIAL_COLUMNS
from effsearch.search.reward import RewardConfig, reward
from effsearch.search.space import load_space
from tests.search_helpers import FakeProxy, Scorer, score, search, tiny_space


def _study(out):
    return optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}")


def test_a_search_fills_the_results_folder_as_documented(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer()
    result = search(out, evaluate=scorer, trials=6, seed=3)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith("study.db")) == [
        "baseline.yaml", "pareto.csv", "run.json", "trials.csv"]
    trials = pd.read_csv(out / "trials.csv")
    space = load_space("small")
    assert list(trials.columns) == list(TRIAL_COLUMNS) + [f"d_{name}" for name, _ in space.decisions]
    assert len(trials) == 6 and set(trials["state"]) == {"COMPLETE"} and set(trials["sampler"]) == {"random"}
    assert trials["proposal"].isna().all()  # only the controller's trials say where they came from
    for _, row in trials.iterrows():  # every number is recomputed from the decisions, not trusted
        spec = space.to_spec({name: row[f"d_{name}"] for name, _ in space.decisions})
        cost = count(spec)
        assert (row["params"], row["macs"]) == (cost.params, cost.macs)
        assert row["accuracy"] == pytest.approx(score(spec))
        assert row["reward"] == pytest.approx(reward(row["accuracy"], row["macs"], RewardConfig(target=4e8)))
        assert row["over_budget"] == (row["macs"] > 4e8)
        assert row["duration_s"] >= 0 and row["train_seconds"] == pytest.approx(0.001)
    best = trials.loc[trials["reward"].idxmax()]
    baseline = load_spec(out)  # what `effsearch show DIR` reads
    assert " ".join(b for b in yaml.safe_load((out / "baseline.yaml").read_text())["blocks"]) == best["blocks"]
    assert count(baseline).macs == best["macs"] and result.baseline["number"] == best["number"]
    pareto = pd.read_csv(out / "pareto.csv")
    assert set(pareto["number"]) <= set(trials["number"]) and best["number"] in set(pareto["number"]) | {-1}
    assert len(scorer.calls) == len({c[0] for c in scorer.calls})  # never trained twice
    assert result.study.metric_names == ["reward"]  # what optuna-dashboard labels the objective with


def test_pareto_front_holds_exactly_the_non_dominated_trials(tmp_path):
    out = tmp_path / "run"
    search(out, evaluate=Scorer(), trials=12)
    trials = pd.read_csv(out / "trials.csv")
    front = set(pd.read_csv(out / "pareto.csv")["number"])
    ok = trials[trials["status"] == "ok"]
    for _, row in ok.iterrows():
        dominated = ((ok["macs"] <= row["macs"]) & (ok["accuracy"] >= row["accuracy"])
                     & ((ok["macs"] < row["macs"]) | (ok["accuracy"] > row["accuracy"]))).any()
        assert (row["number"] in front) == (not dominated)


def test_a_repeated_architecture_reuses_its_result_and_is_never_retrained(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer()
    search(out, evaluate=scorer, space=tiny_space(tmp_path), trials=12, target=5e6)
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 12 and len(scorer.calls) == len(set(scorer.calls)) <= 4
    cached = trials[trials["status"] == "cached"]
    assert len(cached) == 12 - len(scorer.calls) > 0
    first = trials[trials["status"] == "ok"].set_index("blocks")
    for _, row in cached.iterrows():
        assert row["state"] == "COMPLETE" and row["reason"].startswith("same architecture as trial")
        assert row["accuracy"] == first.loc[row["blocks"], "accuracy"]
        assert row["reward"] == first.loc[row["blocks"], "reward"]


def test_candidates_far_over_budget_are_recorded_as_rejected_untrained(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer()
    # tiny space: 2.8M to 4.7M MACs; with T = 1.5M and the default 2x limit the two MBConv ones are rejected
    search(out, evaluate=scorer, space=tiny_space(tmp_path), trials=10, target=1.5e6)
    trials = pd.read_csv(out / "trials.csv")
    rejected = trials[trials["status"] == "rejected"]
    assert len(rejected) > 0 and (rejected["macs"] > 3e6).all() and (trials.loc[trials["macs"] > 3e6, "status"] == "rejected").all()
    assert (rejected["state"] == "COMPLETE").all() and (rejected["reward"] == 0).all() and rejected["accuracy"].isna().all()
    assert rejected["reason"].str.contains("above the rejection limit of 2x").all()
    assert all(key not in set(rejected["blocks"]) for key, _ in scorer.calls)


def test_rejection_can_be_switched_off(tmp_path):
    scorer = Scorer()
    search(tmp_path / "run", evaluate=scorer, space=tiny_space(tmp_path), trials=8, target=1e6,
           reward=RewardConfig(target=1e6, reject_above=None))
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert "rejected" not in set(trials["status"]) and trials["over_budget"].all()


def test_failures_are_recorded_with_their_reason_and_the_search_goes_on(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer(fail={
        1: RuntimeError("CUDA error: an illegal memory access"),
        2: MemoryError(),
        3: {"status": "ok", "accuracy": math.nan, "loss": math.nan},  # diverged
        4: {"status": "failed", "reason": "diverged: loss is nan at step 3"},
    })
    search(out, evaluate=scorer, trials=8)
    trials = pd.read_csv(out / "trials.csv")
    failed = trials[trials["state"] == "FAIL"].set_index("number")
    assert len(trials) == 8 and len(failed) == 4 and (failed["status"] == "failed").all()
    reasons = list(failed["reason"])
    assert reasons[0] == "RuntimeError: CUDA error: an illegal memory access"
    assert reasons[1].startswith("out of memory (MemoryError)")
    assert "diverged" in reasons[2] and reasons[3] == "diverged: loss is nan at step 3"
    assert (trials.loc[trials["state"] == "COMPLETE", "status"] == "ok").sum() == 4
    assert failed["reward"].isna().all()


def test_timeout_stops_starting_trials(tmp_path):
    import time

    class Slow(Scorer):
        def __call__(self, *args, **kwargs):
            time.sleep(0.4)
            return super().__call__(*args, **kwargs)

    start = time.monotonic()
    result = search(tmp_path / "run", evaluate=Slow(), trials=1000, timeout=1.0)
    assert 1 <= result.ran <= 4 and time.monotonic() - start < 30


def test_resuming_tops_the_study_up_without_retraining(tmp_path):
    out = tmp_path / "run"
    first = Scorer()
    search(out, evaluate=first, trials=4, sampler="tpe")
    before = pd.read_csv(out / "trials.csv")
    again = Scorer()
    result = search(out, evaluate=again, trials=7, sampler="tpe")
    after = pd.read_csv(out / "trials.csv")
    assert result.resumed and result.ran == 3 and len(after) == 7
    pd.testing.assert_frame_equal(after.head(4), before)  # completed trials untouched
    assert not {c[0] for c in again.calls} & {c[0] for c in first.calls}
    assert search(out, evaluate=Scorer(), trials=7, sampler="tpe").ran == 0  # nothing left to do


def test_ctrl_c_queues_the_trial_in_flight_and_the_next_run_trains_it(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer(fail={3: KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        search(out, evaluate=scorer, trials=6)
    study = _study(out)
    interrupted = [t for t in study.trials if t.state == TrialState.FAIL]
    waiting = [t for t in study.trials if t.state == TrialState.WAITING]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["status"] == "interrupted"
    assert len(waiting) == 1 and waiting[0].system_attrs["fixed_params"] == interrupted[0].params
    resumed = Scorer()
    search(out, evaluate=resumed, trials=6)
    trials = pd.read_csv(out / "trials.csv")
    counted = trials[trials["status"] != "interrupted"]
    assert len(counted) == 6 and (counted["status"] == "ok").all()
    assert resumed.calls[0][0] == scorer.calls[2][0]  # the interrupted architecture went first


def test_retraining_picks_the_baseline_among_the_top_k_and_is_not_repeated(tmp_path):
    out = tmp_path / "run"
    scorer = Scorer()
    result = search(out, evaluate=scorer, trials=6, retrain_top=2, retrain_epochs=5)
    retrain = pd.read_csv(out / "retrain.csv")
    trials = pd.read_csv(out / "trials.csv")
    top2 = trials.sort_values("reward", ascending=False).head(2)
    assert list(retrain.columns) == list(RETRAIN_COLUMNS)
    assert list(retrain["number"]) == list(top2["number"]) and (retrain["epochs"] == 5).all()
    assert [c[1] for c in scorer.calls] == [1] * 6 + [5, 5]  # two long runs after six short ones
    assert retrain["accuracy_long"].tolist() == pytest.approx((retrain["accuracy_short"] + 0.04).tolist())
    chosen = retrain.loc[retrain["selected"]]
    assert len(chosen) == 1 and chosen["reward"].iloc[0] == retrain["reward"].max()
    assert result.baseline["number"] == chosen["number"].iloc[0] and result.baseline["retrained_epochs"] == 5
    assert result.baseline["accuracy"] == pytest.approx(chosen["accuracy_long"].iloc[0])
    again = Scorer()
    search(out, evaluate=again, trials=6, retrain_top=2, retrain_epochs=5)
    assert again.calls == []


def test_retraining_for_a_fraction_of_an_epoch_is_exported_and_not_repeated(tmp_path):
    # The trainer reports the epochs it ran, rounded; the record must keep the budget it was asked for.
    class Rounded(Scorer):
        def __call__(self, spec, data, config, seed=0):
            metrics = super().__call__(spec, data, config, seed)
            return {**metrics, "epochs": round(config.epochs, 4), "steps": 10}

    out, epochs = tmp_path / "run", 10 * 64 / 48000
    search(out, evaluate=Rounded(), trials=4, retrain_top=2, retrain_epochs=epochs)
    retrain = pd.read_csv(out / "retrain.csv")
    assert len(retrain) == 2 and retrain["accuracy_long"].notna().all()
    again = Rounded()
    search(out, evaluate=again, trials=4, retrain_top=2, retrain_epochs=epochs)
    assert again.calls == []


def test_nsga2_searches_accuracy_against_macs(tmp_path):
    out = tmp_path / "run"
    result = search(out, evaluate=Scorer(), trials=6, sampler="nsga2")
    study = _study(out)
    assert len(study.directions) == 2 and study.metric_names == ["accuracy", "macs"]
    for trial in study.trials:
        assert trial.values == [pytest.approx(trial.user_attrs["accuracy"]), trial.user_attrs["macs"]]
    trials = pd.read_csv(out / "trials.csv")
    assert result.baseline["number"] == trials.loc[trials["reward"].idxmax(), "number"]


def test_mnas_controller_drives_the_study_and_persists_its_policy(tmp_path):
    from effsearch.controller import state

    out = tmp_path / "run"
    search(out, evaluate=Scorer(), trials=17, sampler="mnas")
    study = _study(out)
    payload = state.load(study._storage, study._study_id)
    records = [t.system_attrs.get("effsearch:mnas") for t in study.trials]
    assert all(records)  # proposed by the controller: the policy, or a neighbour or optimum in its screen
    learned = sum(not r.get("local") for r in records)  # neighbours and optima are not learned from
    assert payload is not None and payload["num_updates"] == learned // 8 >= 1  # batches of 8
    proposal = pd.read_csv(out / "trials.csv").set_index("number")["proposal"]  # where each trial came from
    expected = ["optimum" if r.get("optimum") else "neighbour" if r.get("local") else "policy" for r in records]
    assert [proposal[t.number] for t in study.trials] == expected
    assert set(proposal[:8]) == {"policy"}  # no neighbours or optima before the screen has 8 trials


def test_a_different_setting_is_refused_before_anything_is_written(tmp_path):
    from effsearch.errors import EffsearchError

    out = tmp_path / "run"
    search(out, evaluate=Scorer(), trials=3)
    snapshot = pd.read_csv(out / "trials.csv")
    for kwargs, key in (({"target": 3e8}, "target"), ({"proxy": FakeProxy(epochs=2)}, "proxy"),
                        ({"seed": 1}, "seed"), ({"sampler": "nsga2"}, "two objectives")):
        with pytest.raises(EffsearchError, match=key):
            search(out, evaluate=Scorer(), trials=5, **kwargs)
    assert len(_study(out).trials) == 3
    pd.testing.assert_frame_equal(pd.read_csv(out / "trials.csv"), snapshot)
