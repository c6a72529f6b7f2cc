"""The controller's policy: an LSTM that emits one categorical decision per step (MnasNet, ENAS).

Step ``t`` reads the embedding of decision ``t-1``'s choice (a learned start vector at step 0),
advances the LSTM one step and scores decision ``t``'s choices with its own linear head. The heads
start at zero, so an untrained policy is exactly uniform: the first samples are a random search,
and every departure from it is learned.

Sampling runs the LSTM one step at a time; scoring known sequences (training) runs it over whole
sequences at once, which is the same computation in one fused call. The policy is tiny (tens of
thousands of weights) and always runs on the CPU, where batch-of-one steps are cheapest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn


class Policy(nn.Module):
    """An autoregressive categorical policy over ``len(sizes)`` decisions with ``sizes[t]`` choices."""

    def __init__(self, sizes: Sequence[int], *, hidden_size: int = 64, embed_size: int = 32) -> None:
        super().__init__()
        if not sizes or min(sizes) < 2:
            raise ValueError(f"every decision needs at least two choices, got sizes {list(sizes)}")
        self.sizes = tuple(int(k) for k in sizes)
        self.hidden_size = hidden_size
        offsets = torch.tensor([0, *self.sizes]).cumsum(0)
        # One embedding table and one output layer for all decisions, sliced per decision: the same
        # maths as a table and a head per decision, in a handful of tensor ops instead of hundreds.
        self.register_buffer("offsets", offsets[:-1].clone(), persistent=False)
        columns = torch.arange(int(offsets[-1]))
        own = (columns >= offsets[:-1, None]) & (columns < offsets[1:, None])  # [steps, total]: decision t's slice
        self.register_buffer("own", own, persistent=False)
        self.start = nn.Parameter(torch.zeros(embed_size))
        self.embed = nn.Embedding(int(offsets[-1]), embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, batch_first=True)
        self.head = nn.Linear(hidden_size, int(offsets[-1]))
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _logits(self, hidden: torch.Tensor, t: int) -> torch.Tensor:
        lo = int(self.offsets[t])
        return nn.functional.linear(hidden, self.head.weight[lo : lo + self.sizes[t]], self.head.bias[lo : lo + self.sizes[t]])

    def evaluate(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-step log-probabilities and entropies of ``actions`` (``[batch, steps]``), both ``[batch, steps]``."""
        batch, steps = actions.shape
        previous = self.embed(actions[:, :-1] + self.offsets[: steps - 1])
        inputs = torch.cat([self.start.expand(batch, 1, -1), previous], dim=1)
        hidden, _ = self.lstm(inputs)
        # All steps at once: each step's softmax runs over its own decision's slice of the output.
        logits = self.head(hidden).masked_fill(~self.own, -math.inf)
        logp_all = torch.log_softmax(logits, dim=-1)
        logp = logp_all.gather(2, (actions + self.offsets)[..., None]).squeeze(2)
        entropy = -(logp_all.exp() * logp_all.masked_fill(~self.own, 0.0)).sum(-1)
        return logp, entropy

    @torch.no_grad()
    def sample(self, generator: torch.Generator, forced: dict[int, int] | None = None,
               temperature: float = 1.0) -> tuple[list[int], list[float]]:
        """One decision sequence and the log-probability of each step under the policy.

        ``forced`` pins some steps to given choices (an enqueued trial's fixed params); the later
        steps are still sampled conditioned on them. A ``temperature`` above 1 draws from the
        flattened distribution (the log-probabilities returned are still the policy's own).
        """
        forced = forced or {}
        uniforms = torch.rand(len(self.sizes), generator=generator).tolist()
        actions, logps = [], []

        def choose(t: int, logp: torch.Tensor) -> int:
            if t in forced:
                return forced[t]
            return _draw(logp if temperature == 1.0 else torch.log_softmax(logp / temperature, dim=-1), uniforms[t])

        for t, logp in self._walk(choose, actions):
            logps.append(float(logp[actions[t]]))
        return actions, logps

    @torch.no_grad()
    def sample_batch(self, uniforms: torch.Tensor, temperatures: torch.Tensor,
                     forced: dict[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``len(uniforms)`` sequences at once: ``uniforms [batch, steps]`` drive inverse-CDF draws at
        ``temperatures [batch]``; returns actions and the policy's own log-probabilities, both ``[batch, steps]``.

        Row ``i`` is exactly what :meth:`sample` draws from the same uniforms at temperature ``temperatures[i]``.
        """
        forced = forced or {}
        lstm, batch = self.lstm, uniforms.shape[0]
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        x = self.start.expand(batch, -1)
        state = (torch.zeros(batch, self.hidden_size), torch.zeros(batch, self.hidden_size))
        actions = torch.zeros(batch, len(self.sizes), dtype=torch.long)
        logps = torch.zeros(batch, len(self.sizes))
        for t, size in enumerate(self.sizes):
            state = torch.lstm_cell(x, state, *weights)
            logp = torch.log_softmax(self._logits(state[0], t), dim=-1)
            if t in forced:
                action = torch.full((batch,), forced[t], dtype=torch.long)
            else:
                cdf = torch.softmax(logp / temperatures[:, None], dim=-1).cumsum(1)
                action = (cdf <= uniforms[:, t, None] * cdf[:, -1:]).sum(1).clamp(max=size - 1)
            actions[:, t] = action
            logps[:, t] = logp.gather(1, action[:, None]).squeeze(1)
            x = self.embed.weight[int(self.offsets[t]) + action]
        return actions, logps

    def _walk(self, choose: Callable[[int, torch.Tensor], int], actions: list[int]) -> Iterator[tuple[int, torch.Tensor]]:
        """Run the LSTM step by step; ``choose`` picks each step's action from its log-probabilities."""
        lstm = self.lstm  # one cell step with the LSTM's own weights: same maths, a tenth of the call overhead
        weights = (lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, lstm.bias_hh_l0)
        x, state = self.start.view(1, -1), (torch.zeros(1, self.hidden_size), torch.zeros(1, self.hidden_size))
        for t in range(len(self.sizes)):
            state = torch.lstm_cell(x, state, *weights)
            logp = torch.log_softmax(self._logits(state[0][0], t), dim=-1)
            actions.append(int(choose(t, logp)))
            yield t, logp
            x = self.embed.weight[int(self.offsets[t]) + actions[t]].view(1, -1)

    @torch.no_grad()
    def probabilities(self, actions: Sequence[int] | None = None) -> list[list[float]]:
        """Each step's choice probabilities along ``actions`` (default: the most likely path)."""
        path: list[int] = []
        choose = (lambda t, logp: int(logp.argmax())) if actions is None else (lambda t, logp: int(actions[t]))
        return [logp.exp().tolist() for _, logp in self._walk(choose, path)]


def _draw(logp: torch.Tensor, uniform: float) -> int:
    """Inverse-CDF draw: the first choice whose cumulative probability exceeds ``uniform``."""
    cdf = logp.exp().cumsum(0)
    return min(int((cdf <= uniform * float(cdf[-1])).sum()), logp.numel() - 1)
