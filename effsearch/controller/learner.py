"""What the controller learns for one study: the policy, its optimizer, the reward baseline, bookkeeping.

Also the seeding rules: the initial weights come from ``(seed, -1)`` and trial ``n`` samples from a
generator seeded by ``(seed, n)``, so a resumed or distributed study samples what one uninterrupted
process would have.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from optuna.distributions import BaseDistribution, CategoricalDistribution

from effsearch.controller.config import ControllerConfig, ControllerError
from effsearch.controller.policy import Policy
from effsearch.controller.ppo import Baseline, Batch, policy_update

if TYPE_CHECKING:
    from optuna.study import Study


TRIAL_ATTR = "effsearch:mnas"
"""Trial system attribute: ``{"actions": [...], "logp": [...], "update": n}`` as sampled (with ``"remeasure"`` or
``"local"``: a re-measurement, or a neighbour of the best or, with ``"optimum"`` too, an optimum of the surrogate;
none of them learned from)."""


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the policy on one intra-op thread, then give torch its thread count back.

    The policy's tensors are tiny; several OpenMP threads only synchronise, and on busy cores that
    made sampling and updates 10-25x slower than one thread (measured on the 2-core CI machine).
    """
    previous = torch.get_num_threads()
    if previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous > 1:
            torch.set_num_threads(previous)


def new_seed() -> int:
    return secrets.randbits(63)


def derived_seed(*keys: int) -> int:
    return int(np.random.SeedSequence([k & 0xFFFF_FFFF_FFFF_FFFF for k in keys]).generate_state(1, np.uint64)[0] >> 1)


def trial_generator(seed: int, number: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed(derived_seed(seed, number))
    return generator


def _ranges(numbers: Iterable[int]) -> list[list[int]]:
    """``{0, 1, 2, 5}`` -> ``[[0, 2], [5, 5]]``: the learned-from trials stay small in the state."""
    out: list[list[int]] = []
    for n in sorted(numbers):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def _from_ranges(ranges: Sequence[Sequence[int]]) -> set[int]:
    return {n for lo, hi in ranges for n in range(int(lo), int(hi) + 1)}


class Learner:
    """Everything the controller learns for one study: policy, optimizer, baseline, bookkeeping."""

    def __init__(self, space: dict[str, CategoricalDistribution], config: ControllerConfig, seed: int,
                 *, hidden_size: int | None = None, embed_size: int | None = None) -> None:
        self.space = dict(space)
        self.names = list(space)
        self.seed = seed
        self.hidden_size = hidden_size or config.hidden_size
        self.embed_size = embed_size or config.embed_size
        with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG untouched
            torch.manual_seed(derived_seed(seed, -1))
            self.policy = Policy([len(d.choices) for d in space.values()],
                                 hidden_size=self.hidden_size, embed_size=self.embed_size)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.baseline = Baseline(decay=config.baseline_decay, scale_decay=config.scale_decay)
        self.num_updates = 0
        self.consumed: set[int] = set()
        self.history: list[dict[str, float]] = []  # one row of diagnostics per update (entropy, baseline, ...)

    def to_payload(self) -> dict[str, Any]:
        return {
            "names": self.names, "choices": [list(self.space[n].choices) for n in self.names],
            "hidden_size": self.hidden_size, "embed_size": self.embed_size, "seed": self.seed,
            "policy": self.policy.state_dict(), "optimizer": self.optimizer.state_dict(),
            "baseline": [self.baseline.mean, self.baseline.var], "num_updates": self.num_updates,
            "consumed": _ranges(self.consumed), "history": _columns(self.history),
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], config: ControllerConfig) -> Learner:
        space = {n: CategoricalDistribution(c) for n, c in zip(payload["names"], payload["choices"], strict=True)}
        learner = cls(space, config, int(payload["seed"]),
                      hidden_size=int(payload["hidden_size"]), embed_size=int(payload["embed_size"]))
        learner.policy.load_state_dict(payload["policy"])
        learner.optimizer.load_state_dict(payload["optimizer"])
        for group in learner.optimizer.param_groups:
            group["lr"] = config.lr  # learning settings are this sampler's; the policy is the study's
        learner.baseline.mean, learner.baseline.var = payload["baseline"]
        learner.num_updates = int(payload["num_updates"])
        learner.consumed = _from_ranges(payload["consumed"])
        learner.history = _rows(payload.get("history"))  # states saved before it have none
        return learner

    def update(self, rows: Sequence[tuple[list[int], float, list[float]]], config: ControllerConfig, *,
               last_trial: int) -> dict[str, float]:
        """One policy update on ``(actions, reward, logp_old)`` rows; its diagnostics are kept in ``history``."""
        batch = Batch(
            actions=torch.tensor([r[0] for r in rows], dtype=torch.long),
            rewards=torch.tensor([r[1] for r in rows], dtype=torch.float32),
            logp_old=torch.tensor([r[2] for r in rows], dtype=torch.float32),
        )
        stats = policy_update(self.policy, self.optimizer, batch, self.baseline, algorithm=config.algorithm,
                              epochs=config.epochs, clip=config.clip, entropy_weight=config.entropy_weight)
        self.num_updates += 1
        self.history.append({"update": self.num_updates, "last_trial": last_trial,
                             **{k: round(v, 6) for k, v in stats.items()}})
        return stats

    def actions_of(self, params: dict[str, Any], distributions: dict[str, BaseDistribution]) -> list[int] | None:
        """Choice indices of a trial's params, or ``None`` if it did not make every decision alike."""
        actions = []
        for name, dist in self.space.items():
            if name not in params or distributions.get(name) != dist:
                return None
            actions.append(int(dist.to_internal_repr(params[name])))
        return actions


def _columns(rows: list[dict[str, float]]) -> dict[str, list]:
    """History rows as columns: a third of the size in the stored state, which is rewritten every update."""
    names = list(rows[0]) if rows else []
    return {"columns": names, "rows": [[row.get(n) for n in names] for row in rows]}


def _rows(stored: dict[str, list] | None) -> list[dict[str, float]]:
    if not stored:
        return []
    return [dict(zip(stored["columns"], row, strict=True)) for row in stored["rows"]]


def history_of(payload: dict[str, Any] | None) -> list[dict[str, float]]:
    """The per-update diagnostics kept in a stored controller state (empty for none, or an older state)."""
    return _rows((payload or {}).get("history"))


def controllable(space: dict[str, BaseDistribution]) -> dict[str, CategoricalDistribution]:
    """The parameters a policy can choose: categorical, with at least two choices."""
    return {n: d for n, d in space.items() if isinstance(d, CategoricalDistribution) and len(d.choices) > 1}


def check_single_objective(study: Study) -> None:
    if study._is_multi_objective():
        raise ControllerError(
            f"MnasSampler optimises one reward but study {study.study_name!r} has {len(study.directions)} "
            "objectives; combine them into one value (as effsearch baseline does) or use NSGAIISampler"
        )
