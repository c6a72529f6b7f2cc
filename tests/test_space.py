"""Search spaces: the built-in YAML files, decisions -> NetSpec, the size count, and one-line errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import optuna
import pytest
import yaml

from effsearch import EffsearchError, NetSpec, count, round_channels
from effsearch.search.space import SpaceError, available_spaces, load_space, parse_space

REPO = Path(__file__).resolve().parents[1]

TINY = """
name: tiny
network: {stem: 16, head: 64, resolution: 32, act: relu}
choices:
  op: [ds, mbconv_e3]
  kernel: [3]
  se: [0, 0.25]
  skip: [identity, none]
  filters: [0.75, 1.0]
  layers: [-1, 0]
blocks:
  - {filters: 16, layers: 1, stride: 1}
  - {filters: 24, layers: 2, stride: 2, choices: {kernel: [3, 5], filters: [1.0, 1.25]}}
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_spaces_are_listed_and_load():
    assert {"mnasnet", "small"} <= set(available_spaces())
    for name in available_spaces():
        space = load_space(name)
        assert space.name == name and space.size >= 2 and space.decisions


def test_checkout_folder_is_the_package_folder():
    # search_spaces/ at the top of the checkout is the packaged folder, so both paths load alike.
    for name in ("mnasnet", "small"):
        by_path = load_space(REPO / "search_spaces" / f"{name}.yaml")
        assert by_path.decisions == load_space(name).decisions
        assert by_path.size == load_space(name).size


def test_mnasnet_space_is_mobilenetv2_relative():
    space = load_space("mnasnet")
    names = [name for name, _ in space.decisions]
    assert len(names) == 42
    assert names[:6] == ["b1_op", "b1_kernel", "b1_se", "b1_skip", "b1_filters", "b1_layers"]
    assert names[-1] == "b7_layers"
    choices = dict(space.decisions)
    assert choices["b3_op"] == ["conv", "ds", "mbconv_e3", "mbconv_e6"]
    assert choices["b3_kernel"] == [3, 5] and choices["b3_se"] == [0, 0.25]
    assert choices["b3_skip"] == ["identity", "none"]
    assert choices["b3_filters"] == [0.75, 1.0, 1.25] and choices["b3_layers"] == [-1, 0, 1]
    base = {"op": "mbconv_e6", "kernel": 3, "se": 0, "skip": "identity", "filters": 1.0, "layers": 0}
    spec = space.to_spec({name: base[name.split("_", 1)[1]] for name in names})
    assert [b.out_chs for b in spec.blocks] == [16, 24, 32, 64, 96, 160, 320]
    assert [b.repeats for b in spec.blocks] == [1, 2, 3, 4, 3, 3, 1]
    assert [b.stride for b in spec.blocks] == [1, 2, 2, 2, 1, 2, 1]
    assert (spec.stem_chs, spec.head_chs, spec.resolution) == (32, 1280, 224)
    assert all(b.op == "mbconv" and b.exp_ratio == 6 for b in spec.blocks)


def test_to_spec_applies_each_decision():
    space = parse_space(yaml.safe_load(TINY))
    spec = space.to_spec({
        "b1_op": "ds", "b1_se": 0.25, "b1_skip": "none", "b1_filters": 0.75, "b1_layers": -1,
        "b2_op": "mbconv_e3", "b2_kernel": 5, "b2_se": 0, "b2_skip": "identity", "b2_filters": 1.25, "b2_layers": 0,
        "lr": 0.1,  # not a decision: ignored
    })
    first, second = spec.blocks
    assert (first.op, first.exp_ratio, first.se_ratio, first.skip) == ("ds", 1, 0.25, False)
    assert first.out_chs == round_channels(16, 0.75) == 16  # rounding never goes below 90%
    assert first.repeats == 1  # one layer minus one is clamped to one
    assert (second.op, second.exp_ratio, second.kernel_size, second.se_ratio, second.skip) == ("mbconv", 3, 5, 0.0, True)
    assert second.in_chs == first.out_chs and second.out_chs == round_channels(24, 1.25) == 32
    assert second.repeats == 2 and second.stride == 2 and second.act == "relu"
    assert isinstance(spec, NetSpec) and count(spec).macs > 0


def test_size_counts_distinct_networks_exactly(tmp_path):
    space = load_space(write(tmp_path, TINY))
    assert space.num_combinations == 2 * 2 * 2 * 2 * 2 * (2 * 2 * 2 * 2 * 2 * 2)
    names = [name for name, _ in space.decisions]
    distinct = {space.to_spec(dict(zip(names, combo, strict=True)))
                for combo in itertools.product(*(c for _, c in space.decisions))}
    assert space.size == len(distinct) < space.num_combinations  # collisions: 16 x 0.75, layers clamp


def test_small_space_is_exhaustively_distinct():
    space = load_space("small")
    names = [name for name, _ in space.decisions]
    specs = {space.to_spec(dict(zip(names, combo, strict=True)))
             for combo in itertools.product(*(c for _, c in space.decisions))}
    assert space.size == len(specs) == 4096
    macs = [count(spec).macs for spec in itertools.islice(specs, 64)]
    assert min(macs) > 1e8 and max(macs) < 6e8
    assert "4,096" in space.describe()


def test_suggest_asks_every_decision_in_order():
    space = load_space("small")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    spec = space.suggest(trial)
    assert list(trial.params) == [name for name, _ in space.decisions]
    assert spec == space.to_spec(trial.params)
    assert all(d == space.distributions()[n] for n, d in study.trials[0].distributions.items())
    fixed = {name: choices[-1] for name, choices in space.decisions}
    assert space.suggest(optuna.trial.FixedTrial(fixed)) == space.to_spec(fixed)


def test_bad_params_are_one_line_errors():
    space = load_space("small")
    params = {name: choices[0] for name, choices in space.decisions}
    with pytest.raises(SpaceError, match="decision 'b2_op' is missing"):
        space.to_spec({k: v for k, v in params.items() if k != "b2_op"})
    with pytest.raises(SpaceError, match=r"b2_kernel = 7 is not one of \[3, 5\]"):
        space.to_spec({**params, "b2_kernel": 7})


BAD = {
    "missing network": ("network", TINY.replace("network: {stem: 16, head: 64, resolution: 32, act: relu}", "")),
    "missing network key": ("network.head", TINY.replace("head: 64, ", "")),
    "unknown op": ("choices.op", TINY.replace("[ds, mbconv_e3]", "[ds, mbconv_x3]")),
    "wrong type": ("blocks[0].filters", TINY.replace("{filters: 16,", "{filters: sixteen,")),
    "empty choices": ("choices.se", TINY.replace("se: [0, 0.25]", "se: []")),
    "even kernel": ("blocks[1].choices.kernel", TINY.replace("kernel: [3, 5]", "kernel: [3, 4]")),
    "bad multiplier": ("choices.filters", TINY.replace("[0.75, 1.0]", "[0.75, -1.0]")),
    "bad stride": ("blocks[0].stride", TINY.replace("stride: 1}", "stride: 3}")),
    "unknown key": ("top level", TINY + "\nextra: 1\n"),
    "unknown block key": ("blocks[0]", TINY.replace("{filters: 16,", "{width: 2, filters: 16,")),
    "missing field": ("choices.skip", TINY.replace("  skip: [identity, none]\n", "")),
    "corrupt yaml": ("line", TINY.replace("choices:\n", "choices: [\n", 1)),
    "not a mapping": ("top level", "- just\n- a list\n"),
    "bad act": ("network.act", TINY.replace("act: relu", "act: gelu")),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_invalid_files_name_the_file_and_field(tmp_path, case):
    field, text = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(EffsearchError) as info:
        load_space(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and field in message, message


def test_missing_or_unknown_spaces(tmp_path):
    with pytest.raises(SpaceError, match="does not exist"):
        load_space(tmp_path / "nope.yaml")
    with pytest.raises(SpaceError, match=r"unknown search space 'nope'.*mnasnet"):
        load_space("nope")
