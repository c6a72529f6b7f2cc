"""The parameters the controller learns when no search space is given: inferred from complete trials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from effsearch.controller.learner import controllable

if TYPE_CHECKING:
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import FrozenTrial


class InferredSpace:
    """The categorical parameters (two or more choices) every complete trial suggested alike.

    Ordered as the earliest complete trial suggested them, so the policy's decisions follow the
    objective's own order whichever trial finished first.
    """

    def __init__(self) -> None:
        self.common: dict[str, CategoricalDistribution] | None = None
        self.order: tuple[int, list[str]] = (-1, [])  # (trial number, its parameter order), earliest trial

    def take(self, trial: FrozenTrial) -> None:
        dists = controllable(trial.distributions)
        if self.common is None:
            self.common = dists
        else:
            self.common = {n: d for n, d in self.common.items() if dists.get(n) == d}
        if self.order[0] < 0 or trial.number < self.order[0]:
            self.order = (trial.number, list(trial.distributions))

    def space(self) -> dict[str, CategoricalDistribution]:
        if not self.common:
            return {}
        order = {name: i for i, name in enumerate(self.order[1])}
        return dict(sorted(self.common.items(), key=lambda item: order.get(item[0], len(order))))
