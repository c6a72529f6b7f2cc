"""``--reward-beta auto``: the exponent measured on the data by MnasNet's rule, stored with the study."""

from __future__ import annotations

import json
import math

import pytest

from effsearch.arch.cost import count
from effsearch.errors import EffsearchError
from effsearch.search.calibrate import STUDY_ATTR, calibrated, fit, reference_params, width_for
from effsearch.search.loop import blocks_key
from effsearch.search.reward import RewardConfig
from effsearch.search.rungs import Rungs
from effsearch.search.space import load_space
from tests.search_helpers import search


def test_mnasnets_own_rule_gives_minus_0_07_for_five_percent_per_doubling():
    # ImageNet: twice the cost, 5% more accurate (relative) -> w = -log2(1.05) = -0.0704 (MnasNet's -0.07)
    points = [(1e8, 0.70), (2e8, 0.70 * 1.05), (4e8, 0.70 * 1.05 ** 2)]
    found = fit(points)
    assert found["gain_per_doubling"] == pytest.approx(0.05)
    assert found["exponent"] == pytest.approx(-math.log2(1.05))
    assert found["exponent"] == pytest.approx(-0.0704, abs=1e-4)


def test_the_exponent_stays_between_hard_and_none():
    assert fit([(1e8, 0.9), (2e8, 0.85), (4e8, 0.8)])["exponent"] == 0.0  # bigger trained worse: no bonus for size
    assert fit([(1e8, 0.1), (2e8, 0.3), (4e8, 0.9)])["exponent"] == -1.0  # steeper than the hard constraint's
    with pytest.raises(EffsearchError, match="fewer than two"):
        fit([(1e8, 0.8), (1e8, 0.81)])


def test_reference_networks_sit_at_half_once_and_twice_the_target():
    space = load_space("mnasnet")
    base = space.to_spec(reference_params(space))
    for size in (0.5, 1.0, 2.0):
        macs = count(width_for(base, 4e8 * size, "macs")).macs
        assert 0.85 * 4e8 * size <= macs <= 4e8 * size


def test_calibrated_sets_both_exponents_for_the_soft_form_and_beta_for_the_hard_one():
    record = {"exponent": -0.02}
    soft = calibrated(RewardConfig(target=1e8, auto="both"), record)
    hard = calibrated(RewardConfig(target=1e8, alpha=0.0, beta=-1.0, auto="beta"), record)
    assert (soft.alpha, soft.beta, soft.name, soft.pending) == (-0.02, -0.02, "auto", False)
    assert (hard.alpha, hard.beta) == (0.0, -0.02)
    assert RewardConfig(target=1e8, auto="both").fingerprint() == {"alpha": "auto", "beta": "auto", "reject_above": 2.0}
    with pytest.raises(EffsearchError, match="reward auto"):
        RewardConfig(target=1e8, auto="yes")


class SizeScorer:
    """Accuracy grows by a known 2% per doubling of MACs: the calibration must find it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, spec, data, config, seed=0):
        self.calls.append((blocks_key(spec), seed))
        accuracy = 0.8 * 1.02 ** math.log2(count(spec).macs / 4e8)
        return {"status": "ok", "accuracy": accuracy, "loss": 0.5, "train_seconds": 0.001}


def test_an_auto_search_measures_once_and_a_resumed_one_reuses_the_study_s_measurement(tmp_path):
    scorer = SizeScorer()
    reward = RewardConfig(target=4e8, auto="both")
    result = search(tmp_path / "out", evaluate=scorer, space="small", trials=3, reward=reward, rungs=Rungs(seeds=2))
    record = result.study.user_attrs[STUDY_ATTR]
    assert len(record["references"]) == 6  # three sizes x two seeds
    assert record["gain_per_doubling"] == pytest.approx(0.02, abs=1e-3)
    assert record["exponent"] == pytest.approx(-math.log2(1.02), abs=2e-3)
    config = json.loads((tmp_path / "out" / "run.json").read_text())["config"]["reward"]
    assert config["name"] == "auto" and config["beta"] == pytest.approx(record["exponent"])
    assert config["alpha"] == config["beta"] and config["calibration"]["exponent"] == record["exponent"]
    for t in result.study.get_trials(deepcopy=False):  # the trials are scored with the measured exponent
        if t.user_attrs.get("status") == "ok":
            w = record["exponent"]
            assert t.user_attrs["reward"] == pytest.approx(t.user_attrs["accuracy"] * (t.user_attrs["macs"] / 4e8) ** w)
    before = len(scorer.calls)
    search(tmp_path / "out", evaluate=scorer, space="small", trials=4, reward=reward, rungs=Rungs(seeds=2))
    assert len(scorer.calls) - before <= 2  # one more trial (two seeds), no second calibration


def test_auto_needs_an_exact_cost():
    from effsearch.search.calibrate import calibrate

    with pytest.raises(EffsearchError, match="exact cost"):
        calibrate(space=load_space("small"), reward=RewardConfig(target=10.0, objective="latency_ms", auto="both"),
                  proxy=None, rungs=Rungs(), seed=0, run=lambda jobs: [])


@pytest.mark.parametrize(("argv", "auto", "alpha"), [
    (["--reward-beta", "auto"], "both", None),
    (["--reward-beta", "AUTO", "--reward-alpha", "-0.05"], "beta", -0.05),
    (["--reward", "hard", "--reward-beta", "auto"], "beta", 0.0),
])
def test_the_cli_reads_auto(argv, auto, alpha):
    from effsearch.cli import build_parser
    from effsearch.cli.reward_options import reward_config

    args = build_parser().parse_args(["baseline", "--flops-target", "100M", *argv])
    reward = reward_config(args)
    assert reward.auto == auto and reward.pending
    if alpha is not None:
        assert reward.alpha == alpha
