from __future__ import annotations

import json

import pytest

from effsearch import SpecError, get_preset, load_spec, preset_names, save_spec, spec_from_dict, spec_to_dict


@pytest.mark.parametrize("name", preset_names())
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip_is_lossless(tmp_path, name, suffix):
    spec = get_preset(name)
    path = save_spec(spec, tmp_path / f"spec{suffix}")
    assert load_spec(path) == spec
    assert spec_from_dict(spec_to_dict(spec)) == spec


def test_yaml_holds_block_strings_and_timm(tmp_path):
    text = save_spec(get_preset("efficientnet-b0"), tmp_path / "b0.yaml").read_text()
    assert "r1_k3_s11_e1_i32_o16_se0.25" in text and "ds_r1_k3_s1_e1_c16_se0.25" in text


def test_results_folder_loads_its_baseline(tmp_path):
    save_spec(get_preset("mnasnet-a1"), tmp_path / "baseline.yaml")
    assert load_spec(tmp_path).name == "mnasnet-a1"


def test_corrupt_yaml_is_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("blocks: [r1_k3\n  - : :\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("content", "needle"),
    [({"blocks": []}, "blocks"), ({"blocks": ["r1_k4_s11_e1_i32_o16"]}, "kernel_size 4"),
     ({"blocks": ["r1_k3_s11_e1_i32_o16"], "stem_chs": 0}, "stem_chs"),
     ({"blocks": ["r1_k3_s11_e1_i32_o16"], "colour": "red"}, "colour"), (["r1"], "mapping")],
)
def test_invalid_spec_files_name_the_problem(tmp_path, content, needle):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(content))
    with pytest.raises(SpecError, match=needle):
        load_spec(path)


def test_missing_file_and_unknown_preset():
    with pytest.raises(SpecError, match="does not exist"):
        load_spec("nowhere/spec.yaml")
    with pytest.raises(SpecError, match="unknown preset"):
        load_spec("efficientnet-b9")


def test_a_divisor_other_than_eight_is_written_and_read_back_and_eight_is_not_written(tmp_path):
    b0 = get_preset("efficientnet-b0")
    assert "channel_divisor" not in spec_to_dict(b0)  # files of every earlier network stay as they were
    quarter = b0.replace(channel_divisor=2, name="b0-quarter")
    assert spec_to_dict(quarter)["channel_divisor"] == 2
    assert load_spec(save_spec(quarter, tmp_path / "q.yaml")) == quarter
    with pytest.raises(SpecError, match="channel_divisor"):
        spec_from_dict({**spec_to_dict(b0), "channel_divisor": 0})
