"""Helpers for the baseline-search tests: an instant evaluation and a run wrapper.

The loop's tests replace the proxy training with ``score`` (the documented ``evaluate`` hook of
``run_baseline_search``): a deterministic accuracy from the architecture, so the tests check the
search's bookkeeping in milliseconds per trial. The real proxy runs in the CLI, Ray, PostgreSQL
and resume tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from effsearch.search import RunConfig, SearchConfig, run_baseline_search
from effsearch.search.loop import blocks_key
from effsearch.search.reward import RewardConfig

TINY_SPACE = """
name: tiny
network: {stem: 16, head: 64, resolution: 64, act: relu}
choices: {op: [mbconv_e3], kernel: [3], se: [0], skip: [identity], filters: [1.0], layers: [0]}
blocks:
  - {filters: 16, layers: 1, stride: 1, choices: {op: [ds, mbconv_e3]}}
  - {filters: 24, layers: 1, stride: 2, choices: {kernel: [3, 5]}}
"""
"""Four architectures: small enough that a search of a dozen trials must repeat itself."""


@dataclasses.dataclass(frozen=True)
class FakeProxy:
    """Stands in for ProxyConfig where training is replaced by :func:`score`."""

    epochs: int = 1


@dataclasses.dataclass(frozen=True)
class FakeData:
    name: str = "fake"


class Scorer:
    """An ``evaluate`` hook that scores architectures by a hash and records what it was asked."""

    def __init__(self, fail: dict[int, Any] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = fail or {}

    def __call__(self, spec: Any, data: Any, config: Any, seed: int = 0) -> dict[str, Any]:
        self.calls.append((blocks_key(spec), config.epochs))
        action = self.fail.get(len(self.calls))
        if isinstance(action, BaseException):
            raise action
        if action is not None:
            return action
        return {"status": "ok", "accuracy": score(spec, config.epochs), "loss": 0.5, "train_seconds": 0.001,
                "images_per_s": 1000.0}


def score(spec: Any, epochs: int = 1) -> float:
    digest = int(hashlib.sha256(blocks_key(spec).encode()).hexdigest()[:8], 16) / 16**8
    return round(0.5 + 0.3 * digest + 0.01 * epochs, 6)


def tiny_space(tmp_path: Path) -> str:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return str(path)


def search(out: Path, *, evaluate: Any, space: str = "small", sampler: str = "random", trials: int = 6,
           target: float = 4e8, data: Any = None, proxy: Any = None, reward: RewardConfig | None = None,
           storage: str | None = None, study: str | None = None, workers: int | str = 1, ray_address: str | None = None,
           **search_kwargs: Any):
    """``run_baseline_search`` with test-sized defaults and no progress display."""
    return run_baseline_search(
        search=SearchConfig(space=space, sampler=sampler, trials=trials, **search_kwargs),
        reward=reward or RewardConfig(target=target), proxy=proxy or FakeProxy(),
        run=RunConfig(out=out, storage=storage, study=study, workers=workers, ray_address=ray_address, progress=False),
        data=data or FakeData(), evaluate=evaluate,
    )

RESUME_SPACE = """
name: resume
network: {stem: 16, head: 64, resolution: 64, act: relu}
choices: {op: [ds, mbconv_e3], kernel: [3, 5], se: [0, 0.25], skip: [identity], filters: [1.0], layers: [0]}
blocks:
  - {filters: 16, layers: 1, stride: 1}
  - {filters: 24, layers: 1, stride: 2}
  - {filters: 32, layers: 1, stride: 2}
  - {filters: 40, layers: 1, stride: 1}
"""
"""4,096 cheap architectures: enough that even a controller that has started to converge keeps
proposing new ones, so the resume tests always find a trial training when they send a signal."""


def write_space(tmp_path: Path, text: str, name: str) -> str:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return str(path)
