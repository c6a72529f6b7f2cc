"""Build a PyTorch model from a :class:`~effsearch.arch.spec.NetSpec`.

The model only consumes the spec's per-layer block specs; nothing here scales or rounds anything.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from effsearch.arch.blocks import TORCH_LAYERS, Layers
from effsearch.arch.ops import get_op
from effsearch.arch.spec import NetSpec


class EffNet(nn.Module):
    """Stem [+ max pool], stages of blocks, [1x1 head conv], global average pool, dropout, linear classifier."""

    def __init__(self, spec: NetSpec, num_classes: int | None = None, in_channels: int | None = None,
                 layers: Layers | None = None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        self.spec = spec
        self.num_classes = int(num_classes or spec.num_classes)
        self.stem = layers.conv_bn_act(in_channels or spec.in_chans, spec.stem_chs, spec.stem_kernel, spec.stem_stride,
                                       act=spec.act, layers=layers)
        # ResNet's 3x3 stride-2 max pool; padding 1 maps n to ceil(n / 2), as the cost model counts.
        self.stem_pool = nn.MaxPool2d(3, 2, 1) if spec.stem_pool else nn.Identity()
        total, index, stages = spec.num_layers, 0, []
        for block in spec.blocks:
            module, modules = get_op(block.op).module_class(), []
            for layer in block.layers():
                # Stochastic depth grows linearly with depth, as in the official models.
                modules.append(module(layer, drop_path=spec.drop_connect * index / total, layers=layers))
                index += 1
            stages.append(nn.Sequential(*modules))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = (layers.conv_bn_act(spec.blocks[-1].out_chs, spec.head_chs, 1, act=spec.act, layers=layers)
                          if spec.head_chs else nn.Identity())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(spec.num_features, self.num_classes)
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_head(self.blocks(self.stem_pool(self.stem(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.forward_features(x)).flatten(1)
        return self.classifier(self.dropout(x))

    def zero_init_residual(self) -> int:
        """Zero the last batch norm of every residual branch, as each op declares; returns how many.

        Each residual layer then starts as the identity, which makes short runs of deep nets train
        much faster (Goyal et al. 2017); it changes the starting point only, not the architecture.
        """
        done = 0
        for block, stage in zip(self.spec.blocks, self.blocks, strict=True):
            op = get_op(block.op)
            for module in stage:
                if getattr(module, "has_residual", False):
                    op.zero_init(module)
                    done += 1
        return done


def _init_weights(model: nn.Module) -> None:
    # Official EfficientNet initialisation: fan-out normal for convs, uniform 1/sqrt(out) for the classifier.
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels // m.groups
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1.0 / math.sqrt(m.weight.shape[0])
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)


def build_model(spec: NetSpec, *, num_classes: int | None = None, in_channels: int | None = None,
                layers: Layers | None = None) -> EffNet:
    """A freshly initialised ``torch.nn.Module`` for ``spec`` (move it with ``.to(device)`` as usual).

    ``layers`` chooses the layer implementations (default: PyTorch's; see :class:`~effsearch.arch.blocks.Layers`).
    """
    return EffNet(spec, num_classes=num_classes, in_channels=in_channels, layers=layers)
