"""Proxy training: real (tiny) training on the bundled digits, never mocked."""

from __future__ import annotations

import dataclasses
import itertools
import math

import pytest
import torch
from torch import nn

from effsearch import count, get_preset, parse_block
from effsearch.arch.spec import NetSpec
from effsearch.data import load_dataset
from effsearch.engine.kernels.conv import (
    FastDepthwiseConv2d,
    FastPointwiseConv2d,
    cropped_kernel,
)
from effsearch.errors import EffsearchError
from effsearch.proxy import (
    ConfigError,
    ProxyConfig,
    adapt_for_proxy,
    lr_factor,
    strides_for_proxy,
    thread_scope,
    train_and_evaluate,
)

CONTRACT_KEYS = {
    "status", "reason", "accuracy", "loss", "train_seconds", "images_per_s", "epochs", "steps",
    "proxy_resolution", "proxy_params", "proxy_macs", "device",
}


def tiny_spec(**changes: object) -> NetSpec:
    blocks = ("r1_k3_s11_e1_i8_o8_se0.25", "r1_k5_s22_e3_i8_o16", "r2_k3_s22_e3_i16_o24_se0.25")
    spec = NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=8, head_chs=32, resolution=64, name="tiny")
    return spec.replace(**changes)


@pytest.fixture(scope="module")
def data():
    return load_dataset("digits", seed=0).subset(train=320, val=120, seed=0)


FAST = {"resolution": 8, "threads": 1, "batch_size": 32}


# --------------------------------------------------------------------------- adaptation


@pytest.mark.parametrize(("res", "expected_final"), [(8, 2), (16, 2), (32, 2), (64, 2), (224, 7)])
def test_adapt_keeps_a_spatial_map_to_the_end(res, expected_final):
    spec = get_preset("efficientnet-b0")
    proxy = adapt_for_proxy(spec, res, num_classes=10, in_chans=1)
    cost = count(proxy)
    assert cost.stages[-3].out_size == expected_final  # the last stage's output map
    assert proxy.resolution == res and proxy.num_classes == 10 and proxy.in_chans == 1
    # only strides change, and only the earliest ones
    assert [dataclasses.replace(b, stride=1) for b in proxy.blocks] == [dataclasses.replace(b, stride=1) for b in spec.blocks]
    strides = strides_for_proxy(spec, res)
    original = [spec.stem_stride] + [b.stride for b in spec.blocks]
    dropped = [i for i, (a, b) in enumerate(zip(strides, original, strict=True)) if a != b]
    if dropped:  # every stride before the last dropped one is gone too
        assert all(s == 1 for s in strides[: dropped[-1] + 1])


def test_adapt_is_identity_at_deployment_size():
    spec = get_preset("mnasnet-a1")
    assert adapt_for_proxy(spec, 224) == spec.replace(resolution=224)


def test_reported_cost_is_at_deployment_resolution(data):
    spec = get_preset("efficientnet-b0")
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(steps=2, **FAST))
    assert result["macs"] == count(tiny_spec()).macs and result["resolution"] == 64
    proxy = count(adapt_for_proxy(tiny_spec(), 8, num_classes=10, in_chans=1))
    assert result["proxy_macs"] == proxy.macs and result["proxy_params"] == proxy.params
    assert result["proxy_macs"] < result["macs"]
    assert count(spec).macs == pytest.approx(0.39e9, rel=0.03)  # B0, the reference point


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("bad", [
    {"epochs": 0}, {"steps": 0}, {"batch_size": 0}, {"optimizer": "rmsprop"}, {"lr": -1}, {"warmup": 1.0},
    {"label_smoothing": 1.5}, {"resolution": 4}, {"augment": "mixup"}, {"threads": 0}, {"device": "tpu"},
    {"epochs": None, "steps": None, "seconds": None}, {"dropout": 1.0}, {"schedule": "step"},
])
def test_config_is_validated(bad):
    with pytest.raises(ConfigError) as exc:
        ProxyConfig(**bad)
    assert "\n" not in str(exc.value) and isinstance(exc.value, EffsearchError)


def test_config_is_keyword_only_and_scales_lr():
    with pytest.raises(TypeError):
        ProxyConfig(3)  # type: ignore[misc]
    assert ProxyConfig(batch_size=256).base_lr == pytest.approx(2 * ProxyConfig(batch_size=128).base_lr)
    assert ProxyConfig(lr=0.3).base_lr == 0.3


def test_schedule_warms_up_then_decays():
    config = ProxyConfig(warmup=0.2)
    values = [lr_factor(config, p / 100) for p in range(101)]
    assert values[0] < 0.05 and max(values) == pytest.approx(1.0, abs=0.01)
    assert values.index(max(values)) in range(19, 22)
    assert values[-1] == pytest.approx(0.0, abs=1e-9)
    assert all(a >= b for a, b in itertools.pairwise(values[21:]))


# --------------------------------------------------------------------------- training


def test_train_returns_the_contract(data):
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=1, **FAST), seed=0)
    assert set(result) >= CONTRACT_KEYS
    assert result["status"] == "ok" and result["reason"] is None
    assert 0.0 <= result["accuracy"] <= 1.0 and math.isfinite(result["loss"])
    assert result["steps"] == len(data.train_y) // 32 and result["epochs"] == pytest.approx(1.0)
    assert result["images_per_s"] > 0 and result["train_seconds"] > 0
    assert result["proxy_resolution"] == 8 and result["device"] == "cpu" and result["threads"] == 1


def test_same_seed_same_accuracy(data):
    config = ProxyConfig(epochs=2, augment="crop-flip", **FAST)  # augmentation and dropout use the seed too
    spec = tiny_spec(dropout=0.2)
    a, b = (train_and_evaluate(spec, data, config.replace(dropout=None), seed=7) for _ in range(2))
    assert a["status"] == b["status"] == "ok"
    assert a["accuracy"] == b["accuracy"] and a["loss"] == b["loss"] and a["loss_curve"] == b["loss_curve"]
    c = train_and_evaluate(spec, data, config.replace(dropout=None), seed=8)
    assert c["loss_curve"] != a["loss_curve"]


def test_training_learns(data):
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=6, **FAST), seed=0)
    assert result["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert result["loss_curve"][-1] < result["loss_curve"][0]


def test_absurd_learning_rate_fails_with_a_reason(data):
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(steps=30, lr=1e6, grad_clip=None, **FAST))
    assert result["status"] == "failed" and result["accuracy"] == 0.0
    assert "diverged" in result["reason"] and "\n" not in result["reason"]


def test_an_exception_is_a_failed_result_not_a_crash(data):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(steps=1, device="cuda", threads=1))
    assert result["status"] == "failed" and "CUDA" in result["reason"]


def test_out_of_memory_is_named(data):
    # A 1x1 head conv with 2**33 output channels needs ~0.8 TB: the real allocator refuses it.
    result = train_and_evaluate(tiny_spec(head_chs=2**33), data, ProxyConfig(steps=1, **FAST))
    assert result["status"] == "failed" and result["reason"].startswith("out of memory")
    assert "--batch-size" in result["reason"] and "\n" not in result["reason"]


def test_budget_by_steps_and_seconds(data):
    by_steps = train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=None, steps=3, **FAST))
    assert by_steps["steps"] == 3
    by_time = train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=None, seconds=0.5, **FAST))
    assert by_time["status"] == "ok" and by_time["steps"] >= 1 and by_time["train_seconds"] < 5


def test_on_epoch_reports_and_can_stop(data):
    seen = []
    result = train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=2, **FAST), on_epoch=lambda e, m: seen.append((e, m)))
    assert [e for e, _ in seen] == [1, 2] and all(0 <= m["accuracy"] <= 1 for _, m in seen)
    assert result["accuracy_curve"] == [m["accuracy"] for _, m in seen]
    assert seen[-1][1]["accuracy"] == result["accuracy"]

    class Stop(Exception):
        pass

    def stop(epoch, metrics):
        raise Stop

    with pytest.raises(Stop):  # the caller's exception is the caller's business, not a failed result
        train_and_evaluate(tiny_spec(), data, ProxyConfig(epochs=2, **FAST), on_epoch=stop)


def test_caller_state_is_restored(data):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    before = torch.get_num_threads()
    train_and_evaluate(tiny_spec(), data, ProxyConfig(steps=2, **{**FAST, "threads": 2 if before == 1 else 1}))
    assert torch.get_num_threads() == before
    assert torch.equal(torch.rand(3), expected)  # the global RNG is untouched
    with thread_scope(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# --------------------------------------------------------------------------- fast depthwise convolution


@pytest.mark.parametrize(("size", "kernel", "stride"), [(4, 5, 1), (2, 5, 1), (2, 5, 2), (1, 3, 1), (8, 5, 2), (5, 7, 2), (16, 5, 1), (3, 3, 2)])
def test_fast_depthwise_is_exact(size, kernel, stride):
    torch.manual_seed(0)
    ref = nn.Conv2d(6, 6, kernel, stride, kernel // 2, groups=6, bias=False).double()
    fast = FastDepthwiseConv2d(6, 6, kernel, stride, kernel // 2, groups=6, bias=False).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(3, 6, size, size, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    y_ref = ref(x)
    grad = torch.randn_like(y_ref)
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, ref.weight), grad)
    y = fast(x)
    gx, gw = torch.autograd.grad(y, (x, fast.weight), grad)
    assert torch.allclose(y, y_ref, atol=1e-12) and torch.allclose(gx, gx_ref, atol=1e-12) and torch.allclose(gw, gw_ref, atol=1e-12)
    assert fast.state_dict().keys() == ref.state_dict().keys()


def test_the_fast_layers_take_only_depthwise_and_pointwise_convs():
    from effsearch.engine.kernels import kernel_layers

    layers = kernel_layers("fast")
    assert layers.conv_class(8, 8, 3, 1, 8) is FastDepthwiseConv2d
    assert layers.conv_class(8, 16, 1, 1, 1) is FastPointwiseConv2d
    assert layers.conv_class(4, 8, 3, 1, 1) is nn.Conv2d and layers.conv_class(8, 8, 3, 1, 2) is nn.Conv2d
    assert layers.conv_class(4, 4, 1, 2, 1) is nn.Conv2d  # a strided 1x1 is no GEMM over the same pixels
    assert cropped_kernel(5, 2) == 3 and cropped_kernel(3, 1) == 1 and cropped_kernel(5, 8) == 5


@pytest.mark.parametrize(("size", "bias"), [(4, False), (1, True), (2, False)])
def test_fast_pointwise_is_exact(size, bias):
    torch.manual_seed(0)
    ref = nn.Conv2d(12, 20, 1, bias=bias).double()
    fast = FastPointwiseConv2d(12, 20, 1, bias=bias).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(3, 12, size, size, dtype=torch.float64).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    y_ref = ref(x)
    grad = torch.randn_like(y_ref)
    grads_ref = torch.autograd.grad(y_ref, (x, *ref.parameters()), grad)
    y = fast(x)
    assert y.is_contiguous(memory_format=torch.channels_last) and torch.allclose(y, y_ref, atol=1e-12)
    for a, b in zip(torch.autograd.grad(y, (x, *fast.parameters()), grad), grads_ref, strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    assert torch.allclose(fast(x.contiguous()), y_ref, atol=1e-12)  # NCHW input falls back to the convolution
