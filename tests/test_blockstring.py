from __future__ import annotations

import random

import pytest

from effsearch import SpecError, format_block, parse_block, timm_arch_def
from effsearch.arch.ops import op_names
from effsearch.arch.presets import B0_BLOCKS, MNASNET_A1_BLOCKS, get_preset
from effsearch.arch.spec import ACTS, BlockSpec, NetSpec


@pytest.mark.parametrize("text", B0_BLOCKS + MNASNET_A1_BLOCKS)
def test_official_strings_round_trip(text):
    assert format_block(parse_block(text)) == text


def test_parse_official_fields():
    b = parse_block("r2_k5_s22_e6_i24_o40_se0.25")
    assert (b.op, b.repeats, b.kernel_size, b.stride, b.exp_ratio, b.in_chs, b.out_chs, b.se_ratio, b.skip) == (
        "mbconv", 2, 5, 2, 6, 24, 40, 0.25, True)
    assert parse_block("r1_k3_s11_e1_i32_o16_noskip").skip is False
    assert parse_block("r1_k3_s2_e6_i16_o24").stride == 2  # timm-style single-digit stride


def _random_block(rng: random.Random) -> BlockSpec:
    op = rng.choice(op_names()[:3])
    return BlockSpec(
        op=op, repeats=rng.randint(1, 6), kernel_size=rng.choice([1, 3, 5, 7]), stride=rng.choice([1, 2]),
        exp_ratio=rng.choice([1, 2, 3, 4.5, 6]) if op == "mbconv" else 1, in_chs=rng.randint(1, 512),
        out_chs=rng.randint(1, 512), se_ratio=rng.choice([0, 0.125, 0.25, 0.5]), skip=rng.random() < 0.5,
        act=rng.choice(ACTS),
    )


def test_random_blocks_round_trip():
    rng = random.Random(0)
    for _ in range(500):
        block = _random_block(rng)
        assert parse_block(format_block(block)) == block


@pytest.mark.parametrize(
    ("text", "field"),
    [("r1_k4_s11_e1_i32_o16", "kernel_size 4"), ("r1_k3_s33_e1_i32_o16", "stride 3"),
     ("r1_k3_s11_e1_i32_o16_se1.5", "se_ratio 1.5"), ("r1_k3_s11_e1_i0_o16", "in_chs 0"),
     ("r1_k3_s12_e1_i32_o16", "stride"), ("r1_k3_s11_e1_i32", "out_chs"), ("r1_k3_s11_x9_i32_o16", "'x9'"),
     ("r1_k3_s11_e1_i3.5_o16", "in_chs"), ("", "empty")],
)
def test_malformed_strings_name_the_field(text, field):
    with pytest.raises(SpecError) as info:
        parse_block(text)
    assert field in str(info.value) and "\n" not in str(info.value)


def test_timm_arch_def_for_b0_matches_timm():
    # timm's efficientnet_b0 arch_def, as published in its source.
    expected = [
        ["ds_r1_k3_s1_e1_c16_se0.25"], ["ir_r2_k3_s2_e6_c24_se0.25"], ["ir_r2_k5_s2_e6_c40_se0.25"],
        ["ir_r3_k3_s2_e6_c80_se0.25"], ["ir_r3_k5_s1_e6_c112_se0.25"], ["ir_r4_k5_s2_e6_c192_se0.25"],
        ["ir_r1_k3_s1_e6_c320_se0.25"],
    ]
    assert timm_arch_def(get_preset("efficientnet-b0")) == expected


def test_timm_arch_def_for_mnasnet_a1_matches_timm():
    expected = [
        ["ds_r1_k3_s1_e1_c16_noskip"], ["ir_r2_k3_s2_e6_c24"], ["ir_r3_k5_s2_e3_c40_se0.25"], ["ir_r4_k3_s2_e6_c80"],
        ["ir_r2_k3_s1_e6_c112_se0.25"], ["ir_r3_k5_s2_e6_c160_se0.25"], ["ir_r1_k3_s1_e6_c320"],
    ]
    assert timm_arch_def(get_preset("mnasnet-a1")) == expected


def test_timm_strings_of_plain_conv_and_odd_se_widths():
    def spec(*blocks, stem=16):
        return NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=stem)

    # timm's cn has no SE (no timm form) and keeps a shortcut only when told 'skip'.
    assert timm_arch_def(spec("conv_r2_k3_s11_e1_i16_o16", "conv_r1_k5_s22_e1_i16_o24_se0.25_relu")) == [
        ["cn_r2_k3_s1_c16_skip"], [None]]
    # timm rounds SE widths from its inner width with round(); ours is int(in x se). 14 x 0.25: 3 here,
    # round(3.5) = 4 there, so the export writes the shortest ratio that gives timm 3 as well.
    assert timm_arch_def(spec("ds_r1_k3_s11_e1_i14_o14_se0.25", stem=14)) == [["ds_r1_k3_s1_e1_c14_se0.2"]]
    # Where no ratio fits every layer (or timm's inner width differs anyway) ours is written as is.
    assert timm_arch_def(spec("r2_k3_s11_e3_i16_o20_se0.25")) == [["ir_r2_k3_s1_e3_c20_se0.25"]]
