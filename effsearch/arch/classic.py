"""PyTorch modules of the classic ops: ResNet's basic and bottleneck blocks, MobileNetV1's separable block.

The ResNet blocks are torchvision's and timm's (v1.5: a bottleneck strides on its kxk conv), with
their submodules created in the same order, so a state dict of ``timm.create_model("resnet50")``
loads into ours tensor by tensor (``tests/test_classic.py``). Their shortcut is the identity where
shapes allow and a 1x1 conv (stride) + BN where they do not; ``noskip`` removes it. Stochastic depth
drops the residual branch before the add, and the activation follows the add, as in timm's ResNet.
"""

from __future__ import annotations

import torch
from torch import nn

from effsearch.arch.blocks import TORCH_LAYERS, DropPath, Layers
from effsearch.arch.spec import BlockSpec


class _ProjectionResidual(nn.Module):
    """A ResNet layer: ``act(branch(x) + shortcut(x))``, or ``act(branch(x))`` without ``skip``."""

    def _shortcut(self, layer: BlockSpec, drop_path: float, layers: Layers) -> None:
        # Created after the branch, as torchvision's and timm's ``downsample``, so state dicts align in order.
        self.has_residual = layer.has_residual
        self.downsample = (layers.conv_bn_act(layer.in_chs, layer.out_chs, 1, layer.stride, layers=layers)
                           if layer.has_projection else nn.Identity())
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()
        self.act = layers.act(layer.act)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.branch(x)
        if self.has_residual:
            out = self.drop_path(out) + self.downsample(x)
        return self.act(out)


class BasicBlock(_ProjectionResidual):
    """ResNet-18/34's block: kxk conv (stride) + BN + act, kxk conv + BN; shortcut; act."""

    def __init__(self, layer: BlockSpec, *, drop_path: float = 0.0, layers: Layers | None = None):
        super().__init__()
        layers, k, out = layers or TORCH_LAYERS, layer.kernel_size, layer.out_chs
        self.conv1 = layers.conv_bn_act(layer.in_chs, out, k, layer.stride, act=layer.act, layers=layers)
        self.conv2 = layers.conv_bn_act(out, out, k, layers=layers)
        self._shortcut(layer, drop_path, layers)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.bn.weight)


class Bottleneck(_ProjectionResidual):
    """ResNet-50's block (v1.5): 1x1 to the inner width, kxk (stride), 1x1 to ``out_chs``; shortcut; act.

    The inner width is ``out_chs / exp_ratio`` (:attr:`BlockSpec.mid_chs`): ``exp_ratio`` is ResNet's
    ``expansion`` (4), not MBConv's.
    """

    def __init__(self, layer: BlockSpec, *, drop_path: float = 0.0, layers: Layers | None = None):
        super().__init__()
        layers, mid, act = layers or TORCH_LAYERS, layer.mid_chs, layer.act
        self.conv1 = layers.conv_bn_act(layer.in_chs, mid, 1, act=act, layers=layers)
        self.conv2 = layers.conv_bn_act(mid, mid, layer.kernel_size, layer.stride, act=act, layers=layers)
        self.conv3 = layers.conv_bn_act(mid, layer.out_chs, 1, layers=layers)
        self._shortcut(layer, drop_path, layers)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(self.conv2(self.conv1(x)))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.bn.weight)


class SeparableConv(nn.Module):
    """MobileNetV1's block (timm's ``dsa``): depthwise kxk + BN + act, [SE], 1x1 + BN + act; no shortcut.

    Unlike ``ds`` the pointwise conv is followed by the activation, and no layer ever adds its input.
    """

    has_residual = False

    def __init__(self, layer: BlockSpec, *, drop_path: float = 0.0, layers: Layers | None = None):
        super().__init__()
        layers, act, chs = layers or TORCH_LAYERS, layer.act, layer.in_chs
        cba = layers.conv_bn_act
        self.conv_dw = cba(chs, chs, layer.kernel_size, layer.stride, groups=chs, act=act, layers=layers)
        self.se = layers.squeeze_excite(chs, layer.se_chs, act, layers) if layer.se_chs else nn.Identity()
        self.conv_pw = cba(chs, layer.out_chs, 1, act=act, layers=layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pw(self.se(self.conv_dw(x)))
