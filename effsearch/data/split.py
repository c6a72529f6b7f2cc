"""Seeded stratified test and train/validation splits, per-channel statistics and batch normalisation.

Every data set has a test split that no search touches: the official one where the files have one,
else :func:`carve_test`, a stratified ``TEST_FRACTION`` of the images under the fixed ``TEST_SEED``
(independent of any run's seed), taken *before* the train/validation split. The validation split is
then held out from what remains, so a search is tuned on train/val only and ``effsearch train``
reports top-1 on the test split once, at the end.
"""

from __future__ import annotations

import torch

from effsearch.errors import DataError

TEST_FRACTION = 0.2
TEST_SEED = 0  # fixed: every search seed and every training sees the same test images


def stratified_split(labels: torch.Tensor, val_fraction: float, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(train, val)``: each class contributes ``round(val_fraction * n_class)`` to val.

    Every class with at least two examples keeps at least one example on each side, so small data
    sets still validate on every class. The result depends only on the labels and ``seed``.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"val_fraction {val_fraction!r} is invalid; use a number between 0 and 1, e.g. 0.2")
    gen = torch.Generator().manual_seed(int(seed))
    train, val = [], []
    for cls in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == cls).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = round(val_fraction * len(idx))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    # Sorted indices keep the stored order (and memory locality); shuffling happens per epoch.
    return torch.cat(train).sort().values, torch.cat(val).sort().values


def stratified_subset(labels: torch.Tensor, limit: int, *, seed: int = 0) -> torch.Tensor:
    """Sorted indices of about ``limit`` examples with the class proportions of ``labels``."""
    if limit >= len(labels):
        return torch.arange(len(labels))
    _, keep = stratified_split(labels, limit / len(labels), seed=seed)
    return keep


def carve_test(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(rest, test)``: the held-out test split of a data set without an official one.

    Stratified, ``TEST_FRACTION`` of each class, always with ``TEST_SEED``: it depends only on the labels.
    """
    return stratified_split(labels, TEST_FRACTION, seed=TEST_SEED)


def channel_stats(x: torch.Tensor, scale: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of ``x * scale`` (images N,C,H,W), computed in float64 chunks."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    total_sq = torch.zeros_like(total)
    for chunk in torch.split(x, 4096):
        c = chunk.to(torch.float64) * scale
        total += c.sum((0, 2, 3))
        total_sq += (c * c).sum((0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def normalise(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], scale: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``(x * scale - mean) / std`` per channel as one fused multiply-add on a batch."""
    mean_t = torch.tensor(mean, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    inv_std = 1.0 / torch.tensor(std, dtype=dtype, device=x.device).view(1, -1, 1, 1)
    return torch.addcmul(-mean_t * inv_std, x.to(dtype), inv_std * scale)
