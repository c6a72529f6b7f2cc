"""The timm export against timm itself: the verdict is never wrong in either direction.

For random specs of every shipped search space, random specs of every op, width and skip, and the
presets, timm's real EfficientNet is built from ``timm_kwargs(spec)``. Where the verdict says faithful,
it has our parameter shapes in order and, loaded with our weights, our eval-mode outputs; where it says
not faithful, the shapes or the outputs really differ (or timm cannot express the network at all).
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import pytest
import torch

from effsearch import build_model, get_preset, load_space, preset_names, save_spec, spec_from_dict
from effsearch.arch import blocks
from effsearch.arch.blockstring import parse_block
from effsearch.arch.ops import timm_divisible
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import read_structured
from effsearch.arch.timmcompat import (
    BN_EPS,
    BN_MOMENTUM,
    TimmExportWarning,
    build_timm,
    timm_export,
    timm_kwargs,
    timm_names,
    timm_state_dict,
    to_timm_state_dict,
)
from effsearch.errors import SpecError
from tests.randspecs import random_spec
from tests.timm_stub import PINNED, import_timm

SPACES = sorted(p.stem for p in (Path(__file__).parent.parent / "effsearch" / "search_spaces").glob("*.yaml"))
RESOLUTION = 32


@pytest.fixture(scope="module", autouse=True)
def timm():
    module = import_timm()
    if module is None:
        message = f"timm is not installed (make test installs {PINNED} with --no-deps)"
        if os.environ.get("CI"):  # CI runs make test, which installs it: its absence is a failure there
            pytest.fail(message)
        pytest.skip(message)
    return module


def _randomise(model: torch.nn.Module, seed: int) -> None:
    # Fresh batch norms are the identity up to eps; random statistics make every difference show.
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data = torch.rand(m.weight.shape, generator=gen) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.1
            m.running_mean = torch.randn(m.running_mean.shape, generator=gen) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=gen) + 0.5


def _timm_rebuilds(spec: NetSpec, seed: int = 0) -> bool:
    """Whether timm's network from the export is ours: same parameter shapes in order, same outputs."""
    ours = build_model(spec).eval()
    _randomise(ours, seed)
    theirs = build_timm(spec).eval()
    shapes = [tuple(v.shape) for v in ours.state_dict().values()]
    if shapes != [tuple(v.shape) for v in theirs.state_dict().values()]:
        return False
    # Our own renaming (no timm needed, used by 'effsearch export') gives timm's names exactly.
    assert timm_names(list(ours.state_dict())) == list(theirs.state_dict())
    theirs.load_state_dict(timm_state_dict(ours.state_dict()), strict=True)
    x = torch.randn(1, spec.in_chans, RESOLUTION, RESOLUTION, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    scale = a.abs().max().item()
    assert scale > 1e-6, "outputs too small to tell networks apart"
    return (a - b).abs().max().item() <= 1e-5 * max(1.0, scale)


def _check(spec: NetSpec, seed: int = 0) -> str:
    """Assert the verdict against timm; returns faithful | differs | inexpressible."""
    export = timm_export(spec)
    if not export.buildable:
        assert not export.faithful
        assert any(stage[0] is None for stage in export.arch_def) or "0 channels" in export.differs[0]
        with pytest.raises(SpecError, match="cannot be built by timm"):
            timm_kwargs(spec)
        return "inexpressible"
    same = _timm_rebuilds(spec.replace(dropout=0.0, drop_connect=0.0), seed)
    assert export.faithful == same, (export.arch_def, export.differs, "timm rebuilds it" if same else "timm differs")
    return "faithful" if same else "differs"


def _space_specs(name: str, n: int, seed: int = 0):
    space, rng = load_space(name), random.Random(seed)
    for _ in range(n):
        yield space.to_spec({key: rng.choice(values) for key, values in space.decisions}).replace(num_classes=10)


@pytest.mark.parametrize("name", SPACES)
def test_verdict_holds_for_random_specs_of_every_space(name):
    outcomes = [_check(spec, seed) for seed, spec in enumerate(_space_specs(name, 8))]
    # Widths are multiples of 8 and expansions whole, so only conv with SE (no timm form) is ever lost.
    assert "faithful" in outcomes and "differs" not in outcomes, outcomes


RESNETS = ("resnet-18", "resnet-50")


@pytest.mark.parametrize("name", [n for n in preset_names() if n not in RESNETS])
def test_presets_are_faithful(name):
    spec = get_preset(name).replace(num_classes=10)
    assert timm_export(spec).faithful
    assert _check(spec) == "faithful"


@pytest.mark.parametrize("name", RESNETS)
def test_resnets_have_no_timm_form(name):
    # timm's EfficientNet builder has no ResNet block (timm's ResNet is another model class; tests/test_classic.py)
    spec = get_preset(name).replace(num_classes=10)
    export = timm_export(spec)
    assert not export.buildable and export.arch_def == [[None]] * 4
    assert export.differs[0].endswith("has no timm form") and "stem max pool, timm's EfficientNet has none" in export.differs
    assert _check(spec) == "inexpressible"


def test_verdict_holds_for_random_specs_of_every_op_and_width():
    rng, outcomes = random.Random(7), []
    for i in range(24):
        spec = random_spec(rng, max_chs=24)
        outcomes.append(_check(spec.replace(stem_stride=2) if i % 3 else spec, i))
    # Every outcome occurs: rebuilt exactly, built but different, and not buildable at all.
    assert {"faithful", "differs", "inexpressible"} <= set(outcomes), outcomes


def _spec(*blocks: str, stem: int = 16, stem_stride: int = 2) -> NetSpec:
    return NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=stem, head_chs=32, num_classes=10,
                   stem_stride=stem_stride, resolution=RESOLUTION)


@pytest.mark.parametrize(
    ("blocks", "stem_stride", "reason"),
    [(("conv_r1_k3_s11_e1_i16_o16_se0.25",), 2, "block 1: conv with SE has no timm form"),
     (("r1_k3_s11_e1_i16_o16",), 1, "stem stride 1, timm's stem always strides by 2"),
     (("r1_k3_s11_e1_i16_o20", "r1_k3_s11_e3_i20_o24"), 2, "block 2: inner width 60, timm builds 64"),
     (("r2_k3_s11_e3_i16_o12",), 2, "block 1 layer 2: inner width 36, timm builds 40")],
)
def test_reasons_name_the_block_and_what_timm_builds(blocks, stem_stride, reason):
    assert reason in timm_export(_spec(*blocks, stem_stride=stem_stride)).differs


def test_a_zero_channel_se_is_reported_as_unbuildable_and_really_is():
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.efficientnet import EfficientNet

    # Layer 2: in 1, e4.5: our inner width 4 with a 1-channel SE; timm's 8 with round(8 x 0.25 / 4.5) = 0.
    spec = _spec("r2_k3_s11_e4.5_i16_o1_se0.25")
    export = timm_export(spec)
    assert not export.buildable and "0 channels" in export.differs[0]
    assert _check(spec) == "inexpressible"
    kwargs = {**timm_kwargs(spec.replace(blocks=(parse_block("r2_k3_s11_e4.5_i16_o1"),))),
              "block_args": decode_arch_def(export.arch_def)}
    with warnings.catch_warnings(), pytest.raises(ZeroDivisionError):
        warnings.simplefilter("ignore", UserWarning)  # torch: "Initializing zero-element tensors is a no-op"
        EfficientNet(**kwargs)


def test_se_ratio_is_chosen_so_timm_rounds_to_our_width():
    # A 14-channel ds layer: int(14 x 0.25) = 3 here, round(3.5) = 4 in timm; se0.2 gives 3 in both.
    spec = _spec("ds_r1_k3_s11_e1_i14_o14_se0.25", stem=14)
    export = timm_export(spec)
    assert export.arch_def == [["ds_r1_k3_s1_e1_c14_se0.2"]] and export.faithful
    assert _check(spec) == "faithful"


def test_plain_conv_keeps_its_shortcut_in_timm():
    spec = _spec("conv_r2_k3_s11_e1_i16_o16", "conv_r1_k3_s22_e1_i16_o16_noskip")
    assert timm_export(spec).arch_def == [["cn_r2_k3_s1_c16_skip"], ["cn_r1_k3_s2_c16_noskip"]]
    assert _check(spec) == "faithful"
    # Without 'skip' timm's cn has no shortcut: that really is another network.
    assert not _timm_rebuilds_with(spec, [["cn_r2_k3_s1_c16"], ["cn_r1_k3_s2_c16_noskip"]])


def _timm_rebuilds_with(spec: NetSpec, arch_def: list[list[str]]) -> bool:
    from timm.models._efficientnet_builder import decode_arch_def
    from timm.models.efficientnet import EfficientNet

    ours = build_model(spec).eval()
    _randomise(ours, 1)
    theirs = EfficientNet(**{**timm_kwargs(spec), "block_args": decode_arch_def(arch_def)}).eval()
    theirs.load_state_dict(to_timm_state_dict(ours.state_dict(), theirs), strict=True)
    x = torch.randn(1, spec.in_chans, RESOLUTION, RESOLUTION)
    with torch.no_grad():
        return torch.allclose(ours(x), theirs(x), atol=1e-5, rtol=1e-5)


def test_deep_networks_keep_their_strides_instead_of_dilation():
    spec = _spec(*(f"r1_k3_s22_e1_i{c}_o{c}" for c in [16] * 6))  # total stride 128, timm's default stops at 32
    assert timm_export(spec).kwargs["output_stride"] == 128
    assert RESOLUTION < 128 and _check(spec) == "faithful"


def test_mirrored_rounding_and_settings_match_timm_and_our_modules():
    from timm.layers import make_divisible

    assert all(timm_divisible(v / 4) == make_divisible(v / 4) for v in range(1, 4000))
    assert (BN_EPS, BN_MOMENTUM) == (blocks.BN_EPS, blocks.BN_MOMENTUM)


def test_state_dict_mapping_refuses_another_network():
    spec = _spec("r1_k3_s11_e1_i16_o20", "r1_k3_s11_e3_i20_o24")
    with pytest.raises(SpecError, match="does not fit"):
        to_timm_state_dict(build_model(spec).state_dict(), build_timm(spec))


def test_spec_files_record_the_verdict_warn_and_load_back(tmp_path):
    lossy = _spec("conv_r1_k3_s11_e1_i16_o16_se0.25", stem_stride=1).replace(name="lossy")
    with pytest.warns(TimmExportWarning, match=r"'lossy'.*block 1: conv with SE has no timm form"):
        path = save_spec(lossy, tmp_path / "lossy.yaml")
    data = read_structured(path)
    assert data["timm_faithful"] is False and data["timm_arch_def"] == [[None]]
    assert data["timm_differs"] == ["block 1: conv with SE has no timm form", "stem stride 1, timm's stem always strides by 2"]
    assert spec_from_dict(data) == lossy
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimmExportWarning)
        data = read_structured(save_spec(get_preset("efficientnet-b0"), tmp_path / "b0.json"))
    assert data["timm_faithful"] is True and data["timm_differs"] == []
