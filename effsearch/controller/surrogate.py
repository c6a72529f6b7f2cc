"""A Bayesian linear model of the reward over one-hot decisions: the screen of the controller's proposals.

The reward of an architecture is modelled as a sum of one value per (decision, choice), which is how
accuracy and MACs mostly behave over a cell-free space (each stage's choices add their own effect),
with a Gaussian prior on the values and Gaussian noise. The posterior is exact (one small linear
solve). Its posterior mean scores a set of proposals, or a *Thompson draw* from it does: the
proposal that is best under one plausible model is evaluated, so unexplored choices keep a chance in
proportion to how little is known about them; the optima of such draws join the proposals. The
noise variance is re-estimated from the residuals at every fit, so a noisy objective widens the
posterior instead of over-fitting single scores.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from threadpoolctl import threadpool_limits

MIN_ROWS = 8
"""Evaluated trials before the surrogate screens or judges (fewer fit nothing but the mean)."""
PRIOR_PRECISION = 1.0
"""Per value, in units of the reward's own SD: shrinks values of choices seen a few times towards 0."""


def one_hot(actions: Sequence[Sequence[int]], sizes: Sequence[int]) -> np.ndarray:
    """``[n, sum(sizes)]`` indicator matrix plus a constant column for the mean."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x = np.zeros((len(actions), int(sum(sizes)) + 1))
    x[:, -1] = 1.0
    if len(actions):
        rows = np.repeat(np.arange(len(actions)), len(sizes))
        x[rows, (np.asarray(actions) + offsets).ravel()] = 1.0
    return x


def normal_scores(values: Sequence[float]) -> np.ndarray:
    """``values`` replaced by the standard normal quantiles of their ranks, ``ppf((rank - 1/2) / n)``, ties sharing
    their average rank: the same order, on a scale where a cliff or a few outliers weigh no more than their place."""
    from scipy.special import ndtri  # scipy.special imports quickly; scipy.stats, for rankdata, does not

    y = np.asarray(values, dtype=float)
    order = np.argsort(y, kind="stable")
    ascending = y[order]
    first = np.r_[True, ascending[1:] != ascending[:-1]]  # where each distinct value starts in sorted order
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(y)]
    ranks = np.empty(len(y))
    ranks[order] = ((starts + 1 + ends) / 2.0)[np.cumsum(first) - 1]  # 1-based average rank of each tie group
    return ndtri((ranks - 0.5) / len(y))


class Surrogate:
    """The posterior over per-choice reward values given evaluated ``(actions, reward)`` rows.

    Everything comes from one eigendecomposition of the small ``[features, features]`` Gram matrix
    (ridge fit, its effective degrees of freedom, the posterior and its draws), on one BLAS thread:
    the matrices are tiny and several threads only contend with the trainings on the same cores.
    """

    def __init__(self, sizes: Sequence[int], actions: Sequence[Sequence[int]], rewards: Sequence[float]) -> None:
        self.sizes = tuple(sizes)
        y = np.asarray(rewards, dtype=float)
        self.centre, self.spread = float(y.mean()), float(y.std()) or 1.0
        x = one_hot(actions, self.sizes)
        z = (y - self.centre) / self.spread
        with threadpool_limits(1):
            eigen, vectors = np.linalg.eigh(x.T @ x)
            eigen = np.clip(eigen, 0.0, None)
            projected = vectors.T @ (x.T @ z)
            # Noise variance by one fixed-point step from the ridge fit: residual variance over the
            # ridge's effective degrees of freedom, kept in [0.01, 1] of the reward's variance so a
            # perfect fit still leaves room to explore.
            ridge = vectors @ (projected / (eigen + PRIOR_PRECISION))
            dof = max(len(y) - float(np.sum(eigen / (eigen + PRIOR_PRECISION))), 1.0)
            self.noise = float(np.clip(np.sum((z - x @ ridge) ** 2) / dof, 0.01, 1.0))
            posterior = eigen / self.noise + PRIOR_PRECISION  # precision along each eigenvector
            self.mean = vectors @ (projected / self.noise / posterior)
            self._root = vectors * (1.0 / np.sqrt(posterior))  # cov = root @ root.T

    @property
    def cov(self) -> np.ndarray:
        return self._root @ self._root.T

    def draw(self, rng: np.random.Generator) -> np.ndarray:
        """One set of per-choice values from the posterior (a Thompson draw)."""
        return self.mean + self._root @ rng.standard_normal(len(self.mean))

    def predict(self, actions: Sequence[Sequence[int]], values: np.ndarray | None = None) -> np.ndarray:
        """Rewards of ``actions`` under ``values`` (default: the posterior mean), in reward units."""
        weights = self.mean if values is None else values
        return self.centre + self.spread * (one_hot(actions, self.sizes) @ weights)
