"""Faster depthwise and pointwise convolutions for training small proxy images on CPU.

Exact rewrites of ``nn.Conv2d`` layers, found by profiling EfficientNet-B0 training at 8-16 px (see
benchmarks/README.md). Depthwise (``groups=channels``):

* **Kernel cropping.** On an ``H x W`` map, taps further than ``H - 1`` (``W - 1``) from the centre
  only ever see zero padding, so a ``k x k`` kernel computes exactly what its central
  ``(2H - 1) x (2W - 1)`` part computes; the outer taps get zero gradient either way. A 5x5 kernel on
  a 2x2 map becomes a 3x3 convolution, a 3x3 on a 1x1 map a per-channel scale.
* **Weight gradient as a forward convolution.** oneDNN (PyTorch 2.x on x86) has no fast kernel for
  the weight gradient of depthwise convolutions larger than 3x3, nor for tiny maps; its generic
  path pads every single-channel group to 16x16 blocks and ran 10-30x slower than the forward
  pass. The gradient ``dW[c] = sum_n corr(x[n, c], dY[n, c])`` is itself a depthwise forward
  convolution over N*C channels with ``dY`` as the kernel (dilated by the stride), followed by a
  sum over the batch; that runs on oneDNN's fast depthwise forward kernel.

Pointwise (1x1, stride 1, ungrouped): on a channels_last tensor a 1x1 convolution *is* a matrix
product over the ``N*H*W`` pixels, so it runs as ``F.linear`` on the NHWC view (MKL's GEMM, no copy);
forward plus backward measured 1.2-4x faster than oneDNN's 1x1 convolution on the small maps of a
proxy (most on 2x2 and 4x4 maps, where oneDNN's convolution has few pixels to block over).

Which path a layer takes depends only on shapes and memory layout, never on timings, so training
stays deterministic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# The forward-convolution gradient won for kernels above 3x3 on input maps up to 8 px (2.4-5x) and
# for 3x3 kernels on 2 px maps (4x); oneDNN's own won for 3x3 kernels on larger maps (5-10x) and
# tied at 16 px (Xeon AVX-512, batch 64, 1 thread; benchmarks/README.md).
_MAX_MAP_LARGE_KERNEL = 8
_MAX_MAP_SMALL_KERNEL = 2


def cropped_kernel(kernel: int, size: int) -> int:
    """The smallest odd kernel that computes the same as ``kernel`` on a ``size``-pixel axis."""
    return min(kernel, 2 * size - 1)


def _use_forward_grad(kernel: tuple[int, int], in_hw: tuple[int, int]) -> bool:
    k, m = max(kernel), max(in_hw)
    return (k > 3 and m <= _MAX_MAP_LARGE_KERNEL) or m <= _MAX_MAP_SMALL_KERNEL


def depthwise_weight_grad(x: torch.Tensor, grad: torch.Tensor, kernel: tuple[int, int], stride: tuple[int, int],
                          padding: tuple[int, int]) -> torch.Tensor:
    """``dL/dW`` of a depthwise convolution, computed with a forward depthwise convolution."""
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = grad.shape[-2:]
    # Channel (n, c) of the input is correlated with channel (n, c) of the gradient.
    inp = x.contiguous().view(1, n * c, h, w)
    wgt = grad.to(x.dtype).contiguous().view(n * c, 1, oh, ow)
    out = F.conv2d(inp, wgt, None, 1, padding, stride, n * c)
    return out[..., :kh, :kw].reshape(n, c, kh, kw).sum(0).unsqueeze(1)


class _DepthwiseConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int], padding: tuple[int, int]) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv2d(x, weight, None, stride, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:  # oneDNN's input gradient is fast: keep it
            grad_x = torch.ops.aten.convolution_backward(
                grad, x, weight, None, ctx.stride, ctx.padding, (1, 1), False, (0, 0), weight.shape[0], (True, False, False),
            )[0]
        if ctx.needs_input_grad[1]:
            grad_w = depthwise_weight_grad(x, grad, tuple(weight.shape[-2:]), ctx.stride, ctx.padding)
        return grad_x, grad_w, None, None


class FastDepthwiseConv2d(nn.Conv2d):
    """Drop-in ``nn.Conv2d`` for depthwise layers (same parameters and state dict)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        kh, kw = self.kernel_size
        ch, cw = cropped_kernel(kh, h), cropped_kernel(kw, w)
        weight = self.weight
        if (ch, cw) != (kh, kw):
            top, left = (kh - ch) // 2, (kw - cw) // 2
            weight = weight[:, :, top:top + ch, left:left + cw]
        padding = (ch // 2, cw // 2)
        if torch.is_grad_enabled() and weight.requires_grad and x.device.type == "cpu" and _use_forward_grad((ch, cw), (h, w)):
            return _DepthwiseConv.apply(x, weight, self.stride, padding)
        return F.conv2d(x, weight, None, self.stride, padding, 1, self.groups)


class FastPointwiseConv2d(nn.Conv2d):
    """Drop-in ``nn.Conv2d`` for 1x1 layers: a GEMM on the channels_last view (same state dict)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not x.is_contiguous(memory_format=torch.channels_last) or x.dim() != 4:
            return super().forward(x)
        weight = self.weight.view(self.out_channels, self.in_channels)
        return F.linear(x.permute(0, 2, 3, 1), weight, self.bias).permute(0, 3, 1, 2)
