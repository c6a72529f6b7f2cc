"""How a proxy is trained: :class:`ProxyConfig`, keyword-only and validated on construction."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from effsearch.data import AUGMENTS
from effsearch.engine.adapt import MIN_FEATURE
from effsearch.errors import EffsearchError

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "linear", "constant")
DEFAULT_LR = {"sgd": 0.2, "adamw": 0.004}  # for a batch of 128; scaled linearly with batch size
DIVERGED_FACTOR = 10.0
"""An epoch whose mean training loss exceeds this many times chance level (ln of the class count)
has diverged even if the loss stayed finite: at a learning rate 10^4 too high it sits at 10^3-10^4."""
OnEpoch = Callable[[int, dict[str, Any]], None]
KERNELS = ("auto", "fused", "fast", "torch")
"""Layer paths for CPU training; see :mod:`effsearch.engine.kernels`."""


class ConfigError(EffsearchError, ValueError):
    """A proxy-training setting is out of range."""


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"proxy config: {name} {value!r} is invalid ({expected})")


@dataclass(frozen=True, kw_only=True)
class ProxyConfig:
    """How to train a proxy. The budget stops at whichever of epochs, steps or seconds comes first.

    The defaults are sized so an EfficientNet-B0-sized candidate trains on the default data set
    (digits at 16 px) in roughly 10-15 s on two CPU cores while still ranking architectures; see
    docs/proxy.md for the measurements behind them.
    """

    epochs: float | None = 2.0
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 64
    optimizer: str = "sgd"  # SGD with Nesterov momentum, or AdamW
    lr: float | None = None  # None: DEFAULT_LR[optimizer] * batch_size / 128
    momentum: float = 0.9
    weight_decay: float = 5e-5
    warmup: float = 0.1  # fraction of the budget with a linear learning-rate warm-up
    schedule: str = "cosine"
    label_smoothing: float = 0.0  # supported; 0.1 measured worse at the default 2-epoch budget (docs/proxy.md)
    grad_clip: float | None = 5.0
    bn_momentum: float | None = 0.1  # None keeps the spec's (0.01, too slow to settle in a short run)
    dropout: float | None = 0.0  # classifier dropout while training the proxy; None keeps the spec's
    drop_connect: float | None = 0.0  # stochastic depth while training the proxy; None keeps the spec's
    zero_init_residual: bool = True  # last BN of each residual branch starts at 0 (faster early training)
    resolution: int | None = None  # proxy input size; None: the data set's default
    augment: str | None = None  # None: the data set's default (crop-flip for natural images, none for digits)
    min_feature: int = MIN_FEATURE  # smallest final feature map adapt_for_proxy allows
    eval_batch_size: int = 512
    device: str = "auto"  # auto: cuda when available, else cpu
    threads: int | None = None  # CPU intra-op threads; None: OMP_NUM_THREADS or the usable cores
    amp: bool = True  # autocast on CUDA (bf16 where supported, else fp16 with loss scaling)
    channels_last: bool = True
    kernels: str = "auto"  # CPU layer path: auto (the fastest here, measured once), fused, fast or torch (engine.kernels)

    def __post_init__(self) -> None:
        if self.epochs is None and self.steps is None and self.seconds is None:
            raise ConfigError("proxy config: give a budget (epochs, steps or seconds)")
        for name in ("epochs", "seconds"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, (int, float)) and value > 0), name, value, "a positive number or None")
        for name, lo in (("steps", 1), ("batch_size", 1), ("eval_batch_size", 1), ("min_feature", 1)):
            value = getattr(self, name)
            _check((value is None and name == "steps") or (isinstance(value, int) and not isinstance(value, bool) and value >= lo),
                   name, value, f"an integer >= {lo}")
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
        _check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")
        _check(self.lr is None or (isinstance(self.lr, (int, float)) and self.lr > 0), "lr", self.lr, "a positive number")
        for name, lo, hi in (("momentum", 0, 1), ("warmup", 0, 1), ("label_smoothing", 0, 1)):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and lo <= value < hi, name, value, f"a number in [{lo}, {hi})")
        for name in ("dropout", "drop_connect"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, (int, float)) and 0 <= value < 1), name, value, "a number in [0, 1) or None")
        _check(isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(self.grad_clip is None or self.grad_clip > 0, "grad_clip", self.grad_clip, "a positive number or None")
        _check(self.bn_momentum is None or 0 < self.bn_momentum <= 1, "bn_momentum", self.bn_momentum, "in (0, 1] or None")
        _check(self.resolution is None or (isinstance(self.resolution, int) and 8 <= self.resolution <= 1024),
               "resolution", self.resolution, "an integer from 8 to 1024, or None")
        _check(self.augment is None or self.augment in AUGMENTS, "augment", self.augment, f"one of {', '.join(AUGMENTS)}")
        _check(isinstance(self.device, str) and re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,3})?", self.device) is not None,
               "device", self.device, "auto, cpu, cuda or cuda:N")
        _check(self.threads is None or (isinstance(self.threads, int) and self.threads >= 1), "threads", self.threads, "an integer >= 1")
        _check(self.kernels in KERNELS, "kernels", self.kernels, f"one of {', '.join(KERNELS)}")

    def replace(self, **changes: Any) -> ProxyConfig:
        return dataclasses.replace(self, **changes)

    @property
    def base_lr(self) -> float:
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.optimizer] * self.batch_size / 128

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


