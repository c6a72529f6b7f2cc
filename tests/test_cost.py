"""The analytic cost model against the built modules: params exactly, MACs against fvcore."""

from __future__ import annotations

import random

import pytest
import torch
from fvcore.nn import FlopCountAnalysis

from effsearch import build_model, count, get_preset
from tests.randspecs import random_spec

N_RANDOM_SPECS = 200


def fvcore_macs(model: torch.nn.Module, in_chans: int, resolution: int) -> int:
    analysis = FlopCountAnalysis(model.eval(), torch.zeros(1, in_chans, resolution, resolution))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return int(analysis.total())


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(N_RANDOM_SPECS))
def test_random_specs_match_built_modules(seed):
    spec = random_spec(random.Random(seed))
    model = build_model(spec)
    cost = count(spec)
    assert cost.params == n_params(model)
    with torch.no_grad():
        reference = fvcore_macs(model, spec.in_chans, spec.resolution)
    assert abs(cost.macs / reference - 1) <= 0.01, (spec, cost.macs, reference)


@pytest.mark.parametrize("name", ["efficientnet-b0", "mnasnet-a1"])
def test_presets_match_fvcore(name):
    spec = get_preset(name)
    model = build_model(spec)
    assert count(spec).params == n_params(model)
    with torch.no_grad():
        assert abs(count(spec).macs / fvcore_macs(model, 3, spec.resolution) - 1) <= 0.01


def test_stage_breakdown_sums_to_total():
    cost = count(get_preset("efficientnet-b3"))
    assert sum(s.params for s in cost.stages) == cost.params
    assert sum(s.macs for s in cost.stages) == cost.macs
    assert [s.name for s in cost.stages][:2] == ["stem", "stage1"]
    assert cost.stages[-1].name == "classifier"


def test_cost_taken_at_requested_resolution():
    b0 = get_preset("efficientnet-b0")
    assert count(b0, resolution=112).macs < count(b0).macs / 3.5
    assert count(b0, resolution=112).params == count(b0).params


def test_count_does_not_import_torch_modules():
    # The cost model is pure arithmetic: it must not build modules (speed and no torch needed).
    import effsearch.arch.cost as cost_module

    assert "torch" not in vars(cost_module)


def _reference_layer_cost(layer, in_size):
    """A layer's cost composed from the readable per-op helpers, as the module docstring states it."""
    from effsearch.arch.cost import ZERO, conv_bn_cost, out_size, se_cost

    size = out_size(in_size, layer.stride)
    se = se_cost(layer.mid_chs, layer.se_chs) if layer.se_chs else ZERO
    if layer.op == "conv":
        return conv_bn_cost(layer.in_chs, layer.out_chs, layer.kernel_size, size) + se
    mid = layer.mid_chs
    expand = conv_bn_cost(layer.in_chs, mid, 1, in_size) if layer.has_expansion else ZERO
    return (expand + conv_bn_cost(mid, mid, layer.kernel_size, size, groups=mid) + se
            + conv_bn_cost(mid, layer.out_chs, 1, size))


@pytest.mark.parametrize("seed", range(50))
def test_the_unrolled_layer_arithmetic_equals_the_per_op_helpers(seed):
    from effsearch.arch.cost import block_cost, layer_cost, out_size

    rng = random.Random(seed)
    spec = random_spec(rng)
    size = out_size(spec.resolution, spec.stem_stride)
    for block in spec.blocks:
        total, layer_size = None, size
        for layer in block.layers():
            assert layer_cost(layer, layer_size) == _reference_layer_cost(layer, layer_size)
            cost = _reference_layer_cost(layer, layer_size)
            total = cost if total is None else total + cost
            layer_size = out_size(layer_size, layer.stride)
        assert block_cost(block, size) == (total, layer_size)
        size = layer_size
