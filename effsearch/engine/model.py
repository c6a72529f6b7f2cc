"""The network a proxy trains: built from a layer path's layers, with the proxy's training-time settings."""

from __future__ import annotations

import torch

from effsearch.arch.builder import build_model
from effsearch.arch.spec import NetSpec
from effsearch.engine.config import ProxyConfig
from effsearch.engine.kernels.paths import kernel_layers


def prepare_model(spec: NetSpec, config: ProxyConfig, device: torch.device, kernels: str = "torch") -> torch.nn.Module:
    """Build the proxy network on ``device`` from the ``kernels`` path's layers, with the proxy's settings."""
    changes = {k: getattr(config, k) for k in ("dropout", "drop_connect") if getattr(config, k) is not None}
    model = build_model(spec.replace(**changes) if changes else spec, layers=kernel_layers(kernels))
    if config.zero_init_residual:
        model.zero_init_residual()
    if config.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = config.bn_momentum
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last and device.type != "mps" else model
