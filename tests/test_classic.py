"""The classic ops and presets: ResNet's basic and bottleneck blocks, MobileNetV1's separable block,
ReLU6, the stem's kernel and max pool, no head conv; against published figures, fvcore and timm."""

from __future__ import annotations

import dataclasses
import os
import random

import pytest
import torch

from effsearch import SpecError, build_model, count, get_preset, parse_block, scale
from effsearch.arch.blockstring import format_block
from effsearch.arch.cost import ZERO, conv_bn_cost, layer_cost, out_size, se_cost
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.arch.specio import spec_from_dict, spec_to_dict
from effsearch.arch.timmcompat import timm_export
from effsearch.engine.adapt import adapt_for_proxy, strides_for_proxy
from tests.test_cost import fvcore_macs, n_params

PUBLISHED = {  # 1000 classes at 224 px: params, MACs (convolutions and the classifier only)
    "resnet-18": (11_689_512, 1.82e9),
    "resnet-50": (25_557_032, 4.09e9),
    "mobilenet-v1": (4_231_976, 569e6),
    "mobilenet-v2": (3_504_872, 300e6),
}
TIMM_NAMES = {"resnet-18": "resnet18", "resnet-50": "resnet50", "mobilenet-v1": "mobilenetv1_100",
              "mobilenet-v2": "mobilenetv2_100"}
CLASSIC_OPS = ("basic", "bottleneck", "sep")


def _norm_and_pool_macs(model: torch.nn.Module, resolution: int) -> int:
    """What the cost model counts beyond convolutions and the classifier: 2 per BN output element, 1 per pooled one."""
    seen = [0]
    hooks = [m.register_forward_hook(lambda mod, i, o: seen.__setitem__(0, seen[0] + 2 * o.numel()))
             for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    hooks.append(model.pool.register_forward_hook(lambda mod, i, o: seen.__setitem__(0, seen[0] + i[0].numel())))
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, resolution, resolution))
    for hook in hooks:
        hook.remove()
    return seen[0]


@pytest.mark.parametrize("name", PUBLISHED)
def test_presets_have_the_published_params_exactly_and_macs_within_half_a_percent(name):
    """Params exactly. The published MACs count convolutions and the classifier; ours add batch norm
    (2 per element) and the global pool, 1-5% more on these networks (within 0.5% only for ResNet-18).
    So the conv + classifier part is compared: our total minus the BN and pool MACs the built
    model's forward pass shows, and the total is checked against fvcore, which counts as we do."""
    spec = get_preset(name)
    params, macs = PUBLISHED[name]
    cost = count(spec)
    model = build_model(spec)
    assert cost.params == n_params(model) == params
    conv_and_fc = cost.macs - _norm_and_pool_macs(model, spec.resolution)
    assert abs(conv_and_fc / macs - 1) <= 0.005, (conv_and_fc, macs)
    assert cost.macs > conv_and_fc
    with torch.no_grad():
        assert cost.macs == fvcore_macs(model, 3, spec.resolution)  # fvcore skips the max pool, as we do


def test_resnet18_total_is_within_half_a_percent_even_with_batch_norm():
    assert abs(count(get_preset("resnet-18")).macs / 1.82e9 - 1) <= 0.005


# --------------------------------------------------------------------------- the ops


def _random_block(rng: random.Random, in_chs: int, op: str | None = None) -> BlockSpec:
    op = op or rng.choice(CLASSIC_OPS)
    out = rng.choice([in_chs, rng.randint(4, 24)])
    return BlockSpec(op=op, repeats=rng.randint(1, 3), kernel_size=rng.choice([1, 3, 5]), stride=rng.choice([1, 2]),
                     exp_ratio=rng.choice([1, 2, 4]) if op == "bottleneck" else 1, in_chs=in_chs, out_chs=out,
                     se_ratio=rng.choice([0, 0.25]) if op == "sep" else 0, skip=rng.random() < 0.7,
                     act=rng.choice(["relu", "relu6", "swish"]))


def _random_spec(rng: random.Random) -> NetSpec:
    stem = rng.randint(4, 16)
    blocks, chs = [], stem
    for _ in range(rng.randint(1, 3)):
        blocks.append(_random_block(rng, chs))
        chs = blocks[-1].out_chs
    return NetSpec(blocks=tuple(blocks), stem_chs=stem, head_chs=rng.choice([0, 32]), resolution=rng.randint(24, 64),
                   num_classes=7, stem_kernel=rng.choice([1, 3, 5, 7]), stem_pool=rng.random() < 0.5,
                   stem_stride=rng.choice([1, 2]), act=rng.choice(["relu", "relu6"]), drop_connect=0.0)


@pytest.mark.parametrize("seed", range(16))
def test_random_classic_specs_cost_what_they_build(seed):
    spec = _random_spec(random.Random(seed))
    model = build_model(spec)
    assert count(spec).params == n_params(model)
    with torch.no_grad():
        assert count(spec).macs == fvcore_macs(model, 3, spec.resolution)
    out = model.train()(torch.randn(2, 3, spec.resolution, spec.resolution))
    assert out.shape == (2, 7)
    out.sum().backward()


def _reference_layer_cost(layer: BlockSpec, in_size: int):
    """A classic layer composed from the readable helpers of effsearch.arch.cost."""
    size, mid, out, k = out_size(in_size, layer.stride), layer.mid_chs, layer.out_chs, layer.kernel_size
    if layer.op == "sep":
        se = se_cost(layer.in_chs, layer.se_chs) if layer.se_chs else ZERO
        return conv_bn_cost(mid, mid, k, size, groups=mid) + se + conv_bn_cost(mid, out, 1, size)
    shortcut = conv_bn_cost(layer.in_chs, out, 1, size) if layer.has_projection else ZERO
    if layer.op == "basic":
        return conv_bn_cost(layer.in_chs, out, k, size) + conv_bn_cost(out, out, k, size) + shortcut
    return (conv_bn_cost(layer.in_chs, mid, 1, in_size) + conv_bn_cost(mid, mid, k, size)
            + conv_bn_cost(mid, out, 1, size) + shortcut)


@pytest.mark.parametrize("seed", range(30))
def test_the_unrolled_arithmetic_equals_the_readable_helpers(seed):
    rng = random.Random(seed)
    block = _random_block(rng, rng.randint(4, 64))
    for size in (7, 8, 56):
        for layer in block.layers():
            assert layer_cost(layer, size) == _reference_layer_cost(layer, size)


def test_block_strings_round_trip_for_every_new_token():
    rng = random.Random(3)
    for _ in range(200):
        block = _random_block(rng, rng.randint(1, 512))
        assert parse_block(format_block(block)) == block
    for text in ("basic_r2_k3_s22_e1_i64_o128_relu", "bottleneck_r3_k3_s11_e4_i64_o256_relu",
                 "sep_r6_k3_s22_e1_i256_o512_se0.25_relu6", "r2_k3_s22_e6_i16_o24_relu6", "sep_r1_k3_s11_e1_i8_o8_noskip"):
        assert format_block(parse_block(text)) == text


def test_widths_and_shortcuts_of_the_new_ops():
    bottleneck = parse_block("bottleneck_r3_k3_s11_e4_i64_o256_relu")
    assert bottleneck.mid_chs == 64 and bottleneck.has_residual and bottleneck.has_projection
    later = list(bottleneck.layers())[1]
    assert later.has_residual and not later.has_projection  # 256 -> 256, stride 1: the identity
    assert not parse_block("bottleneck_r1_k3_s11_e4_i64_o256_noskip").has_residual
    basic = parse_block("basic_r1_k3_s11_e1_i64_o64")
    assert basic.mid_chs == 64 and basic.has_residual and not basic.has_projection
    sep = parse_block("sep_r2_k3_s11_e1_i64_o64")
    assert sep.mid_chs == 64 and not sep.has_residual  # skip (the default) changes nothing: no shortcut ever


@pytest.mark.parametrize(
    ("make", "needle"),
    [(lambda: parse_block("sep_r1_k3_s11_e6_i32_o64"), "exp_ratio 6 is invalid (op sep has no expansion; use 1)"),
     (lambda: parse_block("basic_r1_k3_s11_e4_i32_o64"), "exp_ratio 4 is invalid (op basic has no expansion; use 1)"),
     (lambda: parse_block("basic_r1_k3_s11_e1_i32_o64_se0.25"), "se_ratio 0.25 is invalid (op basic has no squeeze"),
     (lambda: parse_block("bottleneck_r1_k3_s11_e4_i32_o2"), "out_chs 2 is invalid (a bottleneck's inner width"),
     (lambda: NetSpec(blocks=(parse_block("r1_k3_s11_e1_i32_o16"),), stem_kernel=4), "stem_kernel 4 is invalid"),
     (lambda: NetSpec(blocks=(parse_block("r1_k3_s11_e1_i32_o16"),), stem_pool="yes"), "stem_pool 'yes' is invalid"),
     (lambda: NetSpec(blocks=(parse_block("r1_k3_s11_e1_i32_o16"),), head_chs=-1), "head_chs -1 is invalid"),
     (lambda: parse_block("r1_k3_s11_e1_i32_o16_relu7"), "unknown token 'relu7'")],
)
def test_what_cannot_be_built_is_one_line(make, needle):
    with pytest.raises(SpecError) as info:
        make()
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_resnet_blocks_match_torchvision_structure_and_zero_init():
    model = build_model(get_preset("resnet-50"))
    first = model.blocks[0][0]
    assert isinstance(model.stem_pool, torch.nn.MaxPool2d) and model.stem.conv.kernel_size == (7, 7)
    assert first.downsample.conv.stride == (1, 1) and model.blocks[1][0].downsample.conv.stride == (2, 2)
    assert model.blocks[1][0].conv2.conv.stride == (2, 2) and model.blocks[1][0].conv1.conv.stride == (1, 1)  # v1.5
    assert isinstance(model.conv_head, torch.nn.Identity) and model.classifier.in_features == 2048
    assert model.zero_init_residual() == 16  # torchvision's zero_init_residual: the last BN of every block
    assert all(not stage[i].conv3.bn.weight.detach().any() for stage in model.blocks for i in range(len(stage)))
    assert build_model(get_preset("resnet-18")).zero_init_residual() == 8
    assert build_model(get_preset("mobilenet-v1")).zero_init_residual() == 0


def test_stochastic_depth_drops_the_residual_branch_of_resnet_blocks():
    from effsearch.arch.blocks import DropPath

    spec = get_preset("resnet-18").replace(drop_connect=0.2)
    drops = [m for m in build_model(spec).modules() if isinstance(m, DropPath)]
    assert len(drops) == 7 and drops[-1].rate > drops[0].rate  # every block but the first (rate 0)
    noskip = spec.replace(blocks=tuple(dataclasses.replace(b, skip=False) for b in spec.blocks))
    model = build_model(noskip)
    assert not any(isinstance(m, DropPath) for m in model.modules()) and count(noskip).params < count(spec).params
    assert count(noskip).params == n_params(model)


# --------------------------------------------------------------------------- scaling, adaptation, files


def test_scaling_keeps_the_stem_the_pool_and_no_head():
    spec = scale(get_preset("resnet-50"), width=1.1, depth=1.5, resolution=256)
    assert (spec.stem_kernel, spec.stem_pool, spec.head_chs) == (7, True, 0)
    assert [b.repeats for b in spec.blocks] == [5, 6, 9, 5] and spec.blocks[-1].out_chs == 2256
    assert spec.blocks[-1].mid_chs == 564  # the inner width follows the output (out / e)
    assert count(spec).params == n_params(build_model(spec))
    small = scale(get_preset("resnet-18"), width=0.25, depth=0.1)
    assert [b.repeats for b in small.blocks] == [1, 1, 1, 1] and count(small).params == n_params(build_model(small))


def test_adaptation_drops_the_stem_pool_after_the_stem_stride():
    spec = get_preset("resnet-18")
    assert strides_for_proxy(spec, 224) == [2, 2, 1, 2, 2, 2]
    assert strides_for_proxy(spec, 32) == [1, 2, 1, 2, 2, 2]  # stem stride first
    assert strides_for_proxy(spec, 16) == [1, 1, 1, 2, 2, 2]  # then the pool
    assert strides_for_proxy(spec, 8) == [1, 1, 1, 1, 2, 2]  # then the stages
    kept, dropped = adapt_for_proxy(spec, 32), adapt_for_proxy(spec, 16)
    assert (kept.stem_stride, kept.stem_pool, dropped.stem_stride, dropped.stem_pool) == (1, True, 1, False)
    assert [b.stride for b in dropped.blocks] == [1, 2, 2, 2]
    assert adapt_for_proxy(spec, 224) == spec


def test_a_fixed_drop_repeats_the_baselines_pattern_at_any_side():
    from effsearch.engine.adapt import dropped_strides

    spec = get_preset("resnet-18")
    assert [dropped_strides(spec, side) for side in (224, 64, 32, 16, 8)] == [0, 0, 1, 2, 3]
    for side in (224, 57, 32, 16, 8):
        assert strides_for_proxy(spec, side, drop=dropped_strides(spec, side)) == strides_for_proxy(spec, side)
    assert strides_for_proxy(spec, 57, drop=1) == [1, 2, 1, 2, 2, 2]  # the rule alone would drop nothing at 57 px
    assert strides_for_proxy(spec, 224, drop=0) == [2, 2, 1, 2, 2, 2] and strides_for_proxy(spec, 8, drop=99) == [1] * 6
    assert adapt_for_proxy(spec, 57, drop=2).stem_pool is False


def test_files_of_networks_without_the_new_fields_are_unchanged_and_old_files_load():
    b0 = get_preset("efficientnet-b0")
    data = spec_to_dict(b0)
    assert "stem_kernel" not in data and "stem_pool" not in data  # resume records and files as before
    assert spec_from_dict(data) == b0
    r50 = get_preset("resnet-50")
    data = spec_to_dict(r50)
    assert (data["stem_kernel"], data["stem_pool"], data["head_chs"]) == (7, True, 0)
    assert spec_from_dict(data) == r50


# --------------------------------------------------------------------------- timm


@pytest.fixture(scope="module")
def timm():
    from tests.timm_stub import PINNED, import_timm

    module = import_timm()
    if module is None:
        if os.environ.get("CI"):
            pytest.fail(f"timm is not installed (make test installs {PINNED})")
        pytest.skip(f"timm is not installed (make test installs {PINNED} with --no-deps)")
    return module


def _randomise_bn(model: torch.nn.Module, eps: float) -> None:
    gen = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = eps  # timm's 1e-5 against ours 1e-3: the layouts are compared, not the settings
            m.weight.data = torch.rand(m.weight.shape, generator=gen) + 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=gen) * 0.1
            m.running_mean = torch.randn(m.running_mean.shape, generator=gen) * 0.1
            m.running_var = torch.rand(m.running_var.shape, generator=gen) + 0.5


@pytest.mark.parametrize("name", PUBLISHED)
def test_timms_own_models_load_into_ours_in_order_and_agree(name, timm):
    """timm's resnet18/resnet50/mobilenetv1_100/mobilenetv2_100: the same parameter count, the same
    tensor shapes in order, and, with timm's weights zipped into ours, the same outputs. timm's
    MobileNetV1 uses ReLU6 where ours (as the paper) uses ReLU, so that one is compared with ReLU6."""
    spec = get_preset(name)
    if name == "mobilenet-v1":
        blocks = tuple(parse_block(format_block(b).replace("_relu", "_relu6")) for b in spec.blocks)
        spec = spec.replace(blocks=blocks, act="relu6")
    theirs = timm.create_model(TIMM_NAMES[name], pretrained=False).eval()
    ours = build_model(spec).eval()
    assert n_params(theirs) == n_params(ours) == count(spec).params
    theirs_state = theirs.state_dict()
    assert [tuple(v.shape) for v in ours.state_dict().values()] == [tuple(v.shape) for v in theirs_state.values()]
    _randomise_bn(theirs, 1e-3)
    ours.load_state_dict(dict(zip(ours.state_dict(), theirs.state_dict().values(), strict=True)), strict=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 4  # large enough for ReLU6 to clip
    with torch.no_grad():
        a, b = ours(x), theirs(x)
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * float(b.abs().max()))


def test_timm_export_of_separable_and_relu6_blocks_rebuilds_them(timm):
    from effsearch.arch.timmcompat import build_timm, timm_state_dict

    spec = NetSpec(blocks=(parse_block("sep_r2_k3_s22_e1_i16_o24_se0.25_relu6"), parse_block("r2_k5_s11_e6_i24_o24_relu6"),
                           parse_block("sep_r1_k3_s11_e1_i24_o24_noskip_swish")),
                   stem_chs=16, head_chs=0, stem_kernel=5, num_classes=10, resolution=32, act="relu")
    export = timm_export(spec)
    assert export.arch_def == [["dsa_r2_k3_s2_c24_se0.25_nr6"], ["ir_r2_k5_s1_e6_c24_nr6"], ["dsa_r1_k3_s1_c24_nsw"]]
    assert export.faithful and export.kwargs["stem_kernel_size"] == 5 and export.kwargs["num_features"] == 0
    ours, theirs = build_model(spec).eval(), build_timm(spec).eval()
    _randomise_bn(ours, 1e-3)
    theirs.load_state_dict(timm_state_dict(ours.state_dict()), strict=True)
    x = torch.randn(2, 3, 32, 32) * 4
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)
    pooled = spec.replace(stem_pool=True)
    assert not timm_export(pooled).faithful and timm_export(pooled).buildable


def test_resnet_exports_say_timm_has_no_form():
    export = timm_export(get_preset("resnet-18"))
    assert not export.buildable
    assert export.differs[:4] == tuple(f"block {i}: basic has no timm form" for i in range(1, 5))


def test_the_timm_verdict_holds_for_random_separable_and_relu6_networks(timm):
    from tests.test_timm_builder import _check

    rng, outcomes = random.Random(5), []
    for i in range(12):
        stem = rng.randint(3, 20)
        blocks, chs = [], stem
        for _ in range(rng.randint(1, 3)):
            op = rng.choice(["sep", "sep", "mbconv"])
            out = rng.choice([chs, rng.randint(3, 20)])
            blocks.append(BlockSpec(op=op, repeats=rng.randint(1, 2), kernel_size=rng.choice([3, 5]),
                                    stride=rng.choice([1, 2]), exp_ratio=rng.choice([1, 4]) if op == "mbconv" else 1,
                                    in_chs=chs, out_chs=out, se_ratio=rng.choice([0, 0.25, 0.5]), skip=rng.random() < 0.7,
                                    act=rng.choice(["relu", "relu6", "swish"])))
            chs = out
        spec = NetSpec(blocks=tuple(blocks), stem_chs=stem, head_chs=rng.choice([0, 24]), num_classes=10,
                       resolution=32, act=rng.choice(["relu", "relu6"]), stem_kernel=rng.choice([3, 5]))
        outcomes.append(_check(spec, i))
    assert "faithful" in outcomes, outcomes
