"""An exponential moving average (EMA) of a model's weights, the averaged model used for evaluation.

Batch-norm running statistics are averaged like the weights (integer counters are copied). The
decay warms up as ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so early, random weights
leave the average quickly and a short training still gets a useful EMA: after 5,000 steps the
horizon is about 500 steps, after 50,000 it reaches the configured decay's 5,000.
"""

from __future__ import annotations

import copy
from typing import Any

import torch


class ModelEma:
    """``ema = decay * ema + (1 - decay) * model`` after every optimizer step (:meth:`update`)."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.updates = float(decay), 0
        self._pairs: tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]] | None = None

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    def _tensors(self, model: torch.nn.Module):
        if self._pairs is None:  # state_dict() tensors share storage with the modules: collect them once
            floats_e, floats_m, ints = [], [], []
            for e, m in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
                if e.is_floating_point():
                    floats_e.append(e)
                    floats_m.append(m)
                else:
                    ints.append((e, m))
            self._pairs = floats_e, floats_m, ints
        return self._pairs

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        ema, live, ints = self._tensors(model)
        torch._foreach_lerp_(ema, [t.detach() for t in live], 1.0 - self.current_decay())
        for e, m in ints:
            e.copy_(m)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self._pairs = None
