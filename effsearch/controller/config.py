"""The controller's settings (:class:`ControllerConfig`) and its one error type."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from effsearch.errors import EffsearchError

ALGORITHMS = ("ppo", "reinforce")
FIDELITIES = ("auto", "final", "first")
SCREENS = ("mean", "draw")


DEFAULT_LR = {"ppo": 0.002, "reinforce": 0.005}
"""Tuned on the synthetic benchmark (benchmarks/bench_controller.py); REINFORCE takes one step per batch."""


class ControllerError(EffsearchError, ValueError):
    """A controller setting is invalid, or the study is one the controller cannot optimise."""


@dataclass(frozen=True, kw_only=True)
class ControllerConfig:
    """Learning settings of :class:`MnasSampler` (see its docstring); validated on construction."""

    algorithm: str = "ppo"
    lr: float | None = None
    batch_size: int = 8
    epochs: int = 4
    clip: float = 0.2
    entropy_weight: float = 0.005
    baseline_decay: float = 0.9
    hidden_size: int = 64
    embed_size: int = 32
    failed_reward: float | None = None
    fidelity: str = "auto"  # which value of a trial is its reward: see MnasSampler
    scale_decay: float | None = None  # decay of the advantage's RMS (default: baseline_decay)
    unique: bool = True  # propose only architectures the study has not tried (controller.propose)
    proposals: int = 8  # policy proposals per trial, screened by the surrogate when > 1
    local: int = 2  # one-decision neighbours of the best trial so far (see anchors) that join the screened proposals
    anchors: int = 1  # the best distinct trials (by single value) those neighbours start from
    remeasure: float = 0.25  # share of trials that evaluate the believed-best architecture again
    optima: int = 2  # optima of that many more Thompson draws of the surrogate that join the screened proposals
    ranks: bool = True  # the screen's surrogate is fitted on the normal scores of the values' ranks (controller.propose)
    screen: str = "mean"  # what picks among the screened proposals: the surrogate's posterior mean or one Thompson draw

    def __post_init__(self) -> None:
        if self.fidelity not in FIDELITIES:
            raise ControllerError(f"controller fidelity {self.fidelity!r} is unknown; use one of {', '.join(FIDELITIES)}")
        if self.screen not in SCREENS:
            raise ControllerError(f"controller screen {self.screen!r} is unknown; use one of {', '.join(SCREENS)}")
        if self.algorithm not in ALGORITHMS:
            raise ControllerError(f"controller algorithm {self.algorithm!r} is unknown; use one of {', '.join(ALGORITHMS)}")
        for name in ("batch_size", "epochs", "hidden_size", "embed_size", "proposals", "anchors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ControllerError(f"controller {name} {value!r} must be an integer >= 1")
        for name in ("local", "optima"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ControllerError(f"controller {name} {value!r} must be an integer >= 0")
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.algorithm])
        _check_number("lr", self.lr, lo=0, lo_open=True)
        _check_number("clip", self.clip, lo=0, lo_open=True, hi=1)
        _check_number("entropy_weight", self.entropy_weight, lo=0)
        _check_number("baseline_decay", self.baseline_decay, lo=0, hi=1, hi_open=True)
        if self.scale_decay is not None:
            _check_number("scale_decay", self.scale_decay, lo=0, hi=1, hi_open=True)
        for name in ("unique", "ranks"):
            if not isinstance(getattr(self, name), bool):
                raise ControllerError(f"controller {name} {getattr(self, name)!r} must be True or False")
        _check_number("remeasure", self.remeasure, lo=0, hi=0.5)
        if self.failed_reward is not None:
            _check_number("failed_reward", self.failed_reward)


def _check_number(name: str, value: Any, *, lo: float = -math.inf, hi: float = math.inf,
                  lo_open: bool = False, hi_open: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    if not bad:
        bad = value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi)
    if bad:
        left, right = "(" if lo_open else "[", ")" if hi_open else "]"
        raise ControllerError(f"controller {name} {value!r} must be a finite number in {left}{lo}, {hi}{right}")
