"""The proxy's fused squeeze-excitation and batch-norm kernels against PyTorch's own modules."""

from __future__ import annotations

import shutil

import pytest
import torch
from torch import nn

from effsearch.arch.blocks import ConvBnAct, SqueezeExcite
from effsearch.engine.config import ConfigError
from effsearch.engine.kernels import available_paths, resolve_kernels
from effsearch.engine.kernels import bn_act as fastbn
from effsearch.engine.kernels.bn_act import FusedConvBnAct, kernel_threads
from effsearch.engine.kernels.se import FastSqueezeExcite, _SqueezeExciteFn

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="the fused batch norm is compiled with the system C compiler")

# --------------------------------------------------------------------------- squeeze-and-excitation


@pytest.mark.parametrize("act", ["swish", "relu"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_fast_se_matches_autograd(act, channels_last):
    torch.manual_seed(0)
    ref = SqueezeExcite(24, 6, act).double()
    fast = FastSqueezeExcite(24, 6, act).double()
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(4, 24, 5, 7, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(x)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ref(xa), fast(xb)
    assert torch.allclose(ya, yb, atol=1e-12)
    ga = torch.autograd.grad(ya, (xa, *ref.parameters()), grad)
    gb = torch.autograd.grad(yb, (xb, *fast.parameters()), grad)
    for a, b in zip(ga, gb, strict=True):
        assert torch.allclose(a, b, atol=1e-12)
    assert fast.state_dict().keys() == ref.state_dict().keys()


@pytest.mark.parametrize("relu", [True, False])
def test_fast_se_backward_passes_gradcheck(relu):
    torch.manual_seed(1)
    x = torch.randn(2, 6, 3, 4, dtype=torch.float64, requires_grad=True)
    params = [torch.randn(shape, dtype=torch.float64, requires_grad=True) for shape in ((3, 6, 1, 1), (3,), (6, 3, 1, 1), (6,))]
    assert torch.autograd.gradcheck(lambda x, *p: _SqueezeExciteFn.apply(x, *p, relu), (x, *params))


def test_fast_se_outside_training_is_the_plain_module():
    ref = SqueezeExcite(8, 2, "swish")
    fast = FastSqueezeExcite(8, 2, "swish")
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 8, 3, 3)
    with torch.no_grad():
        assert torch.equal(fast(x), ref(x))


# --------------------------------------------------------------------------- fused batch norm + activation


def _pair(chs: int, act: str, momentum: float | None = 0.1):
    torch.manual_seed(2)
    ref = ConvBnAct(5, chs, 3, act=act)
    ref.bn.momentum = momentum
    with torch.no_grad():
        ref.bn.weight.uniform_(0.5, 1.5)
        ref.bn.bias.uniform_(-0.5, 0.5)
    fast = FusedConvBnAct(5, chs, 3, act=act)
    fast.load_state_dict(ref.state_dict())
    fast.bn.momentum = momentum
    return ref.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> bool:
    a, b = a.detach(), b.detach()
    return bool((a - b).abs().max() <= rel * max(1.0, float(b.abs().max())))


@needs_cc
@pytest.mark.parametrize("act", ["swish", "relu"])
@pytest.mark.parametrize(("n", "chs", "size"), [(8, 24, 9), (2, 7, 1), (3, 33, 4), (64, 144, 16)])
@pytest.mark.parametrize("threads", [1, 2])
def test_fused_bn_act_matches_pytorch(act, n, chs, size, threads):
    """Judged against PyTorch's module in float64, not in float32: on one thread PyTorch's own float32
    channels_last batch-norm backward sums 16,384 values per channel naively and misses the float64
    gradients by up to 7e-2 (measured), while the kernel stays within 1e-5 of them at any thread count."""
    ref, fast = _pair(chs, act)
    ref = ref.double()
    x = (torch.randn(n, 5, size, size) * 3 + 1).contiguous(memory_format=torch.channels_last)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ya, yb = ref(x.double()), fast(x)
        assert yb.is_contiguous(memory_format=torch.channels_last) and _close(yb.double(), ya)
        grad = torch.randn_like(yb)
        xa, xb = x.double().requires_grad_(), x.clone().requires_grad_()
        ga = torch.autograd.grad(ref(xa), (xa, *ref.parameters()), grad.double())
        gb = torch.autograd.grad(fast(xb), (xb, *fast.parameters()), grad)
        for a, b in zip(ga, gb, strict=True):
            assert _close(b.double(), a)
        for key, value in ref.bn.state_dict().items():  # running statistics after two training steps
            assert _close(fast.bn.state_dict()[key].double(), value.double()), key
        ref.eval()
        fast.eval()
        assert _close(fast(x).double(), ref(x.double()))  # evaluation: PyTorch's own path, with the running estimates
    finally:
        torch.set_num_threads(before)


@needs_cc
def test_fused_bn_cumulative_momentum_and_determinism():
    ref, fast = _pair(16, "swish", momentum=None)
    x = torch.randn(4, 5, 6, 6).contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        ref(x), fast(x)
    assert _close(ref.bn.running_var, fast.bn.running_var) and int(fast.bn.num_batches_tracked) == 3
    first = torch.autograd.grad(fast(x.clone().requires_grad_()).square().sum(), fast.bn.weight)[0]
    again = torch.autograd.grad(fast(x.clone().requires_grad_()).square().sum(), fast.bn.weight)[0]
    assert torch.equal(first, again)


@needs_cc
def test_fused_bn_falls_back_for_nchw_input():
    ref, fast = _pair(8, "swish")
    x = torch.randn(2, 5, 4, 4)  # NCHW: the kernel reads channels_last only
    assert torch.equal(ref.to(memory_format=torch.contiguous_format)(x), fast.to(memory_format=torch.contiguous_format)(x))


def test_without_a_compiler_the_fused_path_is_unavailable_and_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("EFFSEARCH_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler")
    fastbn.library.cache_clear()
    try:
        assert fastbn.library() is None and kernel_threads() is None
        assert available_paths() == ["fast", "torch"]
        with pytest.raises(ConfigError, match="no C compiler"):
            resolve_kernels("fused", "cpu", 1)
        assert resolve_kernels("fast", "cpu", 1) == "fast"
        # a layer built for the fused path still runs, on PyTorch's batch norm
        model = FusedConvBnAct(3, 8, 3, act="swish").train()
        x = torch.randn(2, 3, 5, 5).contiguous(memory_format=torch.channels_last)
        ref = ConvBnAct(3, 8, 3, act="swish").train()
        ref.load_state_dict(model.state_dict())
        assert torch.equal(model(x), ref(x))
    finally:
        fastbn.library.cache_clear()


@needs_cc
def test_the_kernel_runs_in_torchs_thread_pool():
    """The compiled kernel shares torch's OpenMP runtime, so torch.set_num_threads governs it too."""
    before = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            assert kernel_threads() == n
    finally:
        torch.set_num_threads(before)


@needs_cc
def test_the_kernel_is_built_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("EFFSEARCH_CACHE", str(tmp_path))
    fastbn.library.cache_clear()
    try:
        assert fastbn.library() is not None
        built = list((tmp_path / "kernels").glob("bn_act-*.so"))
        assert len(built) == 1
        fastbn.library.cache_clear()
        stamp = built[0].stat().st_mtime_ns
        assert fastbn.library() is not None and built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
    finally:
        fastbn.library.cache_clear()


# --------------------------------------------------------------------------- in the proxy trainer


def _kinds(model: nn.Module) -> set[str]:
    return {type(m).__name__ for m in model.modules()}


@needs_cc
def test_the_proxy_network_is_built_from_its_paths_layers():
    from effsearch import load_spec
    from effsearch.proxy import ProxyConfig, adapt_for_proxy, prepare_model

    spec = adapt_for_proxy(load_spec("efficientnet-b0"), 16, num_classes=10, in_chans=1)
    cpu, config = torch.device("cpu"), ProxyConfig(epochs=1)
    fused, fast, plain = (prepare_model(spec, config, cpu, path) for path in ("fused", "fast", "torch"))
    assert {"FusedConvBnAct", "FastSqueezeExcite", "FastDepthwiseConv2d", "FastPointwiseConv2d"} <= _kinds(fused)
    assert "FusedConvBnAct" not in _kinds(fast) and {"FastSqueezeExcite", "FastDepthwiseConv2d"} <= _kinds(fast)
    assert not {"FusedConvBnAct", "FastSqueezeExcite", "FastDepthwiseConv2d", "FastPointwiseConv2d"} & _kinds(plain)
    assert fused.state_dict().keys() == fast.state_dict().keys() == plain.state_dict().keys()
    assert not any(getattr(m, "inplace", False) for m in plain.modules())  # autograd would clone their inputs


@needs_cc
def test_whole_network_gradients_are_as_accurate_as_pytorchs():
    """Against float64, the fused float32 gradient of a whole proxy step is no worse than PyTorch's own.

    Bit-for-bit agreement with PyTorch's float32 is not the bar, and a ReLU network is not the test
    case: in MnasNet-A1 float32 rounding alone moves the whole gradient by 0.5-1.6% on either path
    (activations within rounding of the kink switch side), so which path lands closer is luck of the
    batch. The ReLU kernel is checked layer by layer above; here EfficientNet-B0 (SiLU) end to end.
    """
    name = "efficientnet-b0"
    from effsearch import load_spec
    from effsearch.data import load_dataset
    from effsearch.data.batches import to_input
    from effsearch.proxy import ProxyConfig, adapt_for_proxy, prepare_model

    data = load_dataset("digits").resized(16)
    spec = adapt_for_proxy(load_spec(name), 16, num_classes=10, in_chans=1)
    x = to_input(data.train_x[:32], mean=data.mean, std=data.std, scale=data.scale, device=torch.device("cpu"), channels_last=True)

    def gradient(fused: bool, dtype: torch.dtype) -> torch.Tensor:
        torch.manual_seed(0)
        model = prepare_model(spec, ProxyConfig(epochs=1), torch.device("cpu"), "fused" if fused else "fast").to(dtype)
        torch.nn.functional.cross_entropy(model(x.to(dtype)), data.train_y[:32]).backward()
        return torch.cat([p.grad.double().flatten() for p in model.parameters()])

    truth = gradient(False, torch.float64)
    error = {fused: float((gradient(fused, torch.float32) - truth).norm() / truth.norm()) for fused in (True, False)}
    assert error[True] <= 1.5 * error[False] + 1e-6 and error[True] < 1e-4, error
