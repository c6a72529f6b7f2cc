"""The controller's proposals: new architectures only, the surrogate's screen, and its per-update history."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import torch

from effsearch import MnasSampler
from effsearch.controller import ControllerError, state
from effsearch.controller.learner import TRIAL_ATTR, history_of
from effsearch.controller.policy import Policy
from effsearch.controller.surrogate import Surrogate, one_hot
from effsearch.search.outputs import controller_frame

optuna.logging.set_verbosity(optuna.logging.WARNING)


def additive(values: list[list[float]]):
    """An objective that is a sum of one value per (decision, choice): what the surrogate models."""

    def objective(trial: optuna.Trial) -> float:
        return float(sum(v[trial.suggest_categorical(f"x{i}", list(range(len(v))))] for i, v in enumerate(values)))

    return objective


def space(sizes: list[int]) -> dict:
    return {f"x{i}": optuna.distributions.CategoricalDistribution(list(range(k))) for i, k in enumerate(sizes)}


def test_batched_draws_are_the_single_draws_at_each_temperature():
    torch.manual_seed(0)
    policy = Policy([2, 3, 4, 2, 5])
    for p in policy.parameters():
        torch.nn.init.normal_(p)
    forced = {1: 2}
    temperatures = torch.tensor([1.0, 1.0, 1.5, 2.0, 4.0, 9.0])
    # The single draw reads its uniforms from its generator first: the batch gets the same ones.
    uniforms = torch.stack([torch.rand(5, generator=torch.Generator().manual_seed(i)) for i in range(6)])
    actions, logps = policy.sample_batch(uniforms, temperatures, forced)
    for i in range(6):
        a, lp = policy.sample(torch.Generator().manual_seed(i), forced, temperature=float(temperatures[i]))
        assert a == actions[i].tolist()
        assert np.allclose(lp, logps[i].tolist(), atol=1e-6)
    assert (actions[:, 1] == 2).all()
    # A higher temperature flattens the draw, but the log-probabilities stay the policy's own.
    evaluated, _ = policy.evaluate(actions)
    assert torch.allclose(evaluated, logps, atol=1e-5)
    hot = policy.sample_batch(torch.rand(400, 5, generator=torch.Generator().manual_seed(0)), torch.full((400,), 50.0))[0]
    cold = policy.sample_batch(torch.rand(400, 5, generator=torch.Generator().manual_seed(0)), torch.ones(400))[0]
    assert len({tuple(r) for r in hot.tolist()}) > len({tuple(r) for r in cold.tolist()})


def test_unique_proposes_every_architecture_once_before_any_repeat():
    sizes = [2, 2, 3]  # 12 architectures
    values = [[0.0, 1.0], [0.5, 0.0], [0.0, 0.2, 0.9]]
    sampler = MnasSampler(seed=0, batch_size=4, search_space=space(sizes), remeasure=0)  # unique by default
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(additive(values), n_trials=12)
    keys = [tuple(t.params[f"x{i}"] for i in range(3)) for t in study.trials]
    assert len(set(keys)) == 12
    study.optimize(additive(values), n_trials=4)  # the space is exhausted: repeats are allowed again
    assert len(study.trials) == 16


def test_plain_sampling_repeats_without_unique():
    """The control: the same policy without ``unique`` repeats architectures in a space this small."""
    sizes = [2, 2, 3]
    sampler = MnasSampler(seed=0, batch_size=4, unique=False, proposals=1, search_space=space(sizes))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(additive([[0.0, 1.0], [0.5, 0.0], [0.0, 0.2, 0.9]]), n_trials=12)
    assert len({tuple(t.params.values()) for t in study.trials}) < 12


def test_trials_in_flight_count_as_tried():
    sampler = MnasSampler(seed=1, search_space=space([2, 2, 2]))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    flying = [study.ask() for _ in range(8)]  # eight workers asked before any answered
    keys = {tuple(t.suggest_categorical(f"x{i}", [0, 1]) for i in range(3)) for t in flying}
    assert len(keys) == 8
    assert all(TRIAL_ATTR in t.system_attrs for t in study.trials)


def test_surrogate_recovers_an_additive_reward_and_its_draws_explore():
    rng = np.random.default_rng(0)
    sizes = [3, 2, 4, 2]
    truth = [rng.normal(size=k) for k in sizes]
    actions = [[int(rng.integers(k)) for k in sizes] for _ in range(40)]
    rewards = [sum(truth[d][a] for d, a in enumerate(row)) for row in actions]
    model = Surrogate(sizes, actions, rewards)
    fitted = model.predict(actions)
    assert np.corrcoef(fitted, rewards)[0, 1] > 0.99
    assert model.noise == pytest.approx(0.01)  # a perfect fit keeps the floor, so draws still differ
    draws = [model.draw(np.random.default_rng(s)) for s in range(2)]
    assert not np.allclose(draws[0], draws[1])
    assert np.allclose(model.draw(np.random.default_rng(5)), model.draw(np.random.default_rng(5)))
    x = one_hot([[0, 1, 3, 0]], sizes)
    assert x.sum() == len(sizes) + 1 and x[0, -1] == 1


def test_screened_proposals_find_the_best_of_an_additive_space_sooner():
    """On a sum of per-choice values (8 decisions x 4 choices), the screen reaches the optimum in fewer trials."""
    rng = np.random.default_rng(3)
    values = [list(rng.normal(size=4)) for _ in range(8)]
    best = sum(max(v) for v in values)

    def trials_to_best(**settings) -> list[int]:
        out = []
        for seed in range(3):
            sampler = MnasSampler(seed=seed, search_space=space([4] * 8), **settings)
            study = optuna.create_study(direction="maximize", sampler=sampler)
            study.optimize(additive(values), n_trials=150)
            hits = [t.number for t in study.trials if t.value >= best - 1e-9]
            out.append(hits[0] if hits else 150)
        return out

    screened, plain = trials_to_best(), trials_to_best(unique=False, proposals=1, remeasure=0)
    assert np.median(screened) < 100 and np.median(screened) < np.median(plain), (screened, plain)


def test_history_records_each_update_and_survives_a_restart(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    values = [[0.0, 1.0, 0.2], [0.3, 0.0], [0.0, 0.5, 0.9, 0.1]]
    first = MnasSampler(seed=2, batch_size=4, search_space=space([3, 2, 4]), remeasure=0, local=0)  # all learned from
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize", sampler=first)
    study.optimize(additive(values), n_trials=24)
    rows = first.history
    assert [r["update"] for r in rows] == list(range(1, 7))
    assert [r["last_trial"] for r in rows] == [3, 7, 11, 15, 19, 23]
    assert all(0.0 <= r["entropy_share"] <= 1.0 for r in rows) and rows[0]["entropy_share"] > 0.99
    assert history_of(state.load(study._storage, study._study_id)) == rows
    frame = controller_frame(study)
    assert list(frame["update"]) == list(range(1, 7)) and "advantage_scale" in frame

    second = MnasSampler(batch_size=4, remeasure=0, local=0)
    resumed = optuna.load_study(storage=storage, study_name="s", sampler=second)
    resumed.optimize(additive(values), n_trials=4)
    assert second.history[:6] == rows and second.history[6]["update"] == 7


def test_other_samplers_leave_no_controller_frame():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(additive([[0.0, 1.0]]), n_trials=3)
    assert controller_frame(study).empty


@pytest.mark.parametrize("kwargs", [{"proposals": 0}, {"proposals": 2.5}, {"unique": "yes"}, {"scale_decay": 1.0}])
def test_bad_proposal_settings_are_one_line_errors(kwargs):
    with pytest.raises(ControllerError) as info:
        MnasSampler(**kwargs)
    assert "\n" not in str(info.value)


def test_resume_with_proposals_samples_what_one_process_would(tmp_path):
    values = [list(np.random.default_rng(9).normal(size=3)) for _ in range(5)]
    settings = {"batch_size": 4, "unique": True, "proposals": 4, "search_space": space([3] * 5)}
    whole = optuna.create_study(direction="maximize", sampler=MnasSampler(seed=4, **settings))
    whole.optimize(additive(values), n_trials=30)

    storage = f"sqlite:///{tmp_path / 'study.db'}"
    part = optuna.create_study(storage=storage, study_name="s", direction="maximize", sampler=MnasSampler(seed=4, **settings))
    part.optimize(additive(values), n_trials=15)
    resumed = optuna.load_study(storage=storage, study_name="s", sampler=MnasSampler(**settings))
    resumed.optimize(additive(values), n_trials=15)
    assert [t.params for t in resumed.trials] == [t.params for t in whole.trials]
