"""The family: compound and official rules, cost growth, duplicate warnings, files that load back."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import yaml

from effsearch import build_model, count, get_preset, load_spec
from effsearch.arch.presets import EFFICIENTNET_TABLE
from effsearch.arch.scaling import round_resolution
from effsearch.arch.specio import spec_from_dict
from effsearch.compound.family import (
    check_phis,
    family_from_dict,
    family_to_dict,
    growth,
    load_family,
    make_family,
    save_family,
)
from effsearch.errors import EffsearchError

PAPER = {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}


@pytest.fixture(scope="module")
def b0():
    return get_preset("efficientnet-b0")


@pytest.fixture(scope="module")
def paper_family(b0):
    return make_family(b0, range(8), **PAPER)


def test_paper_coefficients_give_alpha_and_beta_to_the_phi(paper_family):
    for m in paper_family.members:
        assert m.depth == pytest.approx(1.2**m.phi)
        assert m.width == pytest.approx(1.1**m.phi)
        assert m.resolution == round_resolution(224 * 1.15**m.phi, 8)
        assert m.resolution % 8 == 0


def test_paper_family_macs_grow_strictly_by_about_1_93_per_step(paper_family):
    macs = [m.macs for m in paper_family.members]
    assert all(b > a for a, b in itertools.pairwise(macs))
    per_step = (macs[-1] / macs[0]) ** (1 / 7)
    # alpha * beta^2 * gamma^2 = 1.92; ceil on repeats and rounding to 8 land the mean at ~1.93.
    assert per_step == pytest.approx(1.93, abs=0.01)
    steps = growth(paper_family)[1:]
    assert steps[0] is not None and all(1.5 < s < 2.5 for s in steps)
    assert math.prod(steps) == pytest.approx(macs[-1] / macs[0])


def test_member_cost_is_the_cost_model_of_its_spec(paper_family):
    for m in paper_family.members:
        cost = count(m.spec)
        assert (m.params, m.macs) == (cost.params, cost.macs)
        assert m.channels == [b.out_chs for b in m.spec.blocks]
        assert m.repeats == [b.repeats for b in m.spec.blocks]
    assert paper_family.members[0].spec.blocks == get_preset("efficientnet-b0").blocks
    assert paper_family.members[3].name == "efficientnet-phi3"


def test_official_rule_reproduces_the_released_b0_to_b7(b0):
    family = make_family(b0, range(8), rule="official")
    assert family.resolution_multiple == 4
    for m in family.members:
        preset = get_preset(f"efficientnet-b{m.phi}")
        width, depth, res, _ = EFFICIENTNET_TABLE[preset.name]
        assert m.spec == preset
        assert (m.width, m.depth, m.resolution) == (width, depth, res)
    # DESIGN.md's fvcore-on-timm reference counts.
    assert family.member(7).params == 66_347_960
    assert family.member(1).macs / 1e9 == pytest.approx(0.709, abs=0.001)


def test_official_rule_keeps_the_resolution_ratio_on_other_baselines(tiny_spec):
    family = make_family(tiny_spec, [0, 4, 7], rule="official")
    assert [m.resolution for m in family.members] == [32, round_resolution(32 * 380 / 224, 4), round_resolution(32 * 600 / 224, 4)]
    assert family.member(4).name == "net-b4"


def test_same_network_after_rounding_is_warned(tiny_spec):
    family = make_family(tiny_spec, [0, 1, 2], alpha=1.0, beta=1.01, gamma=1.01)
    assert len(family.warnings) == 2
    assert "phi=1" in family.warnings[0] and "phi=0" in family.warnings[0] and "same network" in family.warnings[0]
    assert not make_family(tiny_spec, [0, 1, 2], **PAPER).warnings


def test_latency_is_measured_only_when_asked(tiny_spec):
    seen = []

    def fake_latency(spec):
        seen.append(spec.name)
        return 1.5 * len(seen)

    family = make_family(tiny_spec, [1, 2], **PAPER, latency=fake_latency)
    assert seen == ["net-phi1", "net-phi2"]
    assert [m.latency_ms for m in family.members] == [1.5, 3.0]
    assert "latency_ms" in family_to_dict(family)["members"][0]
    assert "latency_ms" not in family_to_dict(make_family(tiny_spec, [1], **PAPER))["members"][0]


def test_family_document_follows_the_contract(paper_family):
    data = family_to_dict(paper_family)
    assert set(data) >= {"baseline", "coefficients", "rule", "resolution_multiple", "members"}
    assert data["coefficients"] == PAPER and data["rule"] == "compound" and data["resolution_multiple"] == 8
    member = data["members"][2]
    for key in ("phi", "name", "depth", "width", "resolution", "params", "macs", "channels", "repeats", "blocks", "timm_arch_def", "spec"):
        assert key in member
    assert member["blocks"][0].startswith("r2_k3_s11_e1_i")
    assert member["timm_arch_def"][0][0].startswith("ds_r2_k3_s1_")
    assert member["timm_faithful"] is True and member["timm_differs"] == []
    assert spec_from_dict(member) == paper_family.member(2).spec


def test_members_timm_cannot_rebuild_say_so_and_warn(tiny_spec, tmp_path):
    # A stride-1 stem has no timm form; the verdict travels with each member and its spec file.
    from effsearch.arch.timmcompat import TimmExportWarning

    family = make_family(tiny_spec.replace(stem_stride=1), [0, 1], **PAPER)
    with pytest.warns(TimmExportWarning, match="stem stride 1") as record:
        save_family(family, tmp_path)
    assert {"'net-phi0'", "'net-phi1'"} <= {str(w.message).split()[4] for w in record}
    member = json.loads((tmp_path / "family.json").read_text())["members"][1]
    assert member["timm_faithful"] is False and member["timm_differs"][0].startswith("stem stride 1")
    assert load_family(tmp_path).members == family.members
    assert yaml.safe_load((tmp_path / "members" / "net-phi1.yaml").read_text())["timm_faithful"] is False


def test_family_round_trips_through_json_and_yaml(paper_family):
    data = family_to_dict(paper_family)
    for text in (json.dumps(data), yaml.safe_dump(data)):
        back = family_from_dict(yaml.safe_load(text))
        assert back.members == paper_family.members
        assert (back.alpha, back.beta, back.gamma, back.rule) == (1.2, 1.1, 1.15, "compound")


def test_saved_family_members_load_as_specs_and_build(tmp_path, tiny_spec):
    family = make_family(tiny_spec, [0, 1, 2], **PAPER)
    save_family(family, tmp_path)
    assert load_family(tmp_path).members == family.members
    assert load_family(tmp_path / "family.yaml").members == family.members
    spec = load_spec(tmp_path / "members" / "net-phi2.yaml")
    assert spec == family.member(2).spec
    import torch

    model = build_model(spec, num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, spec.resolution, spec.resolution)).shape == (1, 3)


@pytest.mark.parametrize(
    ("phis", "rule", "message"),
    [
        ([7, 1], "compound", "strictly increasing"),
        ([1, 1], "compound", "strictly increasing"),
        ([], "compound", "no phi"),
        ([-17], "compound", "from -16 to 16"),
        ([float("nan")], "compound", "from -16 to 16"),
        ([True], "compound", "from -16 to 16"),
        ([99], "compound", "from -16 to 16"),
        ([0, 8], "official", "B0..B7"),
        ([1.5], "official", "B0..B7"),
        ([-1], "official", "B0..B7"),
    ],
)
def test_bad_phi_lists_are_one_line_errors(phis, rule, message):
    with pytest.raises(EffsearchError, match=message) as info:
        check_phis(phis, rule)
    assert "\n" not in str(info.value)


def test_bad_family_inputs(tiny_spec, tmp_path):
    with pytest.raises(EffsearchError, match="rule"):
        make_family(tiny_spec, [1], rule="magic")
    with pytest.raises(EffsearchError, match="alpha"):
        make_family(tiny_spec, [1], alpha=0.9, beta=1.1, gamma=1.1)
    with pytest.raises(EffsearchError, match="resolution multiple"):
        make_family(tiny_spec, [1], **PAPER, resolution_multiple=0)
    with pytest.raises(EffsearchError, match=r"no family\.json"):
        load_family(tmp_path)
    (tmp_path / "family.json").write_text('{"members": [{"phi": 1}]}')
    with pytest.raises(EffsearchError, match=r"malformed|not a family"):
        load_family(tmp_path)


def test_growth_spreads_gaps_over_phi_steps(tiny_spec):
    family = make_family(tiny_spec, [1, 3], **PAPER)
    ratio = family.members[1].macs / family.members[0].macs
    assert growth(family) == [None, pytest.approx(ratio**0.5)]


def test_real_and_negative_phi_make_members_between_the_whole_steps(tiny_spec):
    assert check_phis([-1.5, 0, 0.5, 2]) == [-1.5, 0, 0.5, 2]
    family = make_family(tiny_spec, [-1, 0, 0.5, 1], alpha=1.2, beta=1.1, gamma=1.15)
    macs = [m.macs for m in family.members]
    assert macs == sorted(macs) and macs[0] < count(tiny_spec).macs < macs[-1]
    assert family.members[0].name.endswith("-phi-1") and family[0.5].phi == 0.5
    assert family[1] is family.member(1) and len(family) == 4
