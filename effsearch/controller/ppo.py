"""Policy-gradient mathematics for the controller: PPO (the default) and REINFORCE.

Each trial is one decision sequence with one reward. The advantage is the reward minus an
exponential moving average of past rewards (MnasNet's baseline), divided by an exponential moving
RMS of those deviations, so one learning rate suits rewards of any scale (0.7 +- 0.02 for an
accuracy-based reward, thousands for someone else's objective).

PPO (Schulman et al. 2017) clips the probability ratio of every *decision* against the policy that
sampled it (``logp_old``, stored with each trial), so a batch can be used for several epochs and
trials sampled by an older policy (workers in flight, a resumed study) are weighted correctly.
Per-decision clipping lets each of the many decisions move by up to ``clip`` per update; clipping
the whole sequence's ratio would throttle learning as sequences grow. REINFORCE (Williams 1992) is
the plain ``-A * log pi`` estimator, one step per batch.

Everything here is a pure function of tensors and floats; :mod:`effsearch.controller.sampler`
owns the state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from effsearch.controller.policy import Policy

MAX_GRAD_NORM = 5.0
"""Gradient norm cap: one outlier reward must not wreck a policy learned over hundreds of trials."""


@dataclass(frozen=True)
class Batch:
    """Finished trials as tensors: ``actions [n, steps]``, ``rewards [n]``, ``logp_old [n, steps]`` (NaN rows unknown)."""

    actions: torch.Tensor
    rewards: torch.Tensor
    logp_old: torch.Tensor


@dataclass
class Baseline:
    """Exponential moving average of the reward and of its squared deviation from that average."""

    decay: float
    mean: float | None = None
    var: float | None = None
    scale_decay: float | None = None  # the RMS's own decay; None: ``decay``

    def advantages(self, rewards: torch.Tensor) -> torch.Tensor:
        """Rewards against the baseline *before* this batch moves it, in units of the running RMS."""
        if self.mean is None:
            # First batch: its own mean and spread are the only estimate there is.
            centred = rewards - rewards.mean()
            scale = float(centred.pow(2).mean().sqrt())
        else:
            centred = rewards - self.mean
            scale = math.sqrt(self.var or 0.0)
        return centred / scale if scale > 1e-12 else torch.zeros_like(rewards)

    def update(self, rewards: torch.Tensor) -> None:
        """Fold the batch in one reward at a time, as MnasNet's per-sample moving average does."""
        values = rewards.tolist()
        if self.mean is None:
            self.mean = sum(values) / len(values)
            self.var = sum((r - self.mean) ** 2 for r in values) / len(values)
            return
        keep = self.decay if self.scale_decay is None else self.scale_decay
        for r in values:
            self.var = keep * self.var + (1 - keep) * (r - self.mean) ** 2
            self.mean = self.decay * self.mean + (1 - self.decay) * r


def _ppo_loss(logp: torch.Tensor, logp_old: torch.Tensor, adv: torch.Tensor, clip: float) -> torch.Tensor:
    """Clipped surrogate objective, per decision, averaged over decisions and trials (to minimise)."""
    ratio = torch.exp(logp - logp_old)
    adv = adv[:, None]
    surrogate = torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
    return -surrogate.mean()


def _reinforce_loss(logp: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """``-A * log pi(sequence)``, with the sequence log-probability averaged per decision."""
    return -(adv[:, None] * logp).mean()


def _fill_unknown(policy: Policy, batch: Batch) -> torch.Tensor:
    """``logp_old`` with rows the trial did not record (enqueued, random) taken from the current policy."""
    unknown = torch.isnan(batch.logp_old).any(1)
    if not unknown.any():
        return batch.logp_old
    with torch.no_grad():
        current, _ = policy.evaluate(batch.actions)
    return torch.where(unknown[:, None], current, batch.logp_old)


def policy_update(
    policy: Policy,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    baseline: Baseline,
    *,
    algorithm: str,
    epochs: int,
    clip: float,
    entropy_weight: float,
) -> dict[str, float]:
    """One controller update on ``batch``; moves ``baseline`` and returns diagnostics."""
    adv = baseline.advantages(batch.rewards)
    logp_old = _fill_unknown(policy, batch)
    steps = epochs if algorithm == "ppo" else 1
    for _ in range(steps):
        logp, entropy = policy.evaluate(batch.actions)
        loss = _ppo_loss(logp, logp_old, adv, clip) if algorithm == "ppo" else _reinforce_loss(logp, adv)
        loss = loss - entropy_weight * entropy.mean()
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), MAX_GRAD_NORM)
        optimizer.step()
    baseline_before, scale = baseline.mean, baseline.var
    baseline.update(batch.rewards)
    # Entropy per decision as a share of that decision's uniform entropy: 1 explores everything,
    # 0 has collapsed onto one choice, comparable across spaces whose decisions differ in size.
    uniform = torch.log(torch.tensor(policy.sizes, dtype=torch.float32))
    share = (entropy.detach() / uniform).mean()
    return {"loss": float(loss.detach()), "entropy": float(entropy.mean().detach()), "entropy_share": float(share),
            "reward_mean": float(batch.rewards.mean()), "reward_sd": float(batch.rewards.std(unbiased=False)),
            "baseline": baseline_before if baseline_before is not None else float(batch.rewards.mean()),
            "advantage_scale": math.sqrt(scale) if scale is not None else float(batch.rewards.std(unbiased=False))}
