"""effsearch.search.noisy_best: the network a noisy, unequally repeated study should take."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from effsearch.errors import EffsearchError
from effsearch.search.noisy_best import best_network, posterior_means


def _study(values: dict[str, list[float]], direction: str = "maximize") -> optuna.Study:
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.RandomSampler(seed=0))
    for name, vs in values.items():
        for v in vs:
            study.add_trial(optuna.trial.create_trial(params={"net": name}, value=v,
                                                      distributions={"net": optuna.distributions.CategoricalDistribution(
                                                          sorted(values))}))
    return study


NOISY = {"lucky": [0.95], "solid": [0.90, 0.92] * 4, "erratic": [0.62, 0.88] * 4, "c": [0.70], "d": [0.75], "e": [0.72]}
"""The repeats of "erratic" say the noise is large (SD 0.14): one value of 0.95 says little against eight of 0.91."""


def test_a_lucky_single_value_loses_to_a_consistent_mean_when_the_study_is_noisy():
    study = _study(NOISY)
    assert study.best_trial.params == {"net": "lucky"}  # what the best single value would take
    best = best_network(study)
    assert best.params == {"net": "solid"} and best.count == 8 and best.mean == pytest.approx(0.91)
    assert best.numbers == tuple(range(1, 9))
    assert np.mean([0.95, 0.91, 0.75, 0.7, 0.75, 0.72]) < best.estimate < 0.91  # shrunk, partly, towards the mean of all


def test_quiet_repeats_keep_the_best_value_and_no_repeats_is_the_max():
    quiet = {**NOISY, "erratic": [0.74, 0.76] * 4}
    assert best_network(_study(quiet)).params == {"net": "lucky"}
    assert best_network(_study({"a": [0.5], "b": [0.9], "c": [0.7]})).params == {"net": "b"}


def test_a_minimised_study_is_shrunk_the_other_way():
    flipped = {k: [-v for v in vs] for k, vs in NOISY.items()}
    best = best_network(_study(flipped, "minimize"))
    assert best.params == {"net": "solid"} and best.mean == pytest.approx(-0.91) and best.estimate > -0.91


def test_posterior_means_by_hand():
    n = np.array([1.0, 4.0, 1.0, 1.0])
    m = np.array([0.9, 0.8, 0.5, 0.6])
    ss = np.array([0.0, 0.03, 0.0, 0.0])
    noise = 0.03 / 3
    var_m = np.var(m, ddof=1)
    spread = max(var_m - noise * np.mean(1 / n), 0.1 * var_m)
    expected = (n * m / noise + m.mean() / spread) / (n / noise + 1 / spread)
    np.testing.assert_allclose(posterior_means(n, m, ss), expected)
    np.testing.assert_array_equal(posterior_means(n, m, np.zeros(4)), m)  # no noise: the means


def test_refusals():
    with pytest.raises(EffsearchError, match="no finished trial"):
        best_network(optuna.create_study())
    with pytest.raises(EffsearchError, match="single-objective"):
        best_network(optuna.create_study(directions=["maximize", "minimize"]))
