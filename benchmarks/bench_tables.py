"""Samplers as optimisers on tables of real trained networks: the controller against TPE, random search
and regularised evolution, with the noise of real seeds.

A *table* holds every architecture of a space with what training measured for it, so a search costs
lookups instead of trainings and thousands of runs fit in minutes. Each sampler is a plain Optuna
sampler in a study over the space's categorical decisions (the controller as ``MnasSampler`` with the
space given, as ``effsearch baseline`` builds it); an evaluation returns the reward of what the table
says about the architecture:

* ``supernet-small``: the 4,096 networks of the ``small`` space, each scored by the trained supernet
  of ``bench_supernet.py`` (``benchmarks/results/supernet-table/``). A score is deterministic, so
  the noisy setting adds Gaussian noise with the seed-to-seed SD that two standalone trainings of the
  same ``small`` networks measured (``benchmarks/results/supernet.json``, ``standalone``).
* ``micro``: every network of a small MBConv space trained standalone on Fashion-MNIST with three
  seeds (``bench_table_build.py``, ``benchmarks/results/micro-table/``). The noisy setting returns
  one recorded seed, drawn at random per evaluation; without noise an evaluation returns the mean.

Rewards: ``soft`` is MnasNet's ``acc * (MACs/T)^-0.07``; ``hard`` is ``acc`` within the target and
``acc * (MACs/T)^-1`` above it; ``reject`` is soft, with networks above 1.2 T rejected at reward 0
(what ``effsearch baseline`` tells the sampler for a candidate it rejects untrained). ``T`` is the table's median MACs, so half the space is over budget and
the hard reward's cliff runs through the middle of it.

Scores: the *pick* after ``n`` evaluations is the evaluated architecture with the best observed reward
(what a user would take; with ``--pick mean``, the best mean over its evaluations, as ``effsearch
baseline`` picks its finalist on the mean of its seeds, so an architecture measured again is not
judged on its luckiest value; with ``--pick shrunk``, the best posterior mean of a normal model whose
noise is pooled from the repeats, so a once-measured lucky value counts for less than a consistent
mean; with ``--pick finalists``, what a user of a plain study does and ``effsearch baseline`` does
with its finalists: the ``FINALISTS`` networks with the best observed values are trained again with
the table's seeds and the best seed mean is kept, so a sampler is judged on whether the best network
is among its top few, not on which of them drew a lucky value); its *regret* is the table optimum's
true reward minus the pick's true reward (mean over seeds), in reward points x100. *Evaluations to
top 0.5%*: the first evaluation of an architecture whose true reward is in the table's best 0.5%
(censored at the run's length).

    python benchmarks/bench_tables.py run --table supernet-small --samplers mnas,random,tpe,evolution --seeds 0-11
    python benchmarks/bench_tables.py run --table micro --samplers mnas,random,tpe,evolution --seeds 0-11
    python benchmarks/bench_tables.py report     # one table per setting
    python benchmarks/bench_tables.py summary    # every setting in one table
    python benchmarks/bench_tables.py compare --a mnas --b tpe   # paired by seed, bootstrap intervals
    python benchmarks/bench_tables.py entropy --table micro --reward hard --noise seeds --seeds 0-3
    python benchmarks/bench_tables.py best --budget 100   # how often each run found the table's best network
    python benchmarks/bench_tables.py standing --a mnas --b tpe --b random   # the medians' gap, its interval, sign tests

``oracle[top=K]`` is a reference rather than a sampler to compare: every evaluation is one of the table's
``K`` best networks, so its regret is what the pick loses to noise once a search has found them.

Repeats: in a plain Optuna study an architecture asked for again is trained again (``--repeats
evaluate``, the default: a new noisy value, one more evaluation). ``effsearch baseline`` answers it
from its cache instead, at no cost and with the first value; ``--repeats cached`` measures that,
counting trainings.

    python benchmarks/bench_tables.py run --table micro --repeats cached --seeds 0-11

``run`` appends one JSON line per (table, reward, noise, sampler, seed, repeats) to
``benchmarks/results/tables/runs.jsonl.gz`` and skips those already there (resumable). A sampler name may
carry controller settings for ablations, e.g. ``mnas[entropy_weight=0.02,batch_size=16]``;
``mnas[factor=true]`` gives the controller the reward's cost term from the table's MACs, as ``effsearch
baseline`` gives it the term from a candidate's counted MACs (``MnasSampler(reward_factor=...)``);
``tag=...`` only names rows (a prototype's, whose code differs from the committed one).
Seed sets measured into separate files are read as one with ``--also`` (a run in two files counts once):

    python benchmarks/bench_tables.py --out a.jsonl.gz --also b.jsonl.gz summary
"""

from __future__ import annotations

import argparse
import csv
import gzip
import heapq
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from filelock import FileLock

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "tables"
RUNS = RESULTS / "runs.jsonl.gz"
"""One gzip member per run, appended: a concatenation of gzip members is one valid gzip file."""
BUDGETS = (25, 50, 100, 200, 500)
TOP = 0.005
REJECT = 1.2
ASKS = 4
FINALISTS = 5
"""Distinct networks with the best observed values that the finalists pick trains again with every seed."""
FINAL_SEEDS = 3
"""Seeds a finalist is trained with: the micro table's recorded seeds; on supernet-small, Gaussian draws."""


@dataclass
class Table:
    """Every architecture of a space: its decisions, MACs and measured accuracies (one per seed)."""

    name: str
    decisions: list[tuple[str, list[Any]]]
    keys: list[tuple[int, ...]]  # choice index per decision
    macs: np.ndarray
    seeds: np.ndarray  # [architectures, seeds]; NaN where a seed is missing
    noise_sd: float | None = None  # Gaussian noise for tables without seeds

    def __post_init__(self) -> None:
        self.index = {k: i for i, k in enumerate(self.keys)}
        self.mean = np.nanmean(self.seeds, axis=1)
        self.target = float(np.median(self.macs))

    def reward(self, accuracy: np.ndarray | float, macs: np.ndarray | float, kind: str) -> np.ndarray:
        ratio = np.asarray(macs, dtype=float) / self.target
        if kind == "soft":
            return np.asarray(accuracy) * ratio ** -0.07
        if kind == "reject":  # soft, but above REJECT x T rejected untrained with reward 0, as effsearch baseline tells them
            return np.where(ratio <= REJECT, np.asarray(accuracy) * ratio ** -0.07, 0.0)
        return np.asarray(accuracy) * np.where(ratio <= 1, 1.0, ratio ** -1.0)

    def true_rewards(self, kind: str) -> np.ndarray:
        return self.reward(self.mean, self.macs, kind)


def _supernet_small() -> Table:
    from effsearch.search.flight import blocks_key
    from effsearch.search.space import load_space

    space = load_space("small")
    rows: dict[str, dict] = {}
    for path in sorted((HERE / "results" / "supernet-table").glob("small-uniform.*.csv")):
        with path.open() as f:
            rows.update({r["blocks"]: r for r in csv.DictReader(f)})
    decisions = space.decisions
    keys, macs, accs = [], [], []
    for combo in np.ndindex(*[len(c) for _, c in decisions]):
        params = {name: choices[i] for (name, choices), i in zip(decisions, combo, strict=True)}
        row = rows.get(blocks_key(space.to_spec(params)))
        if row is None:
            continue
        keys.append(tuple(int(i) for i in combo))
        macs.append(float(row["macs"]))
        accs.append([float(row["accuracy"])])
    return Table("supernet-small", decisions, keys, np.array(macs), np.array(accs), noise_sd=_standalone_sd(decisions))


def _standalone_sd(decisions: list[tuple[str, list[Any]]]) -> float:
    """Seed-to-seed SD of one standalone accuracy in the space: SD of the seed-0/1 difference over sqrt 2."""
    results = json.loads((HERE / "results" / "supernet.json").read_text())["standalone"]
    names = {name for name, _ in decisions}
    by_arch: dict[str, dict[int, float]] = {}
    for key, value in results.items():
        params, seed = key.rsplit("|", 1)
        if set(json.loads(params)) == names and value.get("accuracy") is not None:
            by_arch.setdefault(params, {})[int(seed)] = float(value["accuracy"])
    diffs = [v[0] - v[1] for v in by_arch.values() if 0 in v and 1 in v]
    return float(np.std(diffs, ddof=1) / math.sqrt(2))


def _micro() -> Table:
    from effsearch.search.space import load_space

    folder = HERE / "results" / "micro-table"
    space = load_space(HERE / "specs" / "micro.yaml")
    decisions = space.decisions
    by_key: dict[tuple[int, ...], dict[int, float]] = {}
    macs: dict[tuple[int, ...], float] = {}
    with (folder / "table.csv").open() as f:
        for r in csv.DictReader(f):
            params = json.loads(r["decisions"])
            key = tuple(choices.index(params[name]) for name, choices in decisions)
            by_key.setdefault(key, {})[int(r["seed"])] = float(r["accuracy"])
            macs[key] = float(r["macs"])
    seeds = sorted({s for v in by_key.values() for s in v})
    keys = sorted(by_key)
    matrix = np.array([[by_key[k].get(s, math.nan) for s in seeds] for k in keys])
    return Table("micro", decisions, keys, np.array([macs[k] for k in keys]), matrix)


TABLES = {"supernet-small": _supernet_small, "micro": _micro}


class Evolution(optuna.samplers.BaseSampler):
    """Regularised evolution (Real et al. 2019) as an Optuna sampler over categoricals.

    The population is the ``population`` most recent complete trials (ageing: the oldest dies), a
    parent is the best of ``sample`` drawn from it, and the child changes one decision of the
    parent to another choice. The first ``population`` trials are uniform.
    """

    def __init__(self, space: dict[str, Any], *, seed: int, population: int = 25, sample: int = 5) -> None:
        self.space, self.population, self.sample = space, population, sample
        self.rng = np.random.default_rng(seed)

    def infer_relative_search_space(self, study, trial):
        return self.space

    def sample_relative(self, study, trial, search_space):
        done = study._get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,), use_cache=True)
        if len(done) < self.population:
            return {n: d.choices[self.rng.integers(len(d.choices))] for n, d in search_space.items()}
        alive = done[-self.population:]
        picks = self.rng.choice(len(alive), size=self.sample, replace=False)
        parent = max((alive[i] for i in picks), key=lambda t: t.value)
        child = dict(parent.params)
        name = list(search_space)[self.rng.integers(len(search_space))]
        choices = [c for c in search_space[name].choices if c != child[name]]
        child[name] = choices[self.rng.integers(len(choices))]
        return child

    def sample_independent(self, study, trial, param_name, param_distribution):
        return param_distribution.choices[self.rng.integers(len(param_distribution.choices))]


class Oracle(optuna.samplers.BaseSampler):
    """A reference, not a competitor: every evaluation is one of the table's ``top`` best networks by true
    reward, drawn uniformly. It is a search that has already found the best networks, so its regret is
    what the pick loses to noise alone (``oracle[top=1]`` evaluates only the optimum)."""

    def __init__(self, space: dict[str, Any], factor: TableFactor, *, seed: int, top: int = 1) -> None:
        table = factor.table
        self.space = space
        self.best = [{name: choices[c] for (name, choices), c in zip(table.decisions, table.keys[i], strict=True)}
                     for i in np.argsort(-table.true_rewards(factor.kind), kind="stable")[:top]]
        self.rng = np.random.default_rng(seed)

    def infer_relative_search_space(self, study, trial):
        return self.space

    def sample_relative(self, study, trial, search_space):
        return dict(self.best[self.rng.integers(len(self.best))])

    def sample_independent(self, study, trial, param_name, param_distribution):
        raise AssertionError("every decision is sampled relatively")


def parse_sampler(text: str) -> tuple[str, dict[str, Any]]:
    """``mnas[lr=0.01,batch_size=16]`` -> ("mnas", {"lr": 0.01, "batch_size": 16})."""
    if "[" not in text:
        return text, {}
    name, rest = text.split("[", 1)
    settings = {}
    for item in rest.rstrip("]").split(","):
        key, value = item.split("=")
        settings[key] = json.loads(value) if value[:1].isdigit() or value[:1] in "-[{" or value in ("true", "false", "null") else value
    return name, settings


class TableFactor:
    """The reward's cost term of an architecture from its MACs in the table, as ``effsearch baseline``
    computes it from the spec before training (``mnas[factor=true]``)."""

    def __init__(self, table: Table, reward: str) -> None:
        self.table, self.kind = table, reward

    def __call__(self, params: dict[str, Any]) -> float:
        key = tuple(choices.index(params[name]) for name, choices in self.table.decisions)
        return float(self.table.reward(1.0, self.table.macs[self.table.index[key]], self.kind))


def sampler_list(text: str) -> list[str]:
    """``"mnas[local=2,optima=2];tpe"`` or ``"mnas,tpe"`` -> the samplers: split at ``;`` and at commas outside ``[...]``."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(text + ";"):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == ";" or (ch == "," and depth == 0):
            out.append(text[start:i].strip())
            start = i + 1
    return [s for s in out if s]


def make_sampler(text: str, space: dict[str, Any], seed: int, factor: TableFactor | None = None) -> optuna.samplers.BaseSampler:
    name, settings = parse_sampler(text)
    settings.pop("tag", None)  # a label for a prototype's rows: the code under test differs, not a setting
    if name == "mnas":
        from effsearch.controller import MnasSampler

        if settings.pop("factor", False):
            settings["reward_factor"] = factor
        return MnasSampler(seed=seed, search_space=space, **settings)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **settings)
    if name == "evolution":
        return Evolution(space, seed=seed, **settings)
    if name == "oracle":
        return Oracle(space, factor, seed=seed, **settings)
    raise SystemExit(f"bench_tables: unknown sampler {name!r}")


def shrunk_pick(sums: dict[int, list[float]]) -> int:
    """The architecture with the best posterior mean (``effsearch.search.noisy_best``: the noise pooled from the
    repeats, each mean shrunk towards the mean of all by its count). Every sampler's observations alike,
    nothing of its own; without repeats or without noise it is the best mean, so the max pick there."""
    from effsearch.search.noisy_best import posterior_means

    keys = list(sums)
    n = np.array([sums[k][1] for k in keys], dtype=float)
    m = np.array([sums[k][0] for k in keys]) / n
    squares = np.array([sums[k][2] for k in keys]) - n * m * m  # within-architecture sum of squares
    return keys[int(np.argmax(posterior_means(n, m, squares)))]


def finalists_pick(best_values: dict[int, float], retrained: Any, k: int = FINALISTS) -> int:
    """Of the ``k`` architectures with the best observed values, the one whose seed mean (``retrained(i)``) is best."""
    return max(heapq.nlargest(k, best_values, key=best_values.__getitem__), key=retrained)


def one_run(table: Table, reward: str, noise: str, sampler_text: str, seed: int, evaluations: int,
            repeats: str = "evaluate") -> dict[str, Any]:
    """One search of ``evaluations`` trainings (table lookups); returns its trace of true rewards and picks.

    ``repeats="evaluate"``: an architecture asked for again is trained again (a new noisy value), as
    in a plain Optuna study. ``"cached"``: it is answered with its first value and costs nothing,
    as ``effsearch baseline``'s cache answers it; the budget counts trainings (asks are capped at
    ``ASKS`` x ``evaluations``, after which a stuck sampler keeps its pick).
    """
    from optuna.distributions import CategoricalDistribution

    space = {name: CategoricalDistribution(choices) for name, choices in table.decisions}
    true = table.true_rewards(reward)
    best = float(true.max())
    top = float(np.quantile(true, 1 - TOP))
    rng = np.random.default_rng([seed, 7919])
    sampler = make_sampler(sampler_text, space, seed, TableFactor(table, reward))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    picked, evaluated, cache = [], [], {}

    def objective(trial: optuna.Trial) -> float:
        key = tuple(choices.index(trial.suggest_categorical(name, choices)) for name, choices in table.decisions)
        i = table.index[key]
        if repeats == "cached" and i in cache:
            return cache[i]
        if noise == "none":
            acc = table.mean[i]
        elif table.noise_sd is not None:
            acc = table.mean[i] + rng.normal(0.0, table.noise_sd)
        else:
            row = table.seeds[i][~np.isnan(table.seeds[i])]
            acc = row[rng.integers(len(row))]
        evaluated.append(i)
        cache[i] = float(table.reward(acc, table.macs[i], reward))
        return cache[i]

    start = time.perf_counter()
    best_seen, best_i, asks = -math.inf, -1, 0
    sums: dict[int, list[float]] = {}  # architecture -> [sum, count, sum of squares] of its observed rewards
    picked_mean: list[int] = []
    picked_shrunk: list[int] = []
    picked_final: list[int] = []
    best_values: dict[int, float] = {}  # architecture -> its best observed reward, as a study lists its trials
    retrain_rng = np.random.default_rng([seed, 104729])
    retrained: dict[int, float] = {}

    def seed_mean(i: int) -> float:
        """A finalist's reward on the mean of FINAL_SEEDS trainings, drawn once per run."""
        if i not in retrained:
            acc = table.mean[i]
            if noise != "none" and table.noise_sd is not None:
                acc = acc + retrain_rng.normal(0.0, table.noise_sd / math.sqrt(FINAL_SEEDS))
            retrained[i] = float(table.reward(acc, table.macs[i], reward))
        return retrained[i]
    while len(picked) < evaluations and asks < ASKS * evaluations:
        trial = study.ask()
        trained = len(evaluated)
        value = objective(trial)
        study.tell(trial, value)
        asks += 1
        if len(evaluated) == trained:
            continue  # answered from the cache: no training, no new pick
        if value > best_seen:
            best_seen, best_i = value, evaluated[-1]
        picked.append(best_i)
        s = sums.setdefault(evaluated[-1], [0.0, 0, 0.0])
        s[0] += value
        s[1] += 1
        s[2] += value * value
        # The mean pick: as effsearch baseline picks on the mean of a finalist's seeds, an architecture
        # measured again is judged on the mean of its values, not on its luckiest one.
        picked_mean.append(max(sums, key=lambda k: sums[k][0] / sums[k][1]))
        picked_shrunk.append(shrunk_pick(sums))
        best_values[evaluated[-1]] = max(value, best_values.get(evaluated[-1], -math.inf))
        picked_final.append(finalists_pick(best_values, seed_mean))
    picked += [best_i] * (evaluations - len(picked))
    picked_mean += picked_mean[-1:] * (evaluations - len(picked_mean))
    picked_shrunk += picked_shrunk[-1:] * (evaluations - len(picked_shrunk))
    picked_final += picked_final[-1:] * (evaluations - len(picked_final))
    hits = [n + 1 for n, i in enumerate(evaluated) if true[i] >= top]
    out = {
        "table": table.name, "reward": reward, "noise": noise, "sampler": sampler_text, "seed": seed,
        "evaluations": evaluations, "repeats": repeats, "asks": asks, "regret": [round(100 * (best - float(true[i])), 4) for i in picked],
        "regret_mean": [round(100 * (best - float(true[i])), 4) for i in picked_mean],
        "regret_shrunk": [round(100 * (best - float(true[i])), 4) for i in picked_shrunk],
        "regret_finalists": [round(100 * (best - float(true[i])), 4) for i in picked_final],
        # Evaluations of a network at the table's optimum: several can share it (a score rounded to its
        # validation set's resolution), and finding any of them is zero regret.
        "best_at": [n + 1 for n, i in enumerate(evaluated) if true[i] >= best], "ties": int(np.sum(true >= best)),
        "to_top": hits[0] if hits else None, "distinct": len(set(evaluated)), "seconds": round(time.perf_counter() - start, 2),
        # Share of each 50 evaluations over the target: how fast a sampler learns the budget's cliff.
        "over": [round(float(np.mean(table.macs[evaluated[i:i + 50]] > table.target)), 3) for i in range(0, len(evaluated), 50)],
    }
    history = getattr(sampler, "history", None)
    if getattr(sampler, "policy", None) is not None:  # how sure the policy is of each decision at the end
        out["mode_probs"] = [round(max(p), 3) for p in sampler.policy.probabilities()]
    if history is not None:
        out["history"] = [{k: row[k] for k in ("update", "last_trial", "entropy_share", "reward_mean", "baseline",
                                             "advantage_scale") if k in row} for row in history]
    return out


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def _open(path: Path, mode: str) -> Any:
    return gzip.open(path, mode + "t") if path.suffix == ".gz" else path.open(mode)


def _rows(path: Path) -> list[dict[str, Any]]:
    """Every complete run in the file; a run cut short by a kill is skipped (and rerun)."""
    out: list[dict[str, Any]] = []
    if not path.is_file():
        return out
    try:
        with _open(path, "r") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    except (EOFError, gzip.BadGzipFile):
        pass  # a member cut short at the end: what came before it is intact
    return out


def _key(r: dict[str, Any]) -> tuple:
    return r["table"], r["reward"], r["noise"], r["sampler"], r["seed"], r["evaluations"], r.get("repeats", "evaluate")


def _done(path: Path) -> set[tuple]:
    return {_key(r) for r in _rows(path)}


def _pooled(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs of ``--out`` and of every ``--also`` file, a run recorded in two of them counted once: seed sets
    measured into separate ledgers, read as one."""
    rows, seen = [], set()
    for path in [args.out or RUNS, *args.also]:
        if path in args.also and not path.is_file():
            raise SystemExit(f"bench_tables: --also {path} is not a runs file")
        for r in _rows(path):
            if _key(r) not in seen:
                seen.add(_key(r))
                rows.append(r)
    return rows


def run(args: argparse.Namespace) -> int:
    path = args.out or RUNS
    path.parent.mkdir(parents=True, exist_ok=True)
    done = _done(path)
    table = TABLES[args.table]()
    print(f"table {table.name}: {len(table.keys)} architectures, {table.seeds.shape[1]} seed(s), target {table.target / 1e6:.1f}M "
          f"MACs, noise SD {table.noise_sd if table.noise_sd is not None else 'recorded seeds'}", flush=True)
    for reward in args.rewards.split(","):
        for noise in args.noise.split(","):
            for sampler in sampler_list(args.samplers):
                for seed in _seeds(args.seeds):
                    if (table.name, reward, noise, sampler, seed, args.evaluations, args.repeats) in done:
                        continue
                    out = one_run(table, reward, noise, sampler, seed, args.evaluations, args.repeats)
                    with FileLock(str(path) + ".lock"), _open(path, "a") as f:  # several runs may share the file
                        f.write(json.dumps(out) + "\n")
                    print(f"{table.name} {reward} {noise} {sampler} seed {seed}: regret@{min(100, args.evaluations)} "
                          f"{out['regret'][min(100, args.evaluations) - 1]:.3f} @{args.evaluations} {out['regret'][-1]:.3f}, top0.5% at {out['to_top']}, {out['distinct']} distinct, "
                          f"{out['seconds']:.1f} s", flush=True)
    return 0


def _median_to_top(values: list[int | None], cap: int) -> str:
    """Median with censored runs counted as beyond the cap (reported as '>cap' when the median is censored)."""
    ordered = sorted(v if v is not None else math.inf for v in values)
    m = statistics.median(ordered)
    return f">{cap}" if math.isinf(m) else f"{m:.0f}"


def _picked(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The runs files' rows, each with ``regret`` taken from the pick chosen by ``--pick``."""
    rows = _pooled(args)
    if getattr(args, "only_seeds", None):  # one seed set of a file that holds several
        keep = set(_seeds(args.only_seeds))
        rows = [r for r in rows if r["seed"] in keep]
    if args.pick == "max":
        return rows
    key = f"regret_{args.pick}"
    return [{**r, "regret": r[key]} for r in rows if key in r]  # older runs lack the later picks


def report(args: argparse.Namespace) -> int:
    rows = _picked(args)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["table"], r.get("repeats", "evaluate"), r["reward"], r["noise"], r["evaluations"]), []).append(r)
    for (table, repeats, reward, noise, evaluations), runs in sorted(groups.items()):
        budgets = [b for b in BUDGETS if b <= evaluations]
        print(f"\n{table}, {reward} reward, noise {noise}, repeats {repeats}: median regret x100 of the pick (seeds), "
              "trainings to a top-0.5% network")
        print("| sampler | seeds | " + " | ".join(f"@{b}" for b in budgets) + " | to top 0.5% | distinct | over T, first / last 50 |")
        print("|---" * (len(budgets) + 5) + "|")
        by_sampler: dict[str, list[dict]] = {}
        for r in runs:
            by_sampler.setdefault(r["sampler"], []).append(r)
        for sampler, rs in by_sampler.items():
            cells = [f"{statistics.median(r['regret'][b - 1] for r in rs):.2f}" for b in budgets]
            over = f"{statistics.mean(r['over'][0] for r in rs):.2f} / {statistics.mean(r['over'][-1] for r in rs):.2f}"
            print(f"| {sampler} | {len(rs)} | " + " | ".join(cells) + f" | {_median_to_top([r['to_top'] for r in rs], evaluations)} | "
                  f"{statistics.median(r['distinct'] for r in rs):.0f} | {over} |")
    return 0


STATS = {
    "median": statistics.median,
    "mean": statistics.mean,
    # Where the median is 0 or a fraction of a point, it flips on whether half the seeds picked the best
    # network: the share that did, and the mean, say how far from that edge a sampler is.
    "zero": lambda regrets: float(np.mean([r == 0 for r in regrets])),
}


def summary(args: argparse.Namespace) -> int:
    """One markdown table: every (table, repeats, reward, noise) x sampler, one statistic of the regret
    (``--stat``: median, mean, or the share of seeds at zero regret) at each budget."""
    rows, stat = _picked(args), STATS[getattr(args, "stat", "median")]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["table"], r.get("repeats", "evaluate"), r["reward"], r["noise"], r["sampler"]), []).append(r)
    print("| table | repeats | reward | noise | sampler | seeds | " + " | ".join(f"@{b}" for b in BUDGETS) + " | to top 0.5% | distinct |")
    print("|---" * (len(BUDGETS) + 8) + "|")
    order = {name: i for i, name in enumerate(("mnas", "mnas[remeasure=0]", "mnas[unique=false,proposals=1,remeasure=0]", "tpe",
                                              "evolution", "random"))}
    for key in sorted(groups, key=lambda k: (*k[:4], order.get(k[4], 9), k[4])):
        rs = groups[key]
        cells = [f"{stat([r['regret'][b - 1] for r in rs]):.2f}" for b in BUDGETS if b <= rs[0]["evaluations"]]
        print("| " + " | ".join(map(str, key)) + f" | {len(rs)} | " + " | ".join(cells)
              + f" | {_median_to_top([r['to_top'] for r in rs], rs[0]['evaluations'])} | {statistics.median(r['distinct'] for r in rs):.0f} |")
    return 0


def paired(a: list[dict], b: list[dict], budget: int, *, draws: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Sampler ``a`` against ``b`` on the seeds both ran: per-seed regret differences at ``budget``.

    A search's trajectory is chaotic (one different trial changes every later draw), so a median over
    12 seeds moves by tenths of a point from noise alone; pairing by seed and bootstrapping the median
    difference says how much of a gap is real. Negative differences favour ``a``.
    """
    by_seed = {r["seed"]: r["regret"][budget - 1] for r in b}
    diffs = np.array([r["regret"][budget - 1] - by_seed[r["seed"]] for r in a if r["seed"] in by_seed])
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(diffs, size=(draws, len(diffs))), axis=1)
    low, high = np.quantile(medians, [0.05, 0.95])
    return {"seeds": len(diffs), "median": float(np.median(diffs)), "low": float(low), "high": float(high),
            "better": int(np.sum(diffs < 0)), "tied": int(np.sum(diffs == 0)), "worse": int(np.sum(diffs > 0))}


def _by_setting(args: argparse.Namespace, samplers: tuple[str, ...]) -> dict[tuple, dict[str, list[dict]]]:
    """The runs of ``samplers`` with ``--repeats``, by (table, reward, noise) and then by sampler."""
    groups: dict[tuple, dict[str, list[dict]]] = {}
    for r in _picked(args):
        if r["sampler"] in samplers and r.get("repeats", "evaluate") == args.repeats:
            groups.setdefault((r["table"], r["reward"], r["noise"]), {}).setdefault(r["sampler"], []).append(r)
    return groups


def _setting_header() -> None:
    print("| table | reward | noise | seeds | " + " | ".join(f"@{b}" for b in BUDGETS) + " |")
    print("|---" * (len(BUDGETS) + 4) + "|")


def compare(args: argparse.Namespace) -> int:
    """One markdown table: ``--a`` against ``--b``, paired by seed, at each budget of every setting."""
    groups = _by_setting(args, (args.a, args.b))
    print(f"{args.a} against {args.b} ({args.repeats}): median paired regret difference x100 [90% bootstrap interval], "
          "seeds better / tied / worse; negative favours the first")
    _setting_header()
    for key in sorted(groups):
        runs = groups[key]
        if len(runs) < 2:
            continue
        cells = []
        for budget in BUDGETS:
            c = paired(runs[args.a], runs[args.b], budget)
            cells.append(f"{c['median']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] {c['better']}/{c['tied']}/{c['worse']}")
        print("| " + " | ".join(key) + f" | {c['seeds']} | " + " | ".join(cells) + " |")
    return 0


def sign_test(better: int, worse: int) -> float:
    """Two-sided sign test: the chance of a split at least this uneven between seeds that favour either side,
    were neither sampler better (ties carry no sign)."""
    n, k = better + worse, min(better, worse)
    return 1.0 if n == 0 else min(1.0, 2 * sum(math.comb(n, i) for i in range(k + 1)) / 2**n)


def medians_apart(a: list[dict], b: list[dict], budget: int, *, draws: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The acceptance's own quantity, median regret of ``a`` minus that of ``b`` at ``budget``, on the seeds both
    ran, with a 90% interval from resampling seeds (each resampled seed keeps both its runs: paired), the seeds
    each side wins, and the sign test's p. A median at 0 or a fraction of a point flips on whether half the seeds
    picked the best network, so the interval says whether a gap between medians is more than that flip."""
    by_seed = {r["seed"]: r["regret"][budget - 1] for r in b}
    pairs = np.array([(r["regret"][budget - 1], by_seed[r["seed"]]) for r in a if r["seed"] in by_seed])
    rng = np.random.default_rng(seed)
    picks = pairs[rng.integers(len(pairs), size=(draws, len(pairs)))]
    gaps = np.median(picks[..., 0], axis=1) - np.median(picks[..., 1], axis=1)
    low, high = np.quantile(gaps, [0.05, 0.95])
    better, worse = int(np.sum(pairs[:, 0] < pairs[:, 1])), int(np.sum(pairs[:, 0] > pairs[:, 1]))
    return {"seeds": len(pairs), "a": float(np.median(pairs[:, 0])), "b": float(np.median(pairs[:, 1])),
            "gap": float(np.median(pairs[:, 0]) - np.median(pairs[:, 1])), "low": float(low), "high": float(high),
            "better": better, "worse": worse, "p": sign_test(better, worse)}


def standing(args: argparse.Namespace) -> int:
    """One markdown table per opponent: ``--a``'s median regret against each ``--b``'s at every budget of every
    setting, the gap between the medians with its interval, seeds won and lost, and the sign test."""
    groups = _by_setting(args, (args.a, *args.b))
    for other in args.b:
        print(f"\n{args.a} against {other} ({args.repeats}, {args.pick} pick): median regret x100 of each, the gap "
              "[90% paired bootstrap interval], seeds better / worse, sign test p; a positive gap is behind")
        _setting_header()
        for key in sorted(groups):
            runs = groups[key]
            if args.a not in runs or other not in runs:
                continue
            common = {r["seed"] for r in runs[args.a]} & {r["seed"] for r in runs[other]}
            if not common:  # the two ran this setting on different seeds: nothing to pair
                continue
            shortest = min(r["evaluations"] for r in runs[args.a] + runs[other])
            cells = []
            for budget in BUDGETS:
                if budget > shortest:
                    cells.append("-")
                    continue
                c = medians_apart(runs[args.a], runs[other], budget)
                cells.append(f"{c['a']:.2f} / {c['b']:.2f}: {c['gap']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] "
                             f"{c['better']}/{c['worse']} p={c['p']:.2g}")
            print("| " + " | ".join(key) + f" | {len(common)} | " + " | ".join(cells) + " |")
    return 0


def best(args: argparse.Namespace) -> int:
    """How often each sampler evaluated a network at the table's optimum by ``--budget`` (any of them where
    several share it): found (in how many seeds) is the search; evaluated again is what lets a noisy pick
    see its true level."""
    groups: dict[tuple, list[dict]] = {}
    ties: dict[tuple[str, str], int] = {}
    skipped = 0
    for r in _picked(args):
        if "best_at" not in r:
            continue
        if "ties" not in r:  # recorded when best_at held only the first of the networks at the optimum
            cell = (r["table"], r["reward"])
            if cell not in ties:
                true = TABLES[r["table"]]().true_rewards(r["reward"])
                ties[cell] = int(np.sum(true >= true.max()))
            if ties[cell] > 1:
                skipped += 1
                continue
        groups.setdefault((r["table"], r["reward"], r["noise"], r["sampler"]), []).append(r)
    if skipped:
        print(f"{skipped} runs of tables whose optimum several networks share were recorded before every one of them "
              "counted; left out (run them again into a new file)")
    print(f"| table | reward | noise | sampler | seeds | found by {args.budget} | evaluations of it by {args.budget} "
          f"(median where found) | first (median where found) | regret @{args.budget}, found / not |")
    print("|---" * 9 + "|")
    for key in sorted(groups):
        rs = groups[key]
        hits = [[n for n in r["best_at"] if n <= args.budget] for r in rs]
        found = [h for h in hits if h]
        regret = [[r["regret"][args.budget - 1] for r, h in zip(rs, hits, strict=True) if bool(h) == f] for f in (True, False)]
        cells = [f"{statistics.median(x):.2f}" if x else "-" for x in regret]
        print("| " + " | ".join(key) + f" | {len(rs)} | {len(found)} | "
              + (f"{statistics.median(len(h) for h in found):.0f} | {statistics.median(h[0] for h in found):.0f}" if found else "- | -")
              + f" | {cells[0]} / {cells[1]} |")
    return 0


def entropy(args: argparse.Namespace) -> int:
    """The controller's entropy share and baseline per update, from the runs already recorded."""
    path = args.out or RUNS
    rows = _rows(path)
    for r in rows:
        if r.get("history") and r["table"] == args.table and r["reward"] == args.reward and r["noise"] == args.noise \
                and r["seed"] in _seeds(args.seeds) and r["sampler"].startswith("mnas"):
            h = r["history"]
            marks = [h[i] for i in range(0, len(h), max(1, len(h) // 8))] + [h[-1]]
            print(f"{r['sampler']} seed {r['seed']}: " + ", ".join(f"u{m['update']}:{m['entropy_share']:.2f}" for m in marks))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help=f"runs file (default {RUNS})")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="a further runs file whose runs join those of --out in report, summary, compare, standing and best "
                             "(repeat it to pool several seed sets; a run in two files counts once)")
    parser.add_argument("--pick", choices=("max", "mean", "shrunk", "finalists"), default="max",
                        help="report the pick with the best single observed reward, with the best mean over its "
                             "evaluations (as effsearch baseline picks on seed means), or with the best mean "
                             "shrunk towards the others by its count (empirical Bayes), or the best seed mean of the "
                             f"{FINALISTS} best observed (finalists trained again with every seed)")
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--table", choices=sorted(TABLES), required=True)
    r.add_argument("--samplers", default="mnas,random,tpe,evolution", help="separated by commas or ; (commas inside a sampler's [settings] stay with it)")
    r.add_argument("--rewards", default="soft,hard")
    r.add_argument("--noise", default="none,seeds")
    r.add_argument("--seeds", default="0-11")
    r.add_argument("--evaluations", type=int, default=500)
    r.add_argument("--repeats", choices=("evaluate", "cached"), default="evaluate",
                   help="a repeated architecture is trained again (plain Optuna) or answered from the cache (effsearch baseline)")
    sub.add_parser("report")
    m = sub.add_parser("summary", help="every setting in one markdown table")
    m.add_argument("--stat", choices=sorted(STATS), default="median",
                   help="the regret's median over seeds, its mean, or the share of seeds at zero regret")
    c = sub.add_parser("compare", help="two samplers paired by seed, with bootstrap intervals")
    c.add_argument("--a", default="mnas")
    c.add_argument("--b", default="tpe")
    c.add_argument("--repeats", choices=("evaluate", "cached"), default="evaluate")
    st = sub.add_parser("standing", help="one sampler's median regret against others', with intervals and sign tests")
    st.add_argument("--a", default="mnas")
    st.add_argument("--b", action="append", default=None, help="an opponent (repeat it; default tpe and random)")
    st.add_argument("--repeats", choices=("evaluate", "cached"), default="evaluate")
    b = sub.add_parser("best", help="how often each run found and re-evaluated the table's best network")
    b.add_argument("--budget", type=int, default=100)
    for p in (m, c, st, b):
        p.add_argument("--seeds", dest="only_seeds", default=None, help="only these seeds, e.g. 100-129 (default: all)")
    e = sub.add_parser("entropy")
    e.add_argument("--table", choices=sorted(TABLES), required=True)
    e.add_argument("--reward", default="soft")
    e.add_argument("--noise", default="none")
    e.add_argument("--seeds", default="0-3")
    args = parser.parse_args(argv)
    if args.command == "standing" and not args.b:
        args.b = ["tpe", "random"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {"run": run, "report": report, "summary": summary, "compare": compare, "standing": standing, "best": best, "entropy": entropy}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
