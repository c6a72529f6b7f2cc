"""``--retrain-top K``: re-evaluate the K best candidates with a longer budget, pick the baseline there.

MnasNet trained its top candidates longer before choosing; a short proxy budget ranks networks
noisily, and the longer run separates near-ties. Results are kept in the study's user attributes
(``retrain:<trial number>``), one per candidate as soon as it finishes, so an interrupted
retraining resumes with the candidates still missing and never trains one twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import optuna

from effsearch.errors import EffsearchError
from effsearch.search.loop import proxy_summary
from effsearch.search.outputs import RETRAIN_PREFIX, retrain_records, top_candidates, trials_frame
from effsearch.search.reward import RewardConfig, reward
from effsearch.search.worker import Candidate

RETRAIN_FACTOR = 3


def retrain_epochs(given: float | None, proxy: Any) -> float:
    """``given``, or three times the search's epochs; a budget in steps or seconds needs ``given``."""
    if given is not None:
        return float(given)
    epochs = getattr(proxy, "epochs", None)
    if not epochs:
        raise EffsearchError("retraining the top candidates needs a retraining epoch count when the proxy budget "
                             "is given in steps or seconds")
    return float(RETRAIN_FACTOR * epochs)


def long_budget(proxy: Any, epochs: float) -> Any:
    """The proxy config of the retraining: ``epochs`` epochs, no step or time limit."""
    changes = {"epochs": epochs}
    changes.update({name: None for name in ("steps", "seconds") if getattr(proxy, name, None) is not None})
    return dataclasses.replace(proxy, **changes)


def pending(study: optuna.Study, space: Any, *, k: int, epochs: float) -> list[int]:
    """Trial numbers of the current top ``k`` that have no result for ``epochs`` yet."""
    names = [name for name, _ in space.decisions]
    top = top_candidates(trials_frame(study.get_trials(deepcopy=False), names), k)
    records = retrain_records(study)
    return [int(n) for n in top["number"] if records.get(int(n), {}).get("epochs") != epochs]


def _record(metrics: dict[str, Any], *, cost: float, epochs: float, reward_config: RewardConfig) -> dict[str, Any]:
    ok = metrics.get("status") == "ok"
    acc = float(metrics["accuracy"]) if ok else None
    # The requested budget comes last: it is the key a resume and the export look records up by, and the
    # trainer's own "epochs" (what it ran, rounded) must not replace it (0.0133 != 10 * 64 / 48000).
    return {
        "status": "ok" if ok else "failed", "reason": None if ok else metrics.get("reason"),
        "accuracy": acc, "reward": reward(acc, cost, reward_config) if ok else None, **proxy_summary(metrics),
        "epochs": epochs,
    }


def retrain_top(study: optuna.Study, space: Any, *, k: int, epochs: float, proxy: Any, seed: int, executor: Any,
                reward_config: RewardConfig, on_result: Callable[[int, dict[str, Any]], None] | None = None) -> int:
    """Retrain the top ``k`` that still need it; returns how many were trained."""
    numbers = pending(study, space, k=k, epochs=epochs)
    trials = {t.number: t for t in study.get_trials(deepcopy=False)}
    long_proxy = long_budget(proxy, epochs)
    tickets = {}
    for number in numbers:
        spec = space.to_spec(dict(trials[number].params))
        tickets[executor.submit(Candidate(number=number, spec=spec, proxy=long_proxy, seed=seed, phase="retrain"))] = number
    while tickets:
        for ticket, metrics in executor.wait():
            number = tickets.pop(ticket)
            cost = float(trials[number].user_attrs[reward_config.objective])  # what the search rewarded it on
            record = _record(metrics, cost=cost, epochs=epochs, reward_config=reward_config)
            study.set_user_attr(f"{RETRAIN_PREFIX}{number}", record)
            if on_result is not None:
                on_result(number, record)
    return len(numbers)
