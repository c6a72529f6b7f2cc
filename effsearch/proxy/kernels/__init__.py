"""The layer paths for training proxies on CPU, behind one setting: ``ProxyConfig.kernels``.

Each path is a :class:`~effsearch.arch.blocks.Layers` the builder receives, so a model is built for
its path rather than patched afterwards; all paths have PyTorch's state-dict layout.

* ``torch`` - PyTorch's own layers (activations out of place: an in-place SiLU makes autograd clone
  its input for the backward, one extra copy of every activation map per step);
* ``fast`` - exact rewrites of the depthwise and 1x1 convolutions (:mod:`~effsearch.proxy.kernels.conv`)
  and of the squeeze-excitation backward (:mod:`~effsearch.proxy.kernels.se`);
* ``fused`` - ``fast`` plus batch norm fused with its activation in a small compiled C kernel
  (:mod:`~effsearch.proxy.kernels.bn_act`; needs a C compiler).

``auto`` (the default) takes the fastest path on the processor it meets: it is measured once per
processor, torch version and thread count (:mod:`~effsearch.proxy.kernels.choice`, a few seconds)
and remembered in the cache folder. The paths agree to float rounding, not bit for bit, so the path
that trained each candidate is recorded in its metrics and a study refuses to mix paths. Off the
CPU (CUDA) every path is ``torch``.
"""

from __future__ import annotations

import torch

from effsearch.arch.blocks import Layers
from effsearch.proxy.config import ConfigError

PATHS = ("fused", "fast", "torch")


def kernel_layers(path: str) -> Layers:
    """The layers of one path (``fused``, ``fast`` or ``torch``)."""
    if path == "torch":
        return Layers(name="torch", act_inplace=False)
    from effsearch.proxy.kernels.conv import FastDepthwiseConv2d, FastPointwiseConv2d
    from effsearch.proxy.kernels.se import FastSqueezeExcite

    fast = Layers(name="fast", squeeze_excite=FastSqueezeExcite, depthwise_conv=FastDepthwiseConv2d,
                  pointwise_conv=FastPointwiseConv2d, act_inplace=False)
    if path == "fast":
        return fast
    if path == "fused":
        from effsearch.proxy.kernels.bn_act import FusedConvBnAct

        return Layers(name="fused", conv_bn_act=FusedConvBnAct, squeeze_excite=fast.squeeze_excite,
                      depthwise_conv=fast.depthwise_conv, pointwise_conv=fast.pointwise_conv, act_inplace=False)
    raise ConfigError(f"kernel path {path!r} is unknown; use one of auto, {', '.join(PATHS)}")


def available_paths() -> list[str]:
    """The paths this machine can run (``fused`` needs the compiled kernel)."""
    from effsearch.proxy.kernels.bn_act import library

    return [p for p in PATHS if p != "fused" or library() is not None]


def resolve_kernels(kernels: str, device: torch.device | str, threads: int) -> str:
    """The concrete path for a ``ProxyConfig.kernels`` setting on ``device`` with ``threads`` threads."""
    if torch.device(device).type != "cpu":
        return "torch"  # the rewrites are CPU kernels; CUDA has its own fast paths
    if kernels == "auto":
        from effsearch.proxy.kernels.choice import choose

        return choose(threads)
    if kernels not in PATHS:
        raise ConfigError(f"kernel path {kernels!r} is unknown; use one of auto, {', '.join(PATHS)}")
    if kernels not in available_paths():
        raise ConfigError("kernel path 'fused' needs the compiled batch-norm kernel, which cannot be built here "
                          "(no C compiler 'cc'); use kernels fast or auto")
    return kernels


__all__ = ["PATHS", "available_paths", "kernel_layers", "resolve_kernels"]
