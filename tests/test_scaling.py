from __future__ import annotations

import pytest

from effsearch import SpecError, count, get_preset, round_channels, round_repeats, round_resolution, scale
from effsearch.arch.presets import EFFICIENTNET_TABLE
from effsearch.arch.scaling import compound_scale, flops_ratio

# DESIGN.md reference table: timm's models, params and fvcore MACs at their own resolution.
REFERENCE = {
    "efficientnet-b0": (5_288_548, 0.399e9),
    "efficientnet-b1": (7.794e6, 0.709e9),
    "efficientnet-b2": (9.110e6, 1.021e9),
    "efficientnet-b3": (12.233e6, 1.875e9),
    "efficientnet-b4": (19.342e6, 4.493e9),
    "efficientnet-b5": (30.390e6, 10.464e9),
    "efficientnet-b6": (43.041e6, 19.403e9),
    "efficientnet-b7": (66.348e6, 38.327e9),
}


@pytest.mark.parametrize("name", list(REFERENCE))
def test_presets_reproduce_reference_table(name):
    params, macs = REFERENCE[name]
    cost = count(get_preset(name))
    assert abs(cost.params / params - 1) <= 0.005
    assert abs(cost.macs / macs - 1) <= 0.03
    assert cost.resolution == EFFICIENTNET_TABLE[name][2]


def test_b0_params_exact():
    assert count(get_preset("efficientnet-b0")).params == 5_288_548


def test_mnasnet_a1_about_paper_numbers():
    cost = count(get_preset("mnasnet-a1"))
    assert abs(cost.params / 3.9e6 - 1) < 0.01
    # 0.31B in the paper counts convolutions only; our count adds fvcore's batch-norm terms (~4%).
    assert 0.30e9 < cost.macs < 0.33e9


@pytest.mark.parametrize(
    ("chs", "mult", "expected"),
    [(32, 1.0, 32), (32, 1.1, 32), (16, 1.1, 16), (40, 1.1, 48), (320, 1.1, 352), (1280, 1.1, 1408),
     (24, 1.2, 32), (32, 2.0, 64), (3, 1.0, 8), (44, 1.0, 48), (100, 0.75, 72)],
)
def test_round_channels_official_rule(chs, mult, expected):
    assert round_channels(chs, mult) == expected


def test_round_channels_never_below_ninety_percent():
    for chs in range(1, 400):
        for mult in (0.5, 0.75, 1.0, 1.1, 1.23, 1.8, 2.0):
            rounded = round_channels(chs, mult)
            assert rounded % 8 == 0 and rounded >= 0.9 * chs * mult


@pytest.mark.parametrize(("r", "d", "expected"), [(1, 1.1, 2), (2, 1.1, 3), (3, 1.4, 5), (4, 3.1, 13), (1, 1.0, 1), (10, 1.1, 11)])
def test_round_repeats_ceil(r, d, expected):
    assert round_repeats(r, d) == expected


def test_round_resolution_to_multiple():
    assert round_resolution(257.6, 8) == 256
    assert round_resolution(257.6, 4) == 256
    assert round_resolution(262.1, 4) == 264
    assert round_resolution(3, 8) == 8
    with pytest.raises(SpecError):
        round_resolution(224, 0)


def test_scale_touches_stem_head_and_every_stage():
    b0 = get_preset("efficientnet-b0")
    b4 = scale(b0, width=1.4, depth=1.8, resolution=380)
    assert (b4.stem_chs, b4.head_chs, b4.resolution) == (48, 1792, 380)
    assert [b.repeats for b in b4.blocks] == [2, 4, 4, 6, 6, 8, 2]
    assert [b.out_chs for b in b4.blocks] == [24, 32, 56, 112, 160, 272, 448]


def test_compound_scale_follows_coefficients():
    b0 = get_preset("efficientnet-b0")
    m = compound_scale(b0, alpha=1.2, beta=1.1, gamma=1.15, phi=2, resolution_multiple=8)
    assert m.resolution == round_resolution(224 * 1.15**2, 8)
    assert m.head_chs == round_channels(1280, 1.1**2)
    assert abs(flops_ratio(1.2, 1.1, 1.15) - 1.92) < 0.01


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_scale_rejects_bad_multipliers(bad):
    with pytest.raises(SpecError, match="multiplier"):
        scale(get_preset("efficientnet-b0"), width=bad)


def test_a_stand_in_keeps_the_divisor_it_was_narrowed_with():
    b0 = get_preset("efficientnet-b0")
    assert b0.channel_divisor == 8
    quarter = scale(b0, width=0.25, divisor=2)
    assert quarter.channel_divisor == 2
    assert [b.out_chs for b in quarter.blocks] == [4, 6, 10, 20, 28, 48, 80]
    # Scaled again without a divisor it rounds to its own 2, not the published 8: 4 x 1.1 stays
    # near 4, where 8's rule would have made every 4- and 6-channel stage 8.
    grown = scale(quarter, width=1.1)
    assert grown.channel_divisor == 2
    assert [b.out_chs for b in grown.blocks][:3] == [4, 6, 12]
    assert [b.out_chs for b in scale(quarter, width=1.1, divisor=8).blocks][:3] == [8, 8, 16]


@pytest.mark.parametrize("bad", [0, -2, 2.5, True])
def test_scale_rejects_a_bad_divisor(bad):
    with pytest.raises(SpecError, match="channel divisor"):
        scale(get_preset("efficientnet-b0"), width=0.5, divisor=bad)
