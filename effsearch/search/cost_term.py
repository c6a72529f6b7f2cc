"""The reward's cost term of a candidate, known before it is trained: what the controller's screen weighs.

The reward is ``ACC * (COST/T)^w`` (:mod:`effsearch.search.reward`), and for a counted objective (MACs,
params) the second factor is exact arithmetic on the spec. The controller's surrogate therefore models
accuracy (the reward divided by this term) and scores each proposal by its predicted accuracy times
its own exact term (:mod:`effsearch.controller.propose`): it never proposes a network over the target
because it has not yet *learned* the cliff, which on a 100M-MAC target took the policy alone more
trials than a 40-minute search holds (``benchmarks/README.md``). A candidate the search would reject
untrained, or one the space cannot build, has term 0.

A measured objective (latency) costs a measurement per proposal, so it gets no term and the screen
models the reward as it is.
"""

from __future__ import annotations

from typing import Any

from effsearch.arch.cost import count
from effsearch.errors import EffsearchError
from effsearch.search.reward import RewardConfig, exponent, rejection

COUNTED = ("macs", "params")


class CostTerm:
    """``(COST/T)^w`` of an architecture's params, 0 when it would be rejected; picklable.

    ``reward`` is read at every call: an ``auto`` reward's exponents, measured once the study is
    open, are set here by the search (:meth:`use`).
    """

    def __init__(self, space: Any, reward: RewardConfig) -> None:
        self.space, self.reward = space, reward

    def use(self, reward: RewardConfig) -> None:
        self.reward = reward

    def __call__(self, params: dict[str, Any]) -> float:
        try:
            counted = count(self.space.to_spec(params))
        except EffsearchError:  # a combination the space cannot build: its trial fails untrained
            return 0.0
        cost = float(getattr(counted, self.reward.objective))
        if rejection(cost, self.reward):
            return 0.0
        return float((cost / self.reward.target) ** exponent(cost, self.reward))


def cost_term(space: Any, reward: RewardConfig, objectives: int) -> CostTerm | None:
    """The term for a single-objective search over a counted objective; ``None`` otherwise."""
    if objectives != 1 or reward.objective not in COUNTED:
        return None
    return CostTerm(space, reward)
