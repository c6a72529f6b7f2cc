"""What the controller evaluates next: a sample of its policy, new to the study, screened by a surrogate.

Rules on top of plain policy sampling, each measured on tables of trained networks
(``benchmarks/bench_tables.py``):

* **New architectures.** An evaluation of an architecture the study already holds teaches the policy
  nothing new and costs a training, so the policy is sampled again (up to :data:`TRIES` times per
  proposal) until it proposes one the study has not tried. Once the policy has settled, this walks
  its neighbourhood instead of repeating its mode; if every draw is a repeat, the repeat is taken.
* **Screening.** With ``proposals > 1`` the policy proposes that many new architectures and the one
  that is best under :class:`~effsearch.controller.surrogate.Surrogate` (fitted on every evaluated
  trial) is evaluated: the policy says where to look, the evaluated trials say which of its
  proposals is most likely to pay (a predictor-guided step). ``screen="mean"`` (the default) scores
  the proposals by the model's posterior mean, ``"draw"`` by one Thompson draw from it. The
  proposals already carry the exploration (policy samples, neighbours, optima of Thompson draws),
  so the screen need not add more, as TPE draws its candidates at random and then takes the best by
  its density ratio. Measured on tables of trained networks with noise under a hard cliff, on four
  sets of 100 seeds (one fresh): the median regret of the pick at 100 evaluations fell from
  0.50-0.60 reward points x100 to 0.40-0.45 (TPE 0.50-0.60; 211 searches better, 138 worse). Small
  losses within each set's spread elsewhere with noise (the smaller table under the hard cliff at
  50-100: 111 better, 132 worse); level without noise and at 500 evaluations
  (``benchmarks/README.md``, "Screening by the posterior mean"). A known ``factor`` does not change
  the screen; ``effsearch baseline`` keeps ``"draw"``, the screen its cost term was measured with.
* **Neighbours of the best.** With ``local > 0`` (2 by default) that many one-decision changes of
  the best trial so far (new to the study, drawn at random) join the proposals the surrogate screens.
  The policy moves a little per update, so a network one change away from the best, such as the one
  step to the budget's edge, can wait many updates for its turn; measured on tables of trained
  networks, the neighbours found the best network by 100 evaluations twice as often or more. A
  neighbour was not drawn from the policy, so, like a re-measurement, it informs the surrogate and
  not the policy gradient: its choices off the policy's mode would otherwise get the weight of a
  policy sample, which kept the policy's entropy from falling (measured on the synthetic objective
  of ``tests/test_controller.py``: 0.52-0.80 of uniform at 160 trials, against 0.38-0.40 without it).
  They start from the best trial; with ``anchors=k`` from the ``k`` best distinct architectures by
  single value, a hedge against a lucky best value under noise (then the best alone once
  re-measurements show the objective is deterministic, :func:`~effsearch.controller.remeasure.deterministic`).
  Measured on the tables, not the default: with noise, three anchors found the best network by 100
  evaluations in 22 of 30 tuning seeds against 14, but on fresh seeds in 18 against 17, and were
  behind early without noise (``benchmarks/README.md``, "Several anchors").
* **Optima of the surrogate.** With ``optima=k`` (2 by default) the architectures that are best under
  ``k`` further Thompson draws of the surrogate (each decision's best choice, as the model is
  additive; with a cost term, one decision at a time from there) join the proposals the screen
  scores with its own draw, as TPE proposes where its model of good configurations peaks. The policy
  and the neighbours move a step at a time; an optimum can change every decision the evaluated
  trials say is wrong. Like a neighbour it was not drawn from the policy and is not learned from.
  Measured on tables of trained networks, two fresh sets of 100 seeds: with noise under a hard
  budget cliff, the share of searches whose pick at 100 evaluations was the best network rose from
  0.39-0.44 to 0.54-0.55 (TPE 0.52-0.62); with noise under the soft reward (one set) the pick got a
  little worse (mean regret 0.31 against 0.22-0.25 reward points x100 at 100-500; ``benchmarks/README.md``,
  "Optima of the surrogate").
* **A known cost term.** Given ``factor`` (the reward's multiplier for an architecture, computed before
  training: ``(COST/T)^w`` of an accuracy-times-cost reward, 0 for one rejected untrained), the
  surrogate models the reward divided by it, which is accuracy, a smoother and more additive function
  of the choices than the reward with its cliff at the target; a proposal scores its predicted
  accuracy times its own exact factor, and rejected trials, fully explained by their factor, are not
  fitted. Before the surrogate has enough rows the screen only passes over proposals that would be
  rejected.

* **Ranks.** With ``ranks`` (the default) and no ``factor``, the surrogate is fitted on the normal
  scores of the values' ranks (:func:`~effsearch.controller.surrogate.normal_scores`), so the screen
  sees only their order, as TPE does. A Gaussian linear model fitted on the values of a reward with a
  cliff (a budget's hard penalty) spends its fit on the height of the drop, and its optima lean away
  from the budget's edge, where the best networks are. With a ``factor`` the surrogate models
  accuracy, which has no cliff, and ranks are not used. Measured on tables of trained networks, three
  sets of 100 seeds (one never used for a decision), under a hard cliff without noise: a top-0.5%
  network by a median 24-34 evaluations against 34-58 fitted on the values (TPE 28-36); from 100
  evaluations on, level (``benchmarks/README.md``, "The screen fitted on ranks").

Draw ``a`` of trial ``n`` uses the generator ``(seed, n, a)`` (draw 0: ``(seed, n)``), so a trial's
proposal is reproducible, whichever process makes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from effsearch.controller.config import ControllerConfig
from effsearch.controller.learner import Learner, derived_seed, trial_generator
from effsearch.controller.remeasure import deterministic
from effsearch.controller.surrogate import MIN_ROWS, Surrogate, normal_scores

TRIES = 32
"""Extra policy draws per trial to replace repeats before a repeat is accepted."""
TEMPER = 4
"""Extra draws that raise the sampling temperature by 1 (the 32nd extra draw is at temperature 9)."""
ANCHORS = ControllerConfig.anchors
"""Best distinct trials whose one-decision neighbours are offered, by default."""
NEIGHBOUR = {"local": True}
"""A trial's record flags when it is a neighbour of the best: not learned from."""
OPTIMUM = {"local": True, "optimum": True}
"""A trial's record flags when it is an optimum of the surrogate: not learned from, like a neighbour."""


def _generator(seed: int, number: int, attempt: int) -> torch.Generator:
    if attempt == 0:
        return trial_generator(seed, number)
    generator = torch.Generator()
    generator.manual_seed(derived_seed(seed, number, attempt))
    return generator


def propose(learner: Learner, number: int, forced: dict[int, int], *, proposals: int, unique: bool,
            tried: set[tuple[int, ...]], rows: Sequence[tuple[Sequence[int], float]],
            factor: Callable[[Sequence[int]], float] | None = None,
            local: int = 0, anchors: int = ANCHORS, optima: int = 0, ranks: bool = False,
            screen: str = "draw") -> tuple[list[int], list[float], dict[str, bool]]:
    """The actions of trial ``number``, their per-decision log-probabilities under the policy, and the flags its
    record gets: ``{}`` for a policy sample, :data:`NEIGHBOUR` or :data:`OPTIMUM` for a trial the policy gradient
    does not learn from."""
    wanted = max(1, proposals)
    if wanted == 1 and not unique:
        return (*learner.policy.sample(_generator(learner.seed, number, 0), forced), {})
    draws = wanted + (TRIES if unique else 0)
    steps = len(learner.policy.sizes)
    uniforms = torch.stack([torch.rand(steps, generator=_generator(learner.seed, number, a)) for a in range(draws)])
    # Draws past the wanted number flatten a little more each: a settled policy walks its
    # neighbourhood first and widens the walk only as the neighbourhood runs out.
    temperatures = 1.0 + torch.clamp(torch.arange(draws) - (wanted - 1), min=0) / TEMPER
    actions, logps = learner.policy.sample_batch(uniforms, temperatures, forced)
    candidates: list[tuple[list[int], list[float], dict[str, bool]]] = []
    seen: set[tuple[int, ...]] = set()
    for a, row in enumerate(actions.tolist()):
        key = tuple(row)
        if unique and (key in tried or key in seen):
            continue
        seen.add(key)
        candidates.append((row, logps[a].tolist(), {}))
        if len(candidates) == wanted:
            break
    if local and wanted > 1 and not forced and len(rows) >= MIN_ROWS:
        # A study whose repeats agree exactly has no lucky values: its best trial is the one anchor.
        anchors = 1 if anchors > 1 and deterministic(rows) else anchors
        candidates += [(*near, NEIGHBOUR) for near in _neighbours(learner, number, local, rows, (tried, seen), anchors)]
    if not candidates:
        return actions[0].tolist(), logps[0].tolist(), {}
    if len(candidates) == 1:
        return candidates[0]
    factors = np.ones(len(candidates)) if factor is None else np.array([factor(c[0]) for c in candidates])
    if factor is not None:
        known = [(f, r) for r in rows if (f := factor(r[0])) > 0]
        rows = [(r[0], r[1] / f) for f, r in known]
    if len(rows) < MIN_ROWS:
        return candidates[int(np.argmax(factors > 0))]  # the first that will be trained
    fitted = [r[1] for r in rows]
    if ranks and factor is None:  # with a factor the rows are accuracies, which have no cliff to be blind to
        fitted = normal_scores(fitted)
    surrogate = Surrogate(learner.policy.sizes, [r[0] for r in rows], fitted)
    values = surrogate.mean if screen == "mean" else surrogate.draw(np.random.default_rng(derived_seed(learner.seed, number, -2)))
    if optima and not forced:
        have = {tuple(c[0]) for c in candidates}
        rng = np.random.default_rng(derived_seed(learner.seed, number, -5))
        for _ in range(optima):
            best = _optimum(surrogate, surrogate.draw(rng), factor)
            if best in have or (unique and best in tried):
                continue
            have.add(best)
            with torch.no_grad():
                logps, _ = learner.policy.evaluate(torch.tensor([best], dtype=torch.long))
            candidates.append((list(best), logps[0].tolist(), OPTIMUM))
        factors = np.ones(len(candidates)) if factor is None else np.array([factor(c[0]) for c in candidates])
    scores = surrogate.predict([c[0] for c in candidates], values) * factors
    return candidates[int(np.argmax(scores))]


def _optimum(surrogate: Surrogate, values: np.ndarray, factor: Callable[[Sequence[int]], float] | None,
             rounds: int = 3) -> tuple[int, ...]:
    """The architecture that is best under the surrogate's ``values``: each decision's best choice (the model is
    additive), or with a cost ``factor``, which is not, a few rounds of one decision at a time from there."""
    sizes = surrogate.sizes
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    best = [int(np.argmax(values[o:o + k])) for o, k in zip(offsets, sizes, strict=True)]
    for _ in range(rounds if factor is not None else 0):
        before = list(best)
        for d, k in enumerate(sizes):
            options = [[*best[:d], c, *best[d + 1:]] for c in range(k)]
            scores = surrogate.predict(options, values) * np.array([factor(o) for o in options])
            best[d] = int(np.argmax(scores))
        if best == before:
            break
    return tuple(best)


def anchors_of(rows: Sequence[tuple[Sequence[int], float]], count: int = ANCHORS) -> list[tuple[int, ...]]:
    """The ``count`` distinct architectures with the best single values, best first: where neighbours start."""
    out: dict[tuple[int, ...], None] = {}
    for actions, _ in sorted(rows, key=lambda r: -r[1]):
        out.setdefault(tuple(actions))
        if len(out) == count:
            break
    return list(out)


def _neighbours(learner: Learner, number: int, count: int, rows: Sequence[tuple[Sequence[int], float]],
                taken: Sequence[set[tuple[int, ...]]], anchors: int = ANCHORS) -> list[tuple[list[int], list[float]]]:
    """Up to ``count`` one-decision changes of the ``anchors`` best distinct trials (:func:`anchors_of`), in none of
    the ``taken`` sets, drawn at random, with their policy log-probabilities (the sets are read, not merged: the
    study's may hold every trial).

    Their log-probabilities are the current policy's, for the record: they were not drawn from the policy, and
    the sampler does not learn from them (see the module docstring).
    """
    sizes = learner.policy.sizes
    near = dict.fromkeys((*best[:d], c, *best[d + 1:]) for best in anchors_of(rows, anchors)
                         for d in range(len(sizes)) for c in range(sizes[d]) if c != best[d])
    near = [list(n) for n in near if not any(n in keys for keys in taken)]
    if not near:
        return []
    rng = np.random.default_rng(derived_seed(learner.seed, number, -3))
    chosen = [near[i] for i in rng.permutation(len(near))[:count]]
    with torch.no_grad():
        logps, _ = learner.policy.evaluate(torch.tensor(chosen, dtype=torch.long))
    return list(zip(chosen, logps.tolist(), strict=True))


class Tried:
    """Every architecture the study has tried, as action tuples, read incrementally.

    A trial the policy sampled carries its actions from the moment it was proposed (so workers in
    flight count); any other counts once it has made every decision. Trials below ``frontier`` are
    settled and never read again, so each sample costs only the trials that are new or unsettled.
    """

    def __init__(self) -> None:
        self.keys: set[tuple[int, ...]] = set()
        self.frontier = 0

    def update(self, study: Any, learner: Learner, attr: str) -> None:
        trials = study._get_trials(deepcopy=False, use_cache=True)
        settled = True
        for trial in trials[self.frontier:]:
            record = trial.system_attrs.get(attr) or {}
            actions = record.get("actions") or learner.actions_of(trial.params, trial.distributions)
            if actions:
                self.keys.add(tuple(actions))
            if settled and (actions or trial.state.is_finished()):
                self.frontier = trial.number + 1
            else:
                settled = False
