"""Multi-fidelity search: successive-halving rungs of growing budget, and seeds at the top one.

With ``Rungs(count=3, factor=3)`` every candidate first trains at the proxy budget (rung 0). The
best third of what has reached a rung so far is promoted and trained again from scratch at
``factor`` times the budget (rung 1: 3x, rung 2: 9x); the rest stop there (Optuna's ``PRUNED``).
Only candidates that reach the top rung complete, and only they can become the baseline. At the
top rung each finalist trains with ``seeds`` seeds and scores their mean, so the pick is made on
seed means (:mod:`effsearch.search.pick` says whether the runner-up is within the noise).

Why restart instead of continuing from the lower rung's weights: each rung is then an ordinary
proxy training with its own full learning-rate schedule (a cosine that ends at rung 0's budget
cannot be continued), its result is exactly what training that budget gives, and a rung can be
replayed from its record after a kill. Restarting costs a third more compute on promoted
candidates (rung k - 1's budget again, for the third that is promoted).

Promotion is asynchronous successive halving (ASHA, Li et al. 2020): a candidate is promoted when
its rung reward is in the top ``1/factor`` of the rung rewards reported so far, so no worker ever
waits for a rung to fill. For the single-reward samplers the decision is Optuna's own
``SuccessiveHalvingPruner`` over the trial's reported rung rewards (``trial.should_prune()``), so
TPE sees the pruned trials as Optuna intends and optuna-dashboard shows the rungs. Optuna does not
prune multi-objective studies; there (NSGA-II) the same rule is applied to the rung's reward by
:func:`promotable`.

Common random numbers: every candidate at a rung trains with the search's seed, so two candidates
compared at a rung share their initialisation seed, data order and augmentation draws; the top
rung's extra seeds are shared the same way (seed, seed + 1, ...). The paired difference of two
architectures is then free of the seed's own effect on accuracy (measured in benchmarks/README.md).

A rung's result is kept in the trial's user attributes as soon as each seed finishes, so a run
killed at any rung replays every finished rung (and seed) of the interrupted trial from its record
when the trial is queued again, and trains only what was still missing.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from effsearch.errors import EffsearchError

SEED_ATTR = "rung:{rung}:{seed}"
"""Trial user attribute holding one seed's result at one rung: ``{"accuracy", "train_seconds", "steps"}``."""
RUNG_ATTRS = ("seed_accuracies",)
"""Result attributes a repeat of an architecture copies besides its ``rung...`` ones."""
MAX_RUNGS = 6
MAX_SEEDS = 10


@dataclass(frozen=True, kw_only=True)
class Rungs:
    """The rungs of a search: how many, the budget factor between them and the seeds at the top one.

    ``count=1`` is single-fidelity search (every candidate trains at the proxy budget once per seed).
    """

    count: int = 1
    factor: int = 3
    seeds: int = 1

    def __post_init__(self) -> None:
        for name, lo, hi, what in (("count", 1, MAX_RUNGS, "rungs"), ("factor", 2, 10, "rung factor"),
                                   ("seeds", 1, MAX_SEEDS, "final seeds")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise EffsearchError(f"{what} {value!r} is invalid; give an integer from {lo} to {hi}")

    @property
    def top(self) -> int:
        return self.count - 1

    @property
    def multi(self) -> bool:
        """More than one rung: candidates are promoted or pruned."""
        return self.count > 1

    def step(self, rung: int) -> int:
        """The rung's budget in units of rung 0's: the step its reward is reported at (1, 3, 9, ...)."""
        return self.factor ** rung

    def seeds_at(self, rung: int, seed: int) -> list[int]:
        """The seeds a rung trains with: the search's seed, and at the top rung ``seeds`` of them."""
        return [seed + i for i in range(self.seeds if rung == self.top else 1)]

    def budget(self, proxy: Any, rung: int) -> Any:
        """The proxy configuration of ``rung``: every budget the proxy has (epochs, steps, seconds) times ``factor ** rung``."""
        if rung == 0:
            return proxy
        scale = self.step(rung)
        changes = {name: (getattr(proxy, name) * scale if name != "steps" else int(getattr(proxy, name)) * scale)
                   for name in ("epochs", "steps", "seconds") if getattr(proxy, name, None) is not None}
        return dataclasses.replace(proxy, **changes)

    def work(self) -> float:
        """Training budgets (in rung-0 units) the rungs cost per candidate entering rung 0, restarts included."""
        return sum((self.step(k) / self.factor ** k) * (self.seeds if k == self.top else 1) for k in range(self.count))

    def pruner(self) -> Any:
        """Optuna's pruner for these rungs: successive halving at steps 1, factor, factor^2 ..."""
        import optuna

        if not self.multi:
            return optuna.pruners.NopPruner()
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=self.factor,
                                                      min_early_stopping_rate=0)

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "factor": self.factor, "seeds": self.seeds}

    def describe(self, proxy: Any) -> str:
        """``rungs 150 / 450 / 1350 steps (top third promoted), 2 seeds at the top`` for the announcement."""
        unit = next((n for n in ("steps", "epochs", "seconds") if getattr(proxy, n, None) is not None), "steps")
        sizes = " / ".join(f"{getattr(self.budget(proxy, k), unit):g}" for k in range(self.count))
        seeds = f", {self.seeds} seeds at the top rung (mean)" if self.seeds > 1 else ""
        share = {2: "half", 3: "third", 4: "quarter"}.get(self.factor, f"1/{self.factor}")
        if not self.multi:
            return f"one rung of {sizes} {unit}{seeds}"
        return f"rungs of {sizes} {unit} (top {share} promoted){seeds}"


def check_budget(rungs: Rungs, proxy: Any) -> None:
    """Rungs scale a step or epoch budget; a time budget would make every rung machine-dependent."""
    if rungs.multi and getattr(proxy, "seconds", None) is not None and getattr(proxy, "steps", None) is None \
            and getattr(proxy, "epochs", None) is None:
        raise EffsearchError("rungs need a proxy budget in steps or epochs, not only seconds; give steps or epochs")


def promotable(value: float, competing: Iterable[float], factor: int) -> bool:
    """ASHA's rule, as Optuna's pruner applies it: in the top ``1/factor`` of the rung's values so far.

    ``competing`` holds the values reported at this rung by other candidates (not ``value`` itself).
    Until a rung holds ``factor`` values, only a value that ties or beats the best so far goes on.
    """
    values = sorted([*competing, value], reverse=True)
    keep = max(1, len(values) // factor)
    return value >= values[keep - 1]


def mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


class RungMemo:
    """Every seed's result at every rung recorded in the study, by architecture: replayed, not retrained.

    A trial records each seed's result the moment it lands (:data:`SEED_ATTR`), so when a killed
    run's trial is queued again its finished rungs come from here. Records are read from trials in
    any state (an interrupted trial's finished rungs are exactly what must not be lost).
    """

    def __init__(self) -> None:
        self._records: dict[tuple[str, int, int], dict[str, Any]] = {}

    def update(self, trials: Iterable[Any]) -> None:
        for trial in trials:
            key = trial.user_attrs.get("blocks")
            if not key:
                continue
            for name, record in trial.user_attrs.items():
                parts = name.split(":")
                if len(parts) == 3 and parts[0] == "rung" and isinstance(record, dict) \
                        and isinstance(record.get("accuracy"), (int, float)):
                    try:
                        self._records.setdefault((key, int(parts[1]), int(parts[2])), record)
                    except ValueError:
                        continue

    def put(self, key: str, rung: int, seed: int, record: dict[str, Any]) -> None:
        self._records.setdefault((key, rung, seed), record)

    def get(self, key: str, rung: int, seed: int) -> dict[str, Any] | None:
        return self._records.get((key, rung, seed))

    def __len__(self) -> int:
        return len(self._records)
