"""The layers of each CPU layer path (``fused``, ``fast``, ``torch``), and which of them this machine can run."""

from __future__ import annotations

from effsearch.arch.blocks import Layers
from effsearch.engine.config import ConfigError

PATHS = ("fused", "fast", "torch")


def kernel_layers(path: str) -> Layers:
    """The layers of one path (``fused``, ``fast`` or ``torch``)."""
    if path == "torch":
        return Layers(name="torch", act_inplace=False)
    from effsearch.engine.kernels.conv import FastDepthwiseConv2d, FastPointwiseConv2d
    from effsearch.engine.kernels.se import FastSqueezeExcite

    fast = Layers(name="fast", squeeze_excite=FastSqueezeExcite, depthwise_conv=FastDepthwiseConv2d,
                  pointwise_conv=FastPointwiseConv2d, act_inplace=False)
    if path == "fast":
        return fast
    if path == "fused":
        from effsearch.engine.kernels.bn_act import FusedConvBnAct

        return Layers(name="fused", conv_bn_act=FusedConvBnAct, squeeze_excite=fast.squeeze_excite,
                      depthwise_conv=fast.depthwise_conv, pointwise_conv=fast.pointwise_conv, act_inplace=False)
    raise ConfigError(f"kernel path {path!r} is unknown; use one of auto, {', '.join(PATHS)}")


def available_paths() -> list[str]:
    """The paths this machine can run (``fused`` needs the compiled kernel)."""
    from effsearch.engine.kernels.bn_act import library

    return [p for p in PATHS if p != "fused" or library() is not None]

