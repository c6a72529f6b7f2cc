"""The MNAS controller as an Optuna sampler: it learns, survives restarts, and copes with workers in flight."""

from __future__ import annotations

import json
import logging
import random

import numpy as np
import optuna
import pytest
import torch
from optuna.testing.pytest_samplers import BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase
from optuna.trial import TrialState

from effsearch import EffsearchError, MnasSampler, count
from effsearch.controller import ControllerError, state
from effsearch.controller.ppo import Baseline, _ppo_loss
from effsearch.controller.sampler import TRIAL_ATTR
from effsearch.search.space import load_space

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS, CHOICES = 8, 4


def matches(target: np.ndarray):
    """A toy objective with a known best: how many of 8 four-way choices hit a hidden target (random: 2)."""

    def objective(trial: optuna.Trial) -> float:
        return float(sum(trial.suggest_categorical(f"x{i}", list(range(CHOICES))) == target[i] for i in range(PARAMS)))

    return objective


def first_and_last(study: optuna.Study, n: int = 16) -> tuple[float, float]:
    values = [t.value for t in study.trials if t.state == TrialState.COMPLETE]
    return float(np.mean(values[:n])), float(np.mean(values[-n:]))


class TestOptunaSamplerSuite(BasicSamplerTestCase, RelativeSamplerTestCase, SingleOnlySamplerTestCase):
    """Optuna's own shared tests for samplers (floats, ints, conditionals, fixed params, n_jobs=2, ...)."""

    @pytest.fixture
    def sampler(self):
        return lambda: MnasSampler(seed=0, batch_size=2)


def policy_trials(study: optuna.Study) -> int:
    """Trials the policy proposed: neither a re-measurement nor a neighbour of the best (those are not learned from)."""
    records = [t.system_attrs.get(TRIAL_ATTR) or {} for t in study.trials]
    return sum(not (r.get("remeasure") or r.get("local")) for r in records)


def found_at(study: optuna.Study) -> int:
    """The trial number that first reached the target (all 8 matches)."""
    return next(t.number for t in study.trials if t.value == PARAMS)


def target_logp(sampler: MnasSampler, target: np.ndarray) -> float:
    """The policy's log-probability of the target (uniform: 8 log 1/4 = -11.1)."""
    return float(sum(np.log(p[target[i]]) for i, p in enumerate(sampler.policy.probabilities())))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns_in_a_plain_optuna_study(seed):
    """The screened policy without neighbours of the best or the surrogate's optima (``local=0, optima=0``)
    concentrates on the target."""
    target = np.random.default_rng(seed).integers(0, CHOICES, PARAMS)
    sampler = MnasSampler(seed=seed, local=0, optima=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    threads = torch.get_num_threads()
    study.optimize(matches(target), n_trials=160)
    assert torch.get_num_threads() == threads  # the policy runs on one thread, then hands them back
    first, last = first_and_last(study)
    # New architectures only: once the target is found the last trials are its neighbours (7 of 8).
    assert first < 3.5 and last >= 5.0 and study.best_value == PARAMS, (first, last, study.best_value)
    # Trials 8, 12 and 16 re-measure (the check for noise: the values repeat exactly, so no more)
    # and a re-measurement is not learned from.
    assert sampler.num_updates == (160 - 3) // 8
    assert sampler.most_likely_params() == {f"x{i}": int(target[i]) for i in range(PARAMS)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neighbours_find_the_target_sooner_and_the_policy_learns_from_its_own_trials(seed):
    """Two neighbours of the best trial in each screen (the default; the surrogate's optima, also a
    default, are off here to see the neighbours alone). On this additive objective the surrogate then
    climbs one decision at a time (measured: the target at trials 29-35, against 63-74 without them),
    so the policy gets fewer trials of its own to learn from; neighbours are not learned from, and the
    policy still moves most of the way to the target (measured log-probability -1.7 to -2.3 at 160
    trials, from -11.1; -0.35 to -0.61 without neighbours)."""
    target = np.random.default_rng(seed).integers(0, CHOICES, PARAMS)
    runs = {}
    for local in (2, 0):
        sampler = MnasSampler(seed=seed, local=local, optima=0)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(matches(target), n_trials=160)
        runs[local] = sampler, study
    sampler, study = runs[2]
    assert found_at(study) < 0.7 * found_at(runs[0][1]), (found_at(study), found_at(runs[0][1]))
    records = [t.system_attrs.get(TRIAL_ATTR) or {} for t in study.trials]
    neighbours = sum(bool(r.get("local")) for r in records)
    assert neighbours >= 16 and sampler.num_updates == policy_trials(study) // 8, neighbours
    assert target_logp(sampler, target) > -4.0 and sampler.history[-1]["entropy_share"] < 0.6


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_plain_policy_learns_alone(seed):
    """Without the screen and with repeats allowed, the policy gradient alone concentrates on the target."""
    target = np.random.default_rng(seed).integers(0, CHOICES, PARAMS)
    sampler = MnasSampler(seed=seed, unique=False, proposals=1, remeasure=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(matches(target), n_trials=160)
    first, last = first_and_last(study)
    assert first < 3.5 and last >= 6.0 and last >= first + 3.0, (first, last)
    assert sampler.most_likely_params() == {f"x{i}": int(target[i]) for i in range(PARAMS)}


def test_minimize_and_reinforce():
    target = np.random.default_rng(7).integers(0, CHOICES, PARAMS)
    objective = matches(target)
    # Without neighbours of the best (local=0): this checks REINFORCE's own learning in a minimised study;
    # with them, the last trials are the target's farther neighbours (measured: 5.6-5.8 matches).
    study = optuna.create_study(direction="minimize",
                                sampler=MnasSampler(seed=7, algorithm="reinforce", lr=0.02, local=0))
    study.optimize(lambda t: -objective(t), n_trials=160)
    first, last = first_and_last(study)
    assert last <= -6.0 and last <= first - 3.0, (first, last)


def test_space_controlled_from_the_first_trial():
    space = load_space("small")
    sampler = MnasSampler(seed=0, search_space=space.distributions(), remeasure=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: 1e9 / count(space.suggest(t)).macs, n_trials=24)
    assert TRIAL_ATTR in study.trials[0].system_attrs  # no random warm-up trial
    assert list(study.trials[0].params) == [name for name, _ in space.decisions]
    assert sampler.num_updates == policy_trials(study) // 8 >= 1


def test_sampling_is_reproducible_per_trial_number():
    target = np.random.default_rng(8).integers(0, CHOICES, PARAMS)
    runs = []
    for _ in range(2):
        sampler = MnasSampler(seed=8)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(matches(target), n_trials=20)
        sampler.reseed_rng()  # what Optuna does for n_jobs > 1: must not break reproducibility
        study.optimize(matches(target), n_trials=20)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


def sqlite(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


def tensors_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_new_process_restores_the_exact_policy_and_continues(tmp_path):
    target = np.random.default_rng(3).integers(0, CHOICES, PARAMS)
    # Every trial a policy sample (no re-measurements, neighbours or optima), so the update counts are exact.
    first = MnasSampler(seed=3, batch_size=4, hidden_size=16, remeasure=0, local=0, optima=0)
    study = optuna.create_study(storage=sqlite(tmp_path), study_name="s", direction="maximize", sampler=first)
    study.optimize(matches(target), n_trials=20)
    assert first.num_updates == 5

    second = MnasSampler(batch_size=4, remeasure=0, local=0, optima=0)  # a fresh process: no seed, nothing in memory, another width
    resumed = optuna.load_study(storage=sqlite(tmp_path), study_name="s", sampler=second)
    trial = resumed.ask()  # before_trial restores and catches up
    assert second.num_updates == 5 and second.seed == first.seed
    assert second.baseline == first.baseline
    assert second.policy.hidden_size == 16  # the study's policy, not a new one of the default width
    assert tensors_equal(second.policy.state_dict(), first.policy.state_dict())
    opt_a, opt_b = first._learner.optimizer.state_dict()["state"], second._learner.optimizer.state_dict()["state"]
    assert opt_a.keys() == opt_b.keys() and all(tensors_equal(opt_a[k], opt_b[k]) for k in opt_a)
    # Same policy, same seed: the resumed process samples what the first one would have.
    generator_a, generator_b = torch.Generator().manual_seed(9), torch.Generator().manual_seed(9)
    assert first.policy.sample(generator_a) == second.policy.sample(generator_b)

    resumed.tell(trial, matches(target)(trial))
    resumed.optimize(matches(target), n_trials=11)
    assert second.num_updates == 8
    records = [t.system_attrs[TRIAL_ATTR] for t in resumed.trials[20:]]
    assert {r["update"] for r in records} == {5, 6, 7}
    assert state.load(resumed._storage, resumed._study_id)["num_updates"] == 8


def test_workers_in_flight_finish_out_of_order():
    target = np.random.default_rng(4).integers(0, CHOICES, PARAMS)
    objective, rng = matches(target), random.Random(0)
    sampler = MnasSampler(seed=4, remeasure=0)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for _ in range(40):  # four trials in flight at a time, told in a shuffled order
        trials = [study.ask() for _ in range(4)]
        values = [objective(t) for t in trials]
        order = list(range(4))
        rng.shuffle(order)
        for i in order:
            study.tell(trials[i], values[i])
    assert sampler.num_updates == policy_trials(study) // 8 and policy_trials(study) < 160  # some were neighbours
    # Every trial learned from exactly once or set aside as a neighbour; fewer than a batch still wait.
    learner, pending = sampler._learner, set(sampler._pending)
    assert learner.consumed | pending == set(range(160)) and not learner.consumed & pending and len(pending) < 8
    saved = state.load(study._storage, study._study_id)
    assert {n for lo, hi in saved["consumed"] for n in range(lo, hi + 1)} <= learner.consumed
    records = [t.system_attrs[TRIAL_ATTR] for t in study.trials[4:]]  # the first four were random
    assert len({r["update"] for r in records}) >= sampler.num_updates >= 8  # each update's policy proposed trials
    _, last = first_and_last(study)
    assert last >= 5.0


def test_failed_trials_are_skipped_or_count_as_failed_reward():
    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_categorical("x", ["ok", "oom"])
        trial.suggest_categorical("y", [0, 1])
        if x == "oom":
            raise RuntimeError("out of memory")
        return 1.0

    skipping, zeroing = MnasSampler(seed=0), MnasSampler(seed=0, failed_reward=0.0)
    for sampler in (skipping, zeroing):
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.optimize(objective, n_trials=96, catch=(RuntimeError,))
    assert zeroing.num_updates == 96 // 8  # every trial counts, the random first ones included
    assert skipping.num_updates < zeroing.num_updates  # only complete trials count
    assert zeroing.policy.probabilities()[0][0] > 0.8  # learned to avoid the failing choice
    assert abs(skipping.policy.probabilities()[0][0] - 0.5) < 0.1  # all it saw were equal rewards


def test_enqueued_trials_are_learned_from_and_pinned():
    sampler = MnasSampler(seed=0, batch_size=4)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    target = np.zeros(PARAMS, dtype=int)
    study.optimize(matches(target), n_trials=2)
    study.enqueue_trial({"x0": 3})
    study.optimize(matches(target), n_trials=2)
    pinned = study.trials[2]
    assert pinned.params["x0"] == 3
    assert "logp" not in pinned.system_attrs[TRIAL_ATTR]  # not drawn by the policy
    assert sampler.num_updates == 1  # all four trials formed the first batch


def study_attrs(study: optuna.Study) -> dict:
    return study._storage.get_study_system_attrs(study._study_id)


def test_state_is_chunked_and_survives_a_torn_write(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(state, "CHUNK_CHARS", 20_000)
    target = np.random.default_rng(5).integers(0, CHOICES, PARAMS)
    sampler = MnasSampler(seed=5, batch_size=4, hidden_size=16, remeasure=0, local=0, optima=0)  # every trial learned from
    study = optuna.create_study(storage=sqlite(tmp_path), study_name="s", direction="maximize", sampler=sampler)
    study.optimize(matches(target), n_trials=12)
    assert sampler.num_updates == 3
    storage, sid = study._storage, study._study_id
    header = study_attrs(study)[f"{state.KEY}:1"]  # version 3 lives in slot 3 % 2
    assert header["version"] == 3 and header["chunks"] >= 3
    chunks = [v for k, v in study_attrs(study).items() if k.startswith(state.KEY) and isinstance(v, str)]
    assert max(len(chunk) for chunk in chunks) == 20_000

    storage.set_study_system_attr(sid, f"{state.KEY}:1:1", "torn")  # killed while writing version 3
    with caplog.at_level(logging.WARNING):
        assert state.load(storage, sid)["num_updates"] == 2  # the other slot, one update older
        storage.set_study_system_attr(sid, f"{state.KEY}:0:0", "torn")
        assert state.load(storage, sid) is None
    assert "damaged" in caplog.text
    fresh = MnasSampler(seed=5, batch_size=4, remeasure=0)
    study = optuna.load_study(storage=sqlite(tmp_path), study_name="s", sampler=fresh)
    study.ask()
    assert fresh.num_updates == 3  # a fresh policy relearns from every finished trial in the study


def test_default_chunks_fit_mysql_text(tmp_path):
    space = load_space("mnasnet")  # the largest policy effsearch ships
    sampler = MnasSampler(seed=0, search_space=space.distributions(), batch_size=2)
    study = optuna.create_study(storage=sqlite(tmp_path), study_name="s", direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(len(space.suggest(t).blocks)), n_trials=2)
    values = [v for k, v in study_attrs(study).items() if k.startswith(state.KEY)]
    assert sampler.num_updates == 1 and len(values) > 3
    assert max(len(json.dumps(v).encode()) for v in values) < 65_535


def test_multi_objective_studies_are_refused():
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=MnasSampler(seed=0))
    with pytest.raises(ControllerError, match=r"one reward but study .* has 2 objectives"):
        study.optimize(lambda t: (t.suggest_categorical("x", [0, 1]), 1.0), n_trials=1)


@pytest.mark.parametrize("kwargs", [
    {"algorithm": "a2c"}, {"lr": 0.0}, {"batch_size": 0}, {"clip": 1.5}, {"baseline_decay": 1.0},
    {"entropy_weight": -1}, {"hidden_size": 2.5}, {"seed": "x"}, {"search_space": {}},
])
def test_bad_settings_are_one_line_errors(kwargs):
    with pytest.raises(EffsearchError) as info:
        MnasSampler(**kwargs)
    assert "\n" not in str(info.value)


def test_ppo_clips_each_decision_ratio():
    logp_old = torch.zeros(1, 2)
    logp = torch.log(torch.tensor([[1.5, 0.5]]))  # ratios 1.5 and 0.5
    assert _ppo_loss(logp, logp_old, torch.tensor([1.0]), 0.2).item() == pytest.approx(-(1.2 + 0.5) / 2)
    assert _ppo_loss(logp, logp_old, torch.tensor([-1.0]), 0.2).item() == pytest.approx((1.5 + 0.8) / 2)


def test_baseline_is_a_per_sample_moving_average():
    baseline = Baseline(decay=0.5)
    assert torch.allclose(baseline.advantages(torch.tensor([1.0, 3.0])), torch.tensor([-1.0, 1.0]))
    baseline.update(torch.tensor([1.0, 3.0]))
    assert (baseline.mean, baseline.var) == (2.0, 1.0)
    baseline.update(torch.tensor([4.0]))
    assert (baseline.mean, baseline.var) == (3.0, 0.5 * 1.0 + 0.5 * 4.0)
    assert baseline.advantages(torch.tensor([3.0 + 2.5**0.5])).item() == pytest.approx(1.0)


def test_the_sampler_pickles_and_deep_copies_with_its_learning_state(tmp_path):
    import copy
    import pickle

    target = np.random.default_rng(3).integers(0, CHOICES, PARAMS)
    for sampler in (MnasSampler(seed=3), MnasSampler(seed=3, batch_size=4)):
        copy.deepcopy(sampler), pickle.loads(pickle.dumps(sampler))  # fresh: nothing learned yet
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(matches(target), n_trials=9)
    assert sampler.num_updates == 2
    for clone in (copy.deepcopy(sampler), pickle.loads(pickle.dumps(sampler))):
        assert clone.num_updates == 2 and clone.baseline == sampler.baseline
        assert tensors_equal(clone.policy.state_dict(), sampler.policy.state_dict())
        twin = optuna.create_study(direction="maximize", sampler=clone)
        for trial in study.trials:
            twin.add_trial(trial)
        twin.optimize(matches(target), n_trials=1)
        assert clone._lock is not sampler._lock
    original = optuna.create_study(direction="maximize", sampler=sampler)
    for trial in study.trials:
        original.add_trial(trial)
    original.optimize(matches(target), n_trials=1)
    assert original.trials[-1].params == twin.trials[-1].params  # the copy goes on exactly as the original


def test_ray_tunes_optuna_search_saves_and_restores_the_sampler(tmp_path):
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    search = OptunaSearch(space={f"x{i}": tune.choice(list(range(CHOICES))) for i in range(PARAMS)}, metric="r",
                          mode="max", sampler=MnasSampler(seed=5, batch_size=2))
    for i in range(4):
        config = search.suggest(f"t{i}")
        search.on_trial_complete(f"t{i}", {"r": float(sum(config.values()))})
    search.save(str(tmp_path / "searcher.pkl"))
    restored = OptunaSearch()
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored._sampler.num_updates == search._sampler.num_updates == 2
    assert restored.suggest("t4") == search.suggest("t4")
