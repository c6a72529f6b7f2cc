"""The controller's answer to noise: re-measuring the architecture the study believes best."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from effsearch import MnasSampler
from effsearch.controller import ControllerError
from effsearch.controller.learner import TRIAL_ATTR
from effsearch.controller.remeasure import CAP, due, measurement_noise, remeasure_target, target

optuna.logging.set_verbosity(optuna.logging.WARNING)

SIZES = [3, 3, 3, 3]  # 81 architectures
VALUES = [[0.0, 0.3, 0.1], [0.2, 0.0, 0.1], [0.0, 0.0, 0.4], [0.1, 0.3, 0.0]]


def space() -> dict:
    return {f"x{i}": optuna.distributions.CategoricalDistribution(list(range(k))) for i, k in enumerate(SIZES)}


def objective(noise_sd: float, seed: int = 0):
    rng = np.random.default_rng(seed)

    def evaluate(trial: optuna.Trial) -> float:
        mean = sum(v[trial.suggest_categorical(f"x{i}", list(range(len(v))))] for i, v in enumerate(VALUES))
        return float(mean + (rng.normal(0.0, noise_sd) if noise_sd else 0.0))

    return evaluate


def keys_of(study: optuna.Study) -> list[tuple[int, ...]]:
    return [tuple(t.params[f"x{i}"] for i in range(len(SIZES))) for t in study.trials]


def remeasured(study: optuna.Study) -> list[int]:
    return [t.number for t in study.trials if (t.system_attrs.get(TRIAL_ATTR) or {}).get("remeasure")]


def test_due_is_every_nth_trial_by_number():
    assert [n for n in range(13) if due(n, 0.25)] == [4, 8, 12]
    assert [n for n in range(7) if due(n, 0.5)] == [2, 4, 6]
    assert not any(due(n, 0.0) for n in range(20))


def test_measurement_noise_is_the_pooled_spread_of_repeats():
    assert measurement_noise({(0,): [1.0], (1,): [2.0]}) is None  # no repeat: unknown
    assert measurement_noise({(0,): [1.0, 1.0], (1,): [2.0]}) == 0.0  # repeats agree: deterministic
    # Two groups, squares 2 * 0.5^2 = 0.5 and 2 * 1^2 = 2, over (2 - 1) + (3 - 1) degrees of freedom.
    assert measurement_noise({(0,): [1.0, 2.0], (1,): [3.0, 4.0, 5.0]}) == pytest.approx(2.5 / 3)


def test_one_lucky_value_loses_to_several_consistent_good_ones():
    """Shrinkage: a single high value of a network the surrogate expects to be worse is mostly noise."""
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(40):  # background: every choice seen, noise SD 0.1
        actions = [int(a) for a in rng.integers(0, 3, 4)]
        rows.append((actions, sum(v[a] for v, a in zip(VALUES, actions, strict=True)) + rng.normal(0, 0.1)))
    good = [1, 0, 2, 1]  # true 1.2, the optimum
    rows += [(good, 1.2 + d) for d in (0.05, -0.08, 0.02)]
    lucky = [1, 2, 2, 0]  # true 0.9, one draw at +0.4 (4 SD), above every value of the good one
    rows.append((lucky, 1.3))
    assert max(rows, key=lambda r: r[1])[0] == lucky  # what the best single value would pick
    assert target(rows, SIZES) == good


def test_capped_architectures_hand_over_to_the_next_best():
    good, second = [1, 0, 2, 1], [1, 0, 2, 0]
    rows = [(good, 1.2 + 0.01 * (-1) ** k) for k in range(CAP)] + [(second, 1.1), (second, 1.12)]
    rows += [([a, b, 0, 0], 0.1 * a + 0.1 * b) for a in range(3) for b in range(3)]
    assert target(rows, SIZES) == second


def test_one_chance_agreement_is_not_taken_for_a_noise_free_study():
    """Noise with few values (one of three recorded seeds) can repeat a value: it takes three agreements."""
    rows = [([a, b, 0, 0], 0.1 * a + 0.1 * b) for a in range(3) for b in range(3)]
    once = [*rows, ([2, 2, 0, 0], 0.4)]  # the best network measured again, by chance the same value
    assert target(once, SIZES) is not None
    thrice = [*once, ([2, 1, 0, 0], 0.1 * 2 + 0.1 * 1), ([1, 2, 0, 0], 0.1 * 1 + 0.1 * 2)]
    assert target(thrice, SIZES) is None


def test_equal_values_agree_exactly_though_their_float_mean_misses_them():
    """The mean of three 0.1s is not 0.1 in floating point: the repeats still agree, and the study is noise-free."""
    value = 0.1
    assert np.mean([value] * 3) != value  # the rounding this guards against
    rows = [([a, b, 0, 0], 0.1 * a + 0.05 * b) for a in range(3) for b in range(3)]
    thrice = [*rows, *[([0, 0, 1, 1], value)] * 3, ([2, 2, 0, 0], 0.1 * 2 + 0.05 * 2), ([2, 1, 0, 0], 0.1 * 2 + 0.05 * 1)]
    assert measurement_noise({(0,): [value] * 3}) == 0.0
    assert target(thrice, SIZES) is None
    assert target([*thrice, ([2, 1, 0, 0], 0.3)], SIZES) is not None  # a repeat that differs: noise after all


def test_not_due_or_too_few_rows_gives_nothing():
    rows = [([0, 0, 0, a % 3], 0.1 * a) for a in range(3)]
    assert remeasure_target(rows * 4, SIZES, 5, 0.25) is None  # trial 5 is not due
    assert remeasure_target(rows, SIZES, 4, 0.25) is None  # fewer rows than the screen needs


def test_a_deterministic_study_is_probed_three_times_then_only_new_architectures():
    sampler = MnasSampler(seed=0, batch_size=4, search_space=space())
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(objective(0.0), n_trials=48)
    keys = keys_of(study)
    # Trial 8 is the first due trial with eight values: it and the next two due trials repeat the
    # believed best, see the same values again, and from then on the study is known to be noise-free.
    assert remeasured(study) == [8, 12, 16]
    assert all(keys[n] in keys[:n] for n in (8, 12, 16)) and len(set(keys)) == 45


def test_a_noisy_study_re_measures_its_best_and_picks_better():
    """With noise SD 0.15 (half the gap between choices), every 4th trial re-evaluates the believed best.

    The re-measured networks are good ones (their true reward near the optimum), none beyond the cap,
    and across seeds the best single value lands on a truly better network than without re-measuring.
    """
    best = sum(max(v) for v in VALUES)
    true = {}
    for i in range(3 ** len(SIZES)):
        key = tuple((i // 3**d) % 3 for d in range(len(SIZES)))
        true[key] = sum(v[a] for v, a in zip(VALUES, key, strict=True))
    regrets = {0.25: [], 0.0: []}
    for seed in range(6):
        for share in regrets:
            sampler = MnasSampler(seed=seed, batch_size=4, search_space=space(), remeasure=share)
            study = optuna.create_study(direction="maximize", sampler=sampler)
            study.optimize(objective(0.15, seed), n_trials=80)
            keys = keys_of(study)
            again = remeasured(study)
            if share:
                assert again == list(range(8, 80, 4))
                assert np.mean([true[keys[n]] for n in again[5:]]) > best - 0.25
                assert all(keys[:n].count(keys[n]) < CAP for n in again)
            else:
                assert again == []
            regrets[share].append(best - true[keys[study.best_trial.number]])
    assert np.mean(regrets[0.25]) < np.mean(regrets[0.0]), regrets


def test_a_resumed_noisy_study_re_measures_what_one_process_would(tmp_path):
    def run(stops: list[int]) -> list[tuple[int, ...]]:
        storage = f"sqlite:///{tmp_path / f'study{len(stops)}.db'}"
        evaluate = objective(0.15, 3)
        for n in stops:
            sampler = MnasSampler(seed=3, batch_size=4, search_space=space())
            study = optuna.create_study(direction="maximize", sampler=sampler, storage=storage,
                                        study_name="s", load_if_exists=True)
            study.optimize(evaluate, n_trials=n)
        return keys_of(study)

    assert run([40]) == run([13, 14, 13])


@pytest.mark.parametrize("value", [-0.1, 0.6, "often", True])
def test_bad_remeasure_settings_are_one_line_errors(value):
    with pytest.raises(ControllerError, match="remeasure") as info:
        MnasSampler(seed=0, remeasure=value)
    assert "\n" not in str(info.value)
