"""Run objects and the hand-over between stages: a scale run inherits its baseline's data and recipe,
``train DIR --phi N`` trains a family member, and a family scales to any named budget."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from effsearch import count, get_preset, save_spec
from effsearch.cli import main
from effsearch.compound.family import make_family
from effsearch.compound.targets import Target, solve_phi
from effsearch.errors import EffsearchError
from effsearch.runs import BaselineRun, ScaleRun, TrainRun, find_runs, network, newest_run, open_run
from tests.search_helpers import TINY_SPACE, write_space

PAPER = (1.2, 1.1, 1.15)
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _error(capsys, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effsearch: error:") and "\n" not in err and "Traceback" not in err
    return err


# --------------------------------------------------------------------------- any budget


@pytest.mark.parametrize("target", [100e6, 1.8e9, 20e6, 390e6])
def test_a_macs_target_gets_the_largest_member_within_it_and_the_next_network_is_above(target):
    """The tolerance is the rounding rules' own: the member is within the target, and the next network
    phi reaches (channels to 8, whole layers, resolution to 8 px) is above it."""
    b0 = get_preset("efficientnet-b0")
    family = make_family(b0, [], alpha=1.2, beta=1.1, gamma=1.15, targets=[Target(objective="macs", value=target)])
    (member,) = family.members
    assert member.macs <= target < member.target["next_cost"]
    assert member.target["cost"] == member.macs and member.target["next_phi"] > member.phi
    # The recorded phi rebuilds the member, and the next phi builds the next network, exactly.
    again = make_family(b0, [member.phi, member.target["next_phi"]], alpha=1.2, beta=1.1, gamma=1.15).members
    assert again[0].spec.blocks == member.spec.blocks and again[1].macs == member.target["next_cost"]
    assert (member.phi < 0) == (target < count(b0).macs)
    assert member.macs / target > 0.8  # what the rounding rules reach on B0 (measured: 0.91-0.98 at these targets)


def test_params_target_and_impossible_targets():
    b0 = get_preset("efficientnet-b0")
    fit = solve_phi(b0, Target(objective="params", value=5e6), coefficients=PAPER, resolution_multiple=8)
    assert fit.cost <= 5e6 < fit.next_cost
    for value, message in ((1e3, "below the smallest network"), (1e15, "above the largest network")):
        with pytest.raises(EffsearchError, match=message):
            solve_phi(b0, Target(objective="macs", value=value), coefficients=PAPER, resolution_multiple=8)
    with pytest.raises(EffsearchError, match="positive number"):
        Target(objective="macs", value=-1)


def test_scale_to_budgets_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "b0-budgets"
    argv = ["scale", "--baseline", "efficientnet-b0", "--coefficients", "1.2,1.1,1.15", "--flops-target", "100M,1.8G",
            "--phi", "0", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "efficientnet-100M" in printed and "efficientnet-1.8G" in printed and "next" in printed
    members = json.loads((out / "family.json").read_text())["members"]
    assert [m["name"] for m in members] == ["efficientnet-100M", "efficientnet-phi0", "efficientnet-1.8G"]
    low, _, high = members
    assert low["phi"] < 0 < high["phi"] and low["macs"] <= 100e6 and high["macs"] <= 1.8e9 < high["target"]["next_cost"]
    run = json.loads((out / "run.json").read_text())["config"]
    assert run["targets"] == [{"objective": "macs", "value": 100e6}, {"objective": "macs", "value": 1.8e9}]
    assert open_run(out)[high["phi"]].name == "efficientnet-1.8G"
    from effsearch.review.dashboard.data import load_run
    from effsearch.review.dashboard.tables import family_frame

    shown = family_frame(load_run(out))  # the dashboard's Family table names each member's budget
    assert list(shown["budget"]) == ["100M MACs (0.98x)", "", "1.8G MACs (0.91x)"]
    assert list(shown["φ"]) == [f"{low['phi']:g}", "0", f"{high['phi']:g}"] and shown["official"].iloc[1] == "B0"
    assert "fixed members" in _error(capsys, ["scale", "--baseline", "efficientnet-b0", "--preset", "official",
                                              "--flops-target", "1G", "--phi", "0", "--out", str(tmp_path / "x")])
    assert "--flops-target 'lots' is malformed" in _error(capsys, [*argv[:-1], str(tmp_path / "y"), "--flops-target", "lots"])


def test_latency_target_is_met_on_measured_latency(tmp_path, tiny_spec):
    spec = tiny_spec.replace(resolution=64)
    times = []

    def latency(s):  # a real measurement, kept short; the solver measures each distinct network once
        from effsearch.engine.latency import measure_latency

        ms = measure_latency(s, threads=1, min_run_time=0.05, max_run_time=0.2)["latency_ms"]
        times.append(ms)
        return ms

    base = latency(spec)
    # The smallest member (phi -16, 8 pixels) costs about half the base here, mostly fixed cost, and one short
    # measurement slowed 4x by the machine's load once put it above a target of twice the base: four times the
    # base leaves it a margin of about 8x. A larger resolution would too, but its phi +16 bound takes minutes.
    target = Target(objective="latency_ms", value=round(4 * base, 4))
    family = make_family(spec, [], alpha=1.2, beta=1.1, gamma=1.15, targets=[target], latency=latency)
    (member,) = family.members
    assert member.latency_ms == member.target["cost"] <= target.value < member.target["next_cost"]
    assert len(times) <= 16  # the bounds, twelve bisection steps, the base (phi itself depends on the load)


# --------------------------------------------------------------------------- run objects and hand-over


def _npz(tmp_path: Path) -> str:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(240, 1, 16, 16), dtype=np.uint8)
    y = np.arange(240) % 4
    x[np.arange(240), 0, y * 4, :] = 255  # learnable: a bright row per class
    path = tmp_path / "stripes.npz"
    np.savez(path, x_train=x, y_train=y)
    return f"npz:{path}"


@pytest.mark.slow
def test_scale_inherits_the_baseline_runs_data_and_recipe_and_train_takes_a_member(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = _npz(tmp_path)
    space = write_space(tmp_path, TINY_SPACE, "tiny")
    base = tmp_path / "results" / "A"
    assert main(["baseline", "--flops-target", "5M", "--space", space, "--sampler", "random", "--trials", "2",
                 "--epochs", "1", "--batch-size", "32", "--dataset", data, "--workers", "1", "--threads", "1",
                 "--quiet", "--out", str(base)]) == 0
    found = open_run(base)
    assert isinstance(found, BaselineRun) and found.data["arg"] == data and found.proxy["batch_size"] == 32
    assert newest_run("baseline").folder == base.resolve() or newest_run("baseline").folder == Path("results/A")
    # No --dataset, no --batch-size, no --out: the grid trains on the baseline's data with its recipe,
    # into A-scale, and the same command resumes it.
    argv = ["scale", "--baseline", str(base), "--phi", "0..1", "--grid-step", "0.5", "--tolerance", "0.3",
            "--workers", "1", "--cpus-per-trial", "1", "--quiet"]
    assert main(argv) == 0
    out = tmp_path / "results" / "A-scale"
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["dataset"] == "npz" and config["data"]["arg"] == data and config["proxy"]["batch_size"] == 32
    assert config["inherited"]["dataset"] == "baseline" and config["inherited"]["proxy"]["batch_size"] == "baseline"
    assert config["inherited"]["from"] == str(base)
    scale_run = open_run(out)
    assert isinstance(scale_run, ScaleRun) and scale_run.baseline.folder == base and scale_run.data["arg"] == data
    assert main(argv) == 0  # resumes: the grid is finished, nothing trains again
    assert "grid" in capsys.readouterr().out
    # train DIR --phi N: the member, on the data its baseline was searched on, adapted as the search trained it.
    assert main(["train", str(out), "--phi", "1", "--epochs", "1", "--threads", "1", "--no-export", "--quiet", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    trained = open_run(metrics["folder"])
    assert isinstance(trained, TrainRun) and trained.finished and metrics["dataset"] == "npz"
    assert trained.record["source"].endswith("(phi 1)") and metrics["name"] == scale_run[1].name
    # Trained at the side scale --train gives it: the data's proxy side grown as its resolution grew.
    assert metrics["resolution"] == round(16 * scale_run[1].resolution / scale_run.family.baseline.resolution)
    assert "choose a member by its phi (0, 1)" in _error(capsys, ["train", str(out), "--epochs", "1"])
    assert "no member with phi=7" in _error(capsys, ["train", str(out), "--phi", "7", "--epochs", "1"])
    kinds = {r.kind for r in find_runs(tmp_path / "results")}
    assert kinds == {"baseline", "scale", "train"}


# CI installs Debian's dataset-fashion-mnist, so there this acceptance test never skips.
@pytest.mark.skipif(not os.environ.get("CI") and not FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_a_baseline_searched_on_fashion_mnist_is_grid_searched_on_it(tmp_path, capsys, monkeypatch):
    """The acceptance case: no --dataset on scale. The grid itself is stopped at its first call: what
    matters here is what it was handed (a whole Fashion-MNIST grid is minutes)."""
    import effsearch.compound.run as scale_run

    base = tmp_path / "A"
    base.mkdir()
    save_spec(get_preset("efficientnet-b0"), base / "baseline.yaml")
    record = {"kind": "baseline", "config": {"dataset": "fashion-mnist", "proxy": {"batch_size": 128, "epochs": 1.0},
                                             "data": {"arg": "fashion-mnist", "val_fraction": 0.1}}}
    (base / "run.json").write_text(json.dumps(record))
    seen = {}

    def grid(spec, scale, run, proxy, data, *rest, **kwargs):
        seen.update(data=data, proxy=proxy)
        raise EffsearchError("stopped here by the test")

    monkeypatch.setattr(scale_run, "_run_grid", grid)
    assert "stopped here" in _error(capsys, ["scale", "--baseline", str(base), "--workers", "1", "--cpus-per-trial", "1",
                                             "--out", str(tmp_path / "s")])
    assert seen["data"].name == "fashion-mnist" and len(seen["data"].val_y) == 6000
    assert seen["proxy"].batch_size == 128 and seen["proxy"].epochs == 1.0
    # A flag still wins over the inheritance.
    assert "stopped here" in _error(capsys, ["scale", "--baseline", str(base), "--dataset", "digits", "--batch-size", "16",
                                             "--workers", "1", "--cpus-per-trial", "1", "--out", str(tmp_path / "s")])
    assert seen["data"].name == "digits" and seen["proxy"].batch_size == 16


def test_open_run_knows_every_kind_and_refuses_what_is_not_a_run(tmp_path):
    examples = Path(__file__).resolve().parent.parent / "results" / "examples"
    assert isinstance(open_run(examples / "demo"), BaselineRun)
    assert isinstance(open_run(examples / "demo" / "trials.csv"), BaselineRun)
    family = open_run(examples / "demo-scale")
    assert isinstance(family, ScaleRun) and family.family[1] is not None and family[1].phi == 1
    assert isinstance(open_run(examples / "trained" / "efficientnet-b0-fashion-mnist"), TrainRun)
    assert open_run(examples / "demo").data["arg"] == "digits"  # recorded before data.arg: the name
    spec, source = network(examples / "demo-scale", phi=2)
    assert spec.name.endswith("phi2") and isinstance(source, ScaleRun)
    (tmp_path / "empty").mkdir()
    for path, message in ((tmp_path / "empty", "holds no effsearch results"), (tmp_path / "nope", "does not exist")):
        with pytest.raises(EffsearchError, match=message):
            open_run(path)
    with pytest.raises(EffsearchError, match="is a scale results folder, not a baseline one"):
        open_run(examples / "demo-scale", kind="baseline")
    with pytest.raises(EffsearchError, match="single network"):
        network("efficientnet-b0", phi=1)


@pytest.mark.slow
def test_the_three_stage_pipeline_in_python_passes_run_objects(tmp_path, monkeypatch):
    """docs/python.md's pipeline on a tiny data set: search -> scale (paper coefficients and a budget) -> train."""
    from effsearch import (
        ProxyConfig,
        RewardConfig,
        RunConfig,
        ScaleConfig,
        SearchConfig,
        TrainConfig,
        load_dataset,
        runs,
    )

    monkeypatch.chdir(tmp_path)
    data = load_dataset(_npz(tmp_path))
    space = write_space(tmp_path, TINY_SPACE, "tiny")
    base = runs.search(search=SearchConfig(space=space, sampler="random", trials=2), reward=RewardConfig(target=5e6),
                       proxy=ProxyConfig(epochs=1, threads=1), run=RunConfig(out=Path("results/py"), workers=1), data=data)
    assert isinstance(base, BaselineRun) and base.result.ran == 2 and base.data["arg"].startswith("npz:")
    budget = 2 * count(base.spec).macs
    family = runs.scale(base, scale=ScaleConfig(phis=(0, 1), coefficients=PAPER,
                                                targets=(Target(objective="macs", value=budget),)))
    assert isinstance(family, ScaleRun) and family.folder == Path("results/py-scale") and family.baseline.folder == base.folder
    solved = next(m for m in family.family if m.target is not None)
    assert {0, 1} <= {m.phi for m in family.family} and solved.macs <= budget < solved.target["next_cost"]
    trained = runs.train(family, phi=1, config=TrainConfig(epochs=1, threads=1))
    assert isinstance(trained, TrainRun) and trained.finished and trained.metrics["dataset"] == "npz"
    assert trained.folder == Path("results/trained") / f"{family[1].name}-npz"
    assert runs.train(family, phi=1, config=TrainConfig(epochs=1, threads=1)).metrics == trained.metrics  # found finished


def test_a_member_trains_at_the_side_scale_train_gives_it(tmp_path, tiny_spec):
    from effsearch.data import load_dataset
    from effsearch.runs import prepare_training

    spec_file = save_spec(tiny_spec, tmp_path / "tiny.yaml")
    assert main(["scale", "--baseline", str(spec_file), "--coefficients", "1.2,1.1,1.15", "--phi", "0..3",
                 "--out", str(tmp_path / "fam"), "--quiet"]) == 0
    family = open_run(tmp_path / "fam")
    data = load_dataset("digits")
    for phi in (0, 3):
        training = prepare_training(family, phi=phi, data=data, mode="adapt", out=tmp_path / f"t{phi}")
        grown = family[phi].resolution / family.family.baseline.resolution
        assert training.spec.resolution == round(data.default_resolution * grown)
    assert training.spec.resolution > data.default_resolution and not (tmp_path / "t3").exists()  # nothing written yet


def test_latency_target_from_the_command_line(tmp_path, capsys, tiny_spec):
    from effsearch.engine.latency import measure_latency

    spec_file = save_spec(tiny_spec.replace(resolution=64), tmp_path / "tiny.yaml")
    budget = 2 * measure_latency(tiny_spec.replace(resolution=64), threads=1)["latency_ms"]
    out = tmp_path / "fam"
    assert main(["scale", "--baseline", str(spec_file), "--coefficients", "1.2,1.1,1.15", "--latency-target",
                 f"{budget:.4f}ms", "--out", str(out)]) == 0
    assert "ms: " in capsys.readouterr().out  # the target column
    (member,) = json.loads((out / "family.json").read_text())["members"]
    assert member["name"].endswith("ms") and member["target"]["objective"] == "latency_ms"
    assert member["latency_ms"] == member["target"]["cost"] <= member["target"]["value"] < member["target"]["next_cost"]
