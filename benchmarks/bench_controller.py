"""Controller vs random vs TPE on a synthetic reward over the mnasnet space whose optimum is known.

The problem (one per seed ``s``): every choice of every decision of the mnasnet space gets a fixed
value drawn from N(0, 1) with seed ``s``; an architecture's score ``S`` is the sum of its 42 values.
Under uniform sampling ``S`` has an exactly known mean and standard deviation, and the
pseudo-accuracy is the logistic of the standardised score, ``acc = 1 / (1 + exp(-(S - mean) / std))``
(a typical random network scores 0.5, the best ones approach 1). The reward is the real MnasNet
reward on the real cost model: ``acc * (MACs / T) ** -0.07`` with ``T = 400M`` and MACs from
``effsearch.count(space.to_spec(params))`` at 224 (:func:`effsearch.search.reward.reward`).

The optimum is exact. ``S`` is additive over decisions, and a network's MACs are additive over its
stem, stages and head, where stage ``i``'s MACs depend only on its own decisions and its input width
(the previous stage's filters; spatial sizes are fixed by the space's strides). The reward grows with
``S`` and falls with MACs, so the optimum lies on the (max S, min MACs) Pareto front, and a
dynamic programme over blocks whose state is the previous block's filters, keeping only
non-dominated (S, MACs) partial sums per state, enumerates that front exactly (a partial network
dominated by another with the same state can be swapped for it in any completion without loss).
Every run re-checks the programme against brute force over all 4,096 networks of the small space
and checks the mnasnet optimum's reward through the real pipeline.

For each sampler and seed the benchmark counts the trials until the best reward reaches 95% of the
optimum (capped; runs that never get there are reported as censored) and prints medians. Samplers run
with their defaults (``MnasSampler(seed=s)``, ``RandomSampler(seed=s)``, ``TPESampler(seed=s)``) on
Optuna's in-memory storage. The controller's defaults were tuned on problems 100 to 114, not on the
problems 0 to 4 reported here.

    python benchmarks/bench_controller.py             # 5 seeds, cap 2000 trials (several minutes)
    python benchmarks/bench_controller.py --quick     # 2 seeds, cap 1000 (about a minute)

Each seed's table row also gives random search's exact per-draw odds of reaching the threshold,
estimated from uniform samples evaluated with the same per-block tables (so its median number of
trials is known even where the capped runs are censored).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch

from effsearch.arch.cost import block_cost, count, out_size
from effsearch.search.reward import RewardConfig, reward
from effsearch.search.space import SearchSpace, load_space

TARGET = 400e6
FRACTION = 0.95


@dataclass
class Problem:
    """A seeded additive score over one space's decisions, mapped to a pseudo-accuracy."""

    space: SearchSpace
    seed: int
    values: dict[str, np.ndarray] = field(init=False)
    mean: float = field(init=False)
    std: float = field(init=False)
    config: RewardConfig = field(default_factory=lambda: RewardConfig(target=TARGET, reject_above=None))
    _macs: dict[tuple, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.values = {name: rng.normal(size=len(choices)) for name, choices in self.space.decisions}
        # Exact moments under uniform sampling: the decisions are independent.
        self.mean = float(sum(v.mean() for v in self.values.values()))
        self.std = float(math.sqrt(sum(v.var() for v in self.values.values())))

    def score(self, params: dict[str, Any]) -> float:
        return float(sum(self.values[name][choices.index(params[name])] for name, choices in self.space.decisions))

    def accuracy_of_score(self, score: float) -> float:
        return 1.0 / (1.0 + math.exp(-(score - self.mean) / self.std))

    def macs(self, params: dict[str, Any]) -> int:
        key = tuple(params[name] for name, _ in self.space.decisions)
        if key not in self._macs:
            self._macs[key] = count(self.space.to_spec(params)).macs
        return self._macs[key]

    def reward(self, params: dict[str, Any]) -> float:
        return self.reward_of(self.score(params), self.macs(params))

    def reward_of(self, score: float, macs: float) -> float:
        return reward(self.accuracy_of_score(score), macs, self.config)


# -- per-block tables: the exact optimum and random search's exact odds both come from them ----------

@dataclass
class BlockTable:
    """One block, every combination of its decisions: params, score, output width, MACs per input width."""

    params: list[dict[str, Any]]
    score: np.ndarray
    out: np.ndarray
    macs: dict[int, np.ndarray]


def block_tables(problem: Problem) -> tuple[list[BlockTable], dict[int, int]]:
    """Tables for every block, and the stem + head + classifier MACs per last-block width."""
    space, tables = problem.space, []
    index = {name: {repr(v): i for i, v in enumerate(choices)} for name, choices in space.decisions}
    widths, size = {space.stem}, out_size(space.resolution, 2)
    for block in space.blocks:
        keys = [key for key, _ in block.choices]
        combos = list(itertools.product(*(values for _, values in block.choices)))
        fields = [dict(zip(keys, combo, strict=True)) for combo in combos]
        params = [{f"b{block.index}_{k}": v for k, v in f.items() if len(block.choice_map()[k]) > 1} for f in fields]
        score = np.array([sum(problem.values[n][index[n][repr(v)]] for n, v in p.items()) for p in params])
        specs = {w: [block.resolve(f, w, space.act) for f in fields] for w in sorted(widths)}
        macs = {w: np.array([block_cost(spec, size)[0].macs for spec in specs[w]], dtype=np.int64) for w in specs}
        out = np.array([spec.out_chs for spec in next(iter(specs.values()))])
        tables.append(BlockTable(params, score, out, macs))
        widths, size = set(out.tolist()), out_size(size, block.stride)
    return tables, {w: _fixed_macs(space, w) for w in widths}


def _fixed_macs(space: SearchSpace, last_chs: int) -> int:
    """Stem, head and classifier MACs of any network of ``space`` whose last block has ``last_chs``."""
    probe = space.to_spec({name: choices[0] for name, choices in space.decisions})
    probe = probe.replace(blocks=(*probe.blocks[:-1], dataclasses.replace(probe.blocks[-1], out_chs=last_chs)))
    return sum(s.macs for s in count(probe).stages if s.name in ("stem", "head", "classifier"))


def _pareto(points: list[tuple[int, float, Any]]) -> list[tuple[int, float, Any]]:
    """Points not dominated in (lower MACs, higher score)."""
    points.sort(key=lambda p: (p[0], -p[1]))
    front, best = [], -math.inf
    for point in points:
        if point[1] > best:
            front.append(point)
            best = point[1]
    return front


def optimum(problem: Problem) -> tuple[float, dict[str, Any]]:
    """The exact best reward and its params (dynamic programme over blocks, see the module docstring)."""
    tables, fixed = block_tables(problem)
    fronts: dict[int, list[tuple[int, float, tuple]]] = {problem.space.stem: [(0, 0.0, ())]}
    for table in tables:
        merged: dict[int, list[tuple[int, float, tuple]]] = {}
        for width, partials in fronts.items():
            for out in np.unique(table.out):
                # Inside one block, a combination beaten on both score and MACs for the same
                # (input, output) widths is beaten in every completion: only its front can matter.
                rows = np.flatnonzero(table.out == out)
                local = _pareto([(int(table.macs[width][c]), float(table.score[c]), c) for c in rows])
                merged.setdefault(int(out), []).extend(
                    (m1 + m2, s1 + s2, (*path, c)) for m1, s1, path in partials for m2, s2, c in local)
        fronts = {out: _pareto(points) for out, points in merged.items()}
    best: tuple[float, tuple] = (-math.inf, ())
    for last, points in fronts.items():
        for macs, score, path in points:
            value = problem.reward_of(score, macs + fixed[last])
            if value > best[0]:
                best = (value, path)
    params = {k: v for table, c in zip(tables, best[1], strict=True) for k, v in table.params[c].items()}
    return best[0], params


def _random_rewards(problem: Problem, tables: list[BlockTable], fixed: dict[int, int],
                    rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rewards of ``n`` uniformly random networks, and their per-block combination indices."""
    width = np.full(n, problem.space.stem)
    macs, score = np.zeros(n, dtype=np.int64), np.zeros(n)
    combos = np.empty((len(tables), n), dtype=np.int64)
    for b, table in enumerate(tables):
        c = combos[b] = rng.integers(len(table.params), size=n)
        for w, row in table.macs.items():
            macs += np.where(width == w, row[c], 0)
        score += table.score[c]
        width = table.out[c]
    macs += np.array([fixed[int(w)] for w in width], dtype=np.int64)
    acc = 1.0 / (1.0 + np.exp(-(score - problem.mean) / problem.std))
    w = np.where(macs <= problem.config.target, problem.config.alpha, problem.config.beta)
    return acc * (macs / problem.config.target) ** w, combos


def random_hit_rate(problem: Problem, threshold: float, samples: int, seed: int = 0) -> float:
    """Fraction of uniformly random networks scoring at least ``threshold`` (vectorised, exact per sample)."""
    tables, fixed = block_tables(problem)
    rng, hits, chunk = np.random.default_rng(seed), 0, 250_000
    for start in range(0, samples, chunk):
        rewards, _ = _random_rewards(problem, tables, fixed, rng, min(chunk, samples - start))
        hits += int((rewards >= threshold).sum())
    return hits / samples


def check_optimum() -> None:
    """The programme against brute force on the small space, and the mnasnet optimum end to end."""
    small = Problem(load_space("small"), seed=123)
    names = [name for name, _ in small.space.decisions]
    brute = max(small.reward(dict(zip(names, combo, strict=True)))
                for combo in itertools.product(*(c for _, c in small.space.decisions)))
    value, params = optimum(small)
    assert math.isclose(value, brute, rel_tol=1e-12), (value, brute)
    assert math.isclose(small.reward(params), value, rel_tol=1e-12)
    big = Problem(load_space("mnasnet"), seed=0)
    value, params = optimum(big)
    assert math.isclose(big.reward(params), value, rel_tol=1e-12), (big.reward(params), value)
    rng = np.random.default_rng(1)
    for _ in range(500):
        sample = {name: choices[rng.integers(len(choices))] for name, choices in big.space.decisions}
        assert big.reward(sample) <= value
    # The vectorised evaluator behind random search's odds agrees with the real pipeline.
    tables, fixed = block_tables(big)
    rewards, combos = _random_rewards(big, tables, fixed, rng, 300)
    for i in range(300):
        sample = {k: v for b, table in enumerate(tables) for k, v in table.params[combos[b, i]].items()}
        assert math.isclose(big.reward(sample), rewards[i], rel_tol=1e-9)


# -- the race ----------------------------------------------------------------------------------------

def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    if name == "controller":
        from effsearch import MnasSampler

        return MnasSampler(seed=seed)
    if name == "controller-no-optima":  # the default before 2026-12-07: what the surrogate's optima cost and buy
        from effsearch import MnasSampler

        return MnasSampler(seed=seed, optima=0)
    if name == "controller-values":  # the screen fitted on the values, not their ranks: the default before ranks
        from effsearch import MnasSampler

        return MnasSampler(seed=seed, ranks=False)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")


SAMPLERS = ("controller", "random", "tpe")
EXTRA = ("controller-no-optima", "controller-values")
"""Samplers that run only when ``--samplers`` names them."""


def trials_to_reach(problem: Problem, sampler: optuna.samplers.BaseSampler, threshold: float, cap: int) -> tuple[int | None, float]:
    """Trials until the best reward reaches ``threshold`` (``None`` if not within ``cap``), and the best reward."""
    study = optuna.create_study(direction="maximize", sampler=sampler)  # in-memory storage
    hit: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        problem.space.suggest(trial)
        return problem.reward(trial.params)

    def stop(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.value is not None and trial.value >= threshold:
            hit.append(trial.number + 1)
            study.stop()

    study.optimize(objective, n_trials=cap, callbacks=[stop])
    return (hit[0] if hit else None), study.best_value


def median_trials(results: list[int | None], cap: int) -> str:
    """Median with censored runs counted as 'more than cap' (they sort last)."""
    ordered = sorted(results, key=lambda n: math.inf if n is None else n)
    middle = ordered[(len(ordered) - 1) // 2 : len(ordered) // 2 + 1]
    if any(n is None for n in middle):
        return f">{cap}"
    return f"{statistics.median(middle):g}"


def random_median(hits_rate: float, samples: int) -> str:
    """Random search's median trials to the first hit (geometric), from its per-draw odds.

    With no hit among ``samples`` draws the odds are below 3 / samples (95% upper bound, the rule of
    three), so the median is above the matching number of trials.
    """
    if hits_rate <= 0:
        return f">{math.log(2) / (3 / samples):,.0f}"
    return f"~{math.ceil(math.log(0.5) / math.log1p(-hits_rate)):,}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5, help="problems (and sampler seeds) 0..N-1 (default 5)")
    parser.add_argument("--cap", type=int, default=2000, help="trials per run before a run counts as censored")
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated subset of " + ", ".join(SAMPLERS) + " (also: " + ", ".join(EXTRA) + ")")
    parser.add_argument("--mc-samples", type=int, default=2_000_000, help="uniform samples to estimate random search's exact odds")
    parser.add_argument("--quick", action="store_true", help="2 seeds, cap 1000, 200k Monte Carlo samples")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.cap, args.mc_samples = 2, 1000, 200_000
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = [s.strip() for s in args.samplers.split(",") if s.strip()]

    started = time.perf_counter()
    check_optimum()
    print(f"optimum check (DP vs brute force on small, end-to-end on mnasnet): ok ({time.perf_counter() - started:.1f}s)")
    results: dict[str, list[int | None]] = {name: [] for name in samplers}
    seconds: dict[str, float] = dict.fromkeys(samplers, 0.0)
    print(f"{'seed':>4} {'optimum':>8} {'opt MACs':>9} {'random odds':>12} {'random median':>14}  "
          + "  ".join(f"{s:>14}" for s in samplers))
    for seed in range(args.seeds):
        problem = Problem(load_space("mnasnet"), seed=seed)
        value, params = optimum(problem)
        rate = random_hit_rate(problem, FRACTION * value, args.mc_samples, seed=seed)
        cells = []
        for name in samplers:
            t0 = time.perf_counter()
            n, best = trials_to_reach(problem, make_sampler(name, seed), FRACTION * value, args.cap)
            seconds[name] += time.perf_counter() - t0
            results[name].append(n)
            cells.append(f"{n if n is not None else f'>{args.cap}':>6} ({best / value:.3f})")
        print(f"{seed:>4} {value:8.4f} {problem.macs(params) / 1e6:8.1f}M {rate:12.2e} "
              f"{random_median(rate, args.mc_samples):>14}  " + "  ".join(f"{c:>14}" for c in cells), flush=True)
    print("(cells: trials to reach the threshold, and in brackets the best reward found / optimum)")
    print(f"\ntrials to reach {FRACTION:.0%} of the exact optimum, median over {args.seeds} seeds (cap {args.cap}):")
    per_trial = {}
    for name in samplers:
        ran = sum(args.cap if n is None else n for n in results[name])
        per_trial[name] = seconds[name] / ran
        print(f"  {name:<11} {median_trials(results[name], args.cap):>7}   "
              f"censored {sum(n is None for n in results[name])}/{args.seeds}   "
              f"{seconds[name]:.0f}s, {1000 * per_trial[name]:.1f} ms per trial")
    for extra in (e for e in EXTRA if "controller" in per_trial and e in per_trial):
        print(f"time per trial, controller / {extra} (same process): {per_trial['controller'] / per_trial[extra]:.2f}")
    if "controller" in results:
        ctrl = median_trials(results["controller"], args.cap)
        for name in (s for s in samplers if s != "controller"):
            other = median_trials(results[name], args.cap)
            if ctrl.startswith(">"):
                verdict = "controller censored"
            elif other.startswith(">"):
                verdict = f"ratio < {float(ctrl) / float(other[1:]):.2f} ({name} censored at the cap)"
            else:
                verdict = f"ratio {float(ctrl) / float(other):.2f}"
            print(f"controller vs {name}: {ctrl} / {other} trials, {verdict}")
    print(f"total {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
