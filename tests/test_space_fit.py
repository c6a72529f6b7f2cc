"""A space's widths scaled to a target: the scaled space, the fitted width, the coverage line, run.json and the CLI."""

from __future__ import annotations

import json
import math
import random

import pytest

import effsearch
from effsearch.arch.scaling import round_channels
from effsearch.cli import main
from effsearch.errors import EffsearchError
from effsearch.search.config import SearchConfig
from effsearch.search.reward import RewardConfig
from effsearch.search.settings import space_digest
from effsearch.search.space import load_space
from effsearch.search.space_fit import costs, coverage, describe, fit_space, fit_width, scale_space
from tests.search_helpers import Scorer, search


@pytest.fixture(scope="module")
def mnasnet():
    return load_space("mnasnet")


def test_scaling_multiplies_every_base_width_and_keeps_the_decisions(mnasnet):
    scaled = scale_space(mnasnet, 0.5)
    assert scaled.stem == round_channels(32, 0.5) and scaled.head == round_channels(1280, 0.5)
    assert [b.filters for b in scaled.blocks] == [round_channels(b.filters, 0.5) for b in mnasnet.blocks]
    assert [b.layers for b in scaled.blocks] == [b.layers for b in mnasnet.blocks]
    assert scaled.decisions == mnasnet.decisions and scaled.width == 0.5
    assert space_digest(scaled) != space_digest(mnasnet)  # a study refuses to mix the two
    assert "x0.5" in scaled.describe() and scale_space(mnasnet, 1) is mnasnet
    # The same decisions give a cheaper network, with each block's own width choice still applied.
    rng = random.Random(3)
    for _ in range(20):
        params = {name: rng.choice(values) for name, values in mnasnet.decisions}
        small, big = effsearch.count(scaled.to_spec(params)).macs, effsearch.count(mnasnet.to_spec(params)).macs
        assert 0.15 * big < small < 0.5 * big


@pytest.mark.parametrize("width", [0, -1, math.nan, math.inf, True, "half"])
def test_a_bad_width_is_refused(mnasnet, width):
    with pytest.raises(EffsearchError, match="space width"):
        scale_space(mnasnet, width)


@pytest.mark.parametrize(("objective", "target"), [("macs", 50e6), ("macs", 100e6), ("macs", 400e6), ("params", 2e6)])
def test_the_fitted_space_has_its_median_at_the_target(mnasnet, objective, target):
    width = fit_width(mnasnet, objective, target)
    cover = coverage(scale_space(mnasnet, width), objective, target, 2.0)
    assert abs(math.log(cover.median / target)) < math.log(1.15), (width, cover)
    assert 0.35 < cover.within_target < 0.65 and cover.within_limit > 0.85
    assert width == round(width, 2)


def test_the_width_grows_with_the_target(mnasnet):
    widths = [fit_width(mnasnet, "macs", t) for t in (50e6, 100e6, 400e6, 1.2e9)]
    assert widths == sorted(widths) and len(set(widths)) == 4
    assert widths[2] == pytest.approx(1.0, abs=0.15)  # mnasnet was written for ~400M (its median: 366M)


def test_coverage_counts_the_draws(mnasnet):
    values = costs(mnasnet, "macs", draws=300, seed=0)
    cover = coverage(mnasnet, "macs", 400e6, 1.2, draws=300)
    assert cover.within_target == sum(v <= 400e6 for v in values) / 300
    assert cover.within_limit == sum(v <= 480e6 for v in values) / 300
    assert cover.median == sorted(values)[150]
    assert coverage(mnasnet, "macs", 400e6, None, draws=50).within_limit is None


def test_the_opening_line_says_when_the_target_leaves_little_in_budget(mnasnet):
    sparse = describe(mnasnet, "macs", coverage(mnasnet, "macs", 100e6, 2.0))
    assert sparse.startswith("0.") and "% of the space's networks cost <= the target" in sparse and "'auto'" in sparse
    fitted = scale_space(mnasnet, fit_width(mnasnet, "macs", 100e6))
    line = describe(fitted, "macs", coverage(fitted, "macs", 100e6, 2.0))
    assert "'auto'" not in line and "are not rejected" in line


def test_fit_space_keeps_scales_or_fits(mnasnet):
    with pytest.raises(EffsearchError, match="no width puts the median network of space mnasnet at the target"):
        fit_width(mnasnet, "macs", 5e6)  # below what the narrowest channels (8) cost at 224 px
    reward = RewardConfig(target=100e6)
    assert fit_space(mnasnet, None, reward) is mnasnet
    assert fit_space(mnasnet, 0.5, reward).width == 0.5
    assert fit_space(mnasnet, "auto", reward).width == fit_width(mnasnet, "macs", 100e6)
    with pytest.raises(EffsearchError, match="needs a MACs or params target"):
        fit_space(mnasnet, "auto", RewardConfig(objective="latency_ms", target=15.0))
    with pytest.raises(EffsearchError, match="space width 0 is invalid"):
        SearchConfig(space="mnasnet", space_width=0)


def test_a_search_on_a_fitted_space_records_it_and_resumes(tmp_path):
    """The scaled space is what the study searches; run.json records the width and the coverage; the
    same command resumes (the fitted width is the same every time) and another width is refused."""
    out = tmp_path / "run"
    search(out, evaluate=Scorer(), space="mnasnet", trials=4, target=100e6, space_width="auto")
    config = json.loads((out / "run.json").read_text())["config"]
    width = fit_width(load_space("mnasnet"), "macs", 100e6)
    assert config["space_width"] == width
    assert 0.35 < config["space_coverage"]["within_target"] < 0.65
    scaled = scale_space(load_space("mnasnet"), width)
    assert (out / "baseline.yaml").is_file()
    # every trained candidate is a network of the scaled space: its stem and head are the scaled ones
    spec = effsearch.load_spec(str(out / "baseline.yaml"))
    assert spec.stem_chs == scaled.stem and spec.head_chs == scaled.head
    search(out, evaluate=Scorer(), space="mnasnet", trials=6, target=100e6, space_width="auto")  # resumes
    with pytest.raises(EffsearchError, match="was run with space_definition"):
        search(out, evaluate=Scorer(), space="mnasnet", trials=8, target=100e6, space_width=0.5)


def test_the_cli_names_the_folder_after_the_width_and_refuses_bad_widths(tmp_path, capsys, monkeypatch):
    import argparse

    from effsearch.cli.baseline import add_parser, default_out

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    add_parser(sub)
    args = parser.parse_args(["baseline", "--flops-target", "100M", "--space-width", "auto"])
    assert default_out(args, RewardConfig(target=100e6)).name == "baseline-100M-mnasnet-wauto-mnas-s0"
    args = parser.parse_args(["baseline", "--flops-target", "100M", "--space-width", "0.5"])
    assert default_out(args, RewardConfig(target=100e6)).name == "baseline-100M-mnasnet-w0.5-mnas-s0"
    for bad, message in (("abc", "'abc' is not a width multiplier"), ("0", "out of range"), ("20", "out of range")):
        assert main(["baseline", "--flops-target", "100M", "--space-width", bad, "--out", str(tmp_path / "x")]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("effsearch: error: --space-width") and message in err[0]
    assert main(["baseline", "--latency-target", "15ms", "--space-width", "auto", "--out", str(tmp_path / "x")]) == 1
    assert "needs a MACs or params target" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
