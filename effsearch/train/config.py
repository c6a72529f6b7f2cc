"""How a network is trained to keep: :class:`TrainConfig`, the proxy's settings with a full recipe's defaults.

The proxy (:class:`~effsearch.proxy.ProxyConfig`) is tuned to *rank* candidates in seconds; a network
that will be deployed is trained the way practitioners train EfficientNets: warm-up then cosine
decay, label smoothing 0.1, the spec's own dropout and stochastic depth, an exponential moving
average (EMA) of the weights, augmentation that suits the data. docs/train.md has the measurements
behind the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from effsearch.data.formats import TrainAugments, train_augment
from effsearch.engine.config import ConfigError, ProxyConfig

# What each data set trains with is its format's choice (DataFormat.train_augment), so a plugin's
# format chooses its own; this read-only view of the registry keeps the old table's name.
TRAIN_AUGMENT = TrainAugments()


@dataclass(frozen=True, kw_only=True)
class TrainConfig(ProxyConfig):
    """A full training: the budget is whole epochs (a checkpoint ends each); see the module docstring.

    ``resolution`` is the training input size (None: the spec's own); ``ema_decay`` None trains
    without an EMA. Other fields mean what they mean for the proxy.
    """

    epochs: float | None = 10.0
    batch_size: int = 128
    warmup: float = 0.05
    label_smoothing: float = 0.1
    bn_momentum: float | None = 0.1  # not the spec's 0.01, which leaves the statistics unsettled in short runs (docs/train.md)
    dropout: float | None = None  # the spec's
    drop_connect: float | None = None  # the spec's
    ema_decay: float | None = 0.9998

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps is not None or self.seconds is not None or self.epochs is None:
            raise ConfigError("train config: the budget is whole epochs (a checkpoint ends each one); "
                              "give epochs and neither steps nor seconds")
        if float(self.epochs) != int(self.epochs):
            raise ConfigError(f"train config: epochs {self.epochs!r} is invalid (a whole number of epochs)")
        if self.ema_decay is not None and not (isinstance(self.ema_decay, (int, float)) and 0 < self.ema_decay < 1):
            raise ConfigError(f"train config: ema_decay {self.ema_decay!r} is invalid (a number in (0, 1), or None for no EMA)")

    def augment_for(self, data: Any) -> str:
        """The augmentation to train ``data`` with: the config's, else its format's, else the data set's."""
        return self.augment if self.augment is not None else train_augment(data.name, data.augment)
