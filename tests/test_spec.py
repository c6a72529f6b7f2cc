from __future__ import annotations

import dataclasses

import pytest

from effsearch import BlockSpec, NetSpec, SpecError, parse_block


@pytest.mark.parametrize(
    ("field", "value"),
    [("kernel_size", 4), ("stride", 3), ("se_ratio", 1.5), ("in_chs", 0), ("out_chs", 0), ("repeats", 0),
     ("op", "fused"), ("act", "gelu"), ("exp_ratio", 0)],
)
def test_invalid_block_names_field_and_value(field, value):
    with pytest.raises(SpecError) as info:
        BlockSpec(**{field: value})
    message = str(info.value)
    assert field in message and repr(value) in message
    assert "\n" not in message


def test_ds_rejects_expansion():
    with pytest.raises(SpecError, match="exp_ratio"):
        BlockSpec(op="ds", exp_ratio=6)


def test_netspec_checks_channel_chain():
    a, b = parse_block("r1_k3_s11_e1_i32_o16"), parse_block("r1_k3_s22_e6_i24_o24")
    with pytest.raises(SpecError, match=r"blocks\[1\]\.in_chs 24 .*expected 16"):
        NetSpec(blocks=(a, b))


def test_netspec_checks_stem_matches_first_block():
    with pytest.raises(SpecError, match=r"blocks\[0\]\.in_chs"):
        NetSpec(blocks=(parse_block("r1_k3_s11_e1_i32_o16"),), stem_chs=16)


@pytest.mark.parametrize(("field", "value"), [("resolution", 0), ("dropout", 1.0), ("num_classes", 0), ("act", "tanh")])
def test_invalid_netspec_fields(field, value, tiny_spec):
    with pytest.raises(SpecError, match=field):
        dataclasses.replace(tiny_spec, **{field: value})


def test_layers_expand_repeats():
    block = parse_block("r3_k5_s22_e6_i16_o24_se0.25")
    layers = list(block.layers())
    assert [(x.stride, x.in_chs, x.out_chs, x.repeats) for x in layers] == [(2, 16, 24, 1), (1, 24, 24, 1), (1, 24, 24, 1)]
    assert not layers[0].has_residual and layers[1].has_residual


def test_se_reduces_from_block_input_channels():
    block = parse_block("r1_k3_s22_e6_i40_o80_se0.25")
    assert block.mid_chs == 240 and block.se_chs == 10


def test_specs_are_frozen_and_hashable(tiny_spec):
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_spec.resolution = 64
    assert hash(tiny_spec.blocks[0]) == hash(parse_block("r1_k3_s11_e1_i8_o8_se0.25"))
