"""The noise-aware pick: is the best finalist better than the runner-up by more than the seeds' noise?

At the top rung each finalist trains with the same seeds (common random numbers), so its per-seed
rewards form a finalists x seeds table. A seed moves every network's accuracy partly together
(a lucky data order helps all), so the noise that matters for "is A better than B" is what is left
after removing each architecture's mean and each seed's mean: the residual of the two-way fit
``r[i, s] = mu + arch[i] + seed[s] + e``. Its variance, with ``(n - 1)(S - 1)`` degrees of freedom,
gives the standard deviation of the difference of two finalists' seed means,
``sqrt(2 var(e) / S)``. The runner-up is *within the noise* when the gap in reward is below twice
that (about a 95% two-sided interval for a difference). For comparison the record also gives the
unpaired figure, from each network's spread around its own mean (the seed's shared effect left in):
how much the common seeds narrowed the comparison.
"""

from __future__ import annotations

import math
from typing import Any

Z = 2.0
"""Gaps below Z standard deviations of a paired difference are called within the noise."""


def residual_noise(table: list[list[float]]) -> dict[str, Any] | None:
    """The two-way fit's residual SD and the SD of a paired difference of means; ``None`` if unmeasurable."""
    rows = [list(map(float, r)) for r in table]
    if len(rows) < 2 or not rows[0] or len(rows[0]) < 2 or any(len(r) != len(rows[0]) for r in rows):
        return None
    n, seeds = len(rows), len(rows[0])
    grand = math.fsum(map(math.fsum, rows)) / (n * seeds)
    arch = [math.fsum(r) / seeds for r in rows]
    seed = [math.fsum(r[s] for r in rows) / n for s in range(seeds)]
    ss = math.fsum((rows[i][s] - arch[i] - seed[s] + grand) ** 2 for i in range(n) for s in range(seeds))
    var = ss / ((n - 1) * (seeds - 1))
    # Without pairing the seed's shared effect stays in: the spread of each network around its own mean.
    within = math.fsum((rows[i][s] - arch[i]) ** 2 for i in range(n) for s in range(seeds)) / (n * (seeds - 1))
    return {"residual_sd": math.sqrt(var), "sd_of_difference": math.sqrt(2 * var / seeds),
            "sd_of_unpaired_difference": math.sqrt(2 * within / seeds), "finalists": n, "seeds": seeds}


def pick_summary(finalists: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the pick rests on. ``finalists``: ``number``, ``reward`` (of the seed mean), ``accuracy``, ``seed_accuracies``.

    Returns the best and the runner-up, the gap between them, the noise measured over the
    finalists that trained with every seed, and ``within_noise`` (``None`` when there was one seed).
    """
    ranked = sorted((f for f in finalists if isinstance(f.get("reward"), (int, float)) and math.isfinite(f["reward"])),
                    key=lambda f: (-f["reward"], f["number"]))
    if not ranked:
        return None
    best = ranked[0]
    out: dict[str, Any] = {"best": int(best["number"]), "best_reward": float(best["reward"]), "finalists": len(ranked),
                           "runner_up": None, "gap": None, "noise": None, "within_noise": None}
    if len(ranked) > 1:
        second = ranked[1]
        out.update(runner_up=int(second["number"]), runner_up_reward=float(second["reward"]),
                   gap=float(best["reward"] - second["reward"]))
    table = [_seed_rewards(f) for f in ranked]
    width = max((len(r) for r in table if r), default=0)
    noise = residual_noise([r for r in table if r and len(r) == width]) if width > 1 else None
    if noise is not None:
        out["noise"] = {k: (round(v, 6) if isinstance(v, float) else v) for k, v in noise.items()}
        if out["gap"] is not None:
            out["within_noise"] = bool(out["gap"] < Z * noise["sd_of_difference"])
    return out


def _seed_rewards(finalist: dict[str, Any]) -> list[float]:
    """Per-seed rewards: each seed's accuracy times the finalist's cost factor (reward / mean accuracy)."""
    seeds = finalist.get("seed_accuracies")
    if isinstance(seeds, str):
        seeds = [float(x) for x in seeds.split()]
    accuracy = finalist.get("accuracy")
    if not seeds or not isinstance(accuracy, (int, float)) or not accuracy > 0:
        return []
    factor = float(finalist["reward"]) / float(accuracy)
    return [float(a) * factor for a in seeds]


def describe(pick: dict[str, Any] | None) -> str | None:
    """One line for the summary: whether the runner-up is within the measured noise."""
    if not pick or pick.get("runner_up") is None:
        return None
    head = f"runner-up trial {pick['runner_up']} is {pick['gap']:.4f} reward behind trial {pick['best']}"
    noise = pick.get("noise")
    if noise is None:
        return head + "; seed noise not measured (one seed at the top rung: train the finalists with two seeds to measure it)"
    bound = Z * noise["sd_of_difference"]
    verdict = "within the noise: either is as good a pick" if pick["within_noise"] else "beyond the noise"
    unpaired = noise.get("sd_of_unpaired_difference")
    unpaired_text = f"; {Z * unpaired:.4f} without common seeds" if isinstance(unpaired, float) else ""
    return (f"{head}: {verdict} (2 x SD of a paired difference = {bound:.4f}{unpaired_text}, from "
            f"{noise['finalists']} finalists x {noise['seeds']} seeds)")
