from __future__ import annotations

import random

import pytest
import torch

from effsearch import build_model, get_preset, scale
from effsearch.arch.blocks import DropPath
from tests.randspecs import random_spec


def test_forward_backward_tiny_spec(tiny_spec):
    model = build_model(tiny_spec)
    x = torch.randn(4, 3, 32, 32)
    out = model(x)
    assert out.shape == (4, 5)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("seed", range(12))
def test_random_specs_forward_backward(seed):
    spec = random_spec(random.Random(1000 + seed), max_chs=16).replace(resolution=32)
    model = build_model(spec, num_classes=7)
    out = model(torch.randn(2, spec.in_chans, 32, 32))
    assert out.shape == (2, 7)
    out.mean().backward()


@pytest.mark.parametrize("name", ["efficientnet-b0", "mnasnet-a1"])
def test_tiny_variants_of_presets(name):
    spec = scale(get_preset(name), width=0.25, depth=0.5, resolution=64)
    model = build_model(spec, num_classes=10, in_channels=1)
    out = model(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 10)
    out.sum().backward()


def test_channels_last_gives_same_output(tiny_spec):
    model = build_model(tiny_spec).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(x)
        out = model.to(memory_format=torch.channels_last)(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_stochastic_depth_only_in_train_mode(tiny_spec):
    model = build_model(tiny_spec.replace(drop_connect=0.9, dropout=0.0))
    x = torch.randn(8, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), model(x))
    drops = [m for m in model.modules() if isinstance(m, DropPath)]
    assert drops, "residual blocks with drop_connect > 0 must carry a DropPath"
    model.train()
    torch.manual_seed(0)
    a = model.blocks(model.stem(x))
    torch.manual_seed(1)
    b = model.blocks(model.stem(x))
    assert not torch.equal(a, b)


def test_drop_path_rate_grows_linearly():
    spec = get_preset("efficientnet-b0")
    model = build_model(spec)
    rates = [m.rate for m in model.modules() if isinstance(m, DropPath)]
    assert rates == sorted(rates) and 0 < rates[0] < rates[-1] < spec.drop_connect


def test_drop_path_identity_in_eval():
    layer = DropPath(0.5).eval()
    x = torch.randn(4, 3, 2, 2)
    assert torch.equal(layer(x), x)


def test_residual_and_expansion_structure():
    model = build_model(get_preset("efficientnet-b0"))
    first = model.blocks[0][0]
    assert isinstance(first.conv_pw, torch.nn.Identity)  # e1: no expansion conv
    assert not first.has_residual  # 32 -> 16 channels
    assert model.blocks[1][1].has_residual
    bn = model.stem.bn
    assert (bn.momentum, bn.eps) == (0.01, 1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_runs_on_cuda(tiny_spec):
    model = build_model(tiny_spec).cuda().to(memory_format=torch.channels_last)
    out = model(torch.randn(2, 3, 32, 32, device="cuda").to(memory_format=torch.channels_last))
    assert out.is_cuda and out.shape == (2, 5)
