"""The results folder of a baseline search, exported from the study (the single source of truth).

``export`` rebuilds every file from the storage and writes each one atomically; the search calls it
after every finished trial, so a run killed at any moment leaves a consistent folder whose files
are at most one trial behind the study, and the next run brings them up to date. Column names and
file names are the contract in ``docs/internals.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState

from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import save_spec
from effsearch.controller.learner import TRIAL_ATTR
from effsearch.runtime.results import atomic_write_csv
from effsearch.search.study import nested_attrs
from effsearch.units import format_count

TRIAL_COLUMNS = (
    "number", "state", "status", "reason", "sampler", "proposal", "blocks", "params", "macs", "accuracy", "reward",
    "rung", "seed_accuracies", "over_budget", "train_seconds", "images_per_s", "latency_ms", "evaluator", "kernels", "datetime_start",
    "datetime_complete", "duration_s",
)
RETRAIN_COLUMNS = (
    "number", "blocks", "params", "macs", "epochs", "accuracy_short", "accuracy_long", "reward_short", "reward",
    "status", "reason", "train_seconds", "selected",
)
RETRAIN_PREFIX = "retrain:"
_DEFAULT_STATUS = {TrialState.RUNNING: "running", TrialState.WAITING: "queued", TrialState.FAIL: "interrupted",
                   TrialState.PRUNED: "pruned", TrialState.COMPLETE: "ok"}


# --- trials ---------------------------------------------------------------------------------------


def _seconds(trial: FrozenTrial) -> float | None:
    if trial.datetime_start is None or trial.datetime_complete is None:
        return None
    return (trial.datetime_complete - trial.datetime_start).total_seconds()


def _reward(trial: FrozenTrial) -> float | None:
    value = trial.user_attrs.get("reward")
    if value is None and trial.state == TrialState.COMPLETE and trial.values and len(trial.values) == 1:
        value = trial.values[0]  # a trial added by hand or another tool: its objective is the reward
    return value


def _proposal(trial: FrozenTrial) -> str | None:
    """Where the controller's trial came from: ``policy`` (a policy sample), ``neighbour`` (a neighbour of the
    best trial, chosen by the screen), ``optimum`` (an optimum of the surrogate, chosen by the screen),
    ``remeasure`` or ``fixed`` (pinned choices, such as a requeued trial); ``None`` for other samplers.
    Neighbours, optima and re-measurements are not learned from; the rest are."""
    record = trial.system_attrs.get(TRIAL_ATTR) or {}
    if not record:
        return None
    if record.get("optimum"):
        return "optimum"
    if record.get("local"):
        return "neighbour"
    if record.get("remeasure"):
        return "remeasure"
    return "policy" if "logp" in record else "fixed"


def trial_row(trial: FrozenTrial, decisions: list[str]) -> dict[str, Any]:
    """One row of ``trials.csv``."""
    attrs, proxy = trial.user_attrs, nested_attrs(trial.user_attrs, "proxy")
    row = {
        "number": trial.number, "state": trial.state.name,
        "status": attrs.get("status") or _DEFAULT_STATUS[trial.state], "reason": attrs.get("reason"),
        "sampler": attrs.get("sampler"), "proposal": _proposal(trial), "blocks": attrs.get("blocks"), "params": attrs.get("params"),
        "macs": attrs.get("macs"), "accuracy": attrs.get("accuracy"), "reward": _reward(trial),
        "over_budget": attrs.get("over_budget"), "train_seconds": proxy.get("train_seconds"),
        "images_per_s": proxy.get("images_per_s"), "latency_ms": attrs.get("latency_ms", proxy.get("latency_ms")),
        "evaluator": proxy.get("evaluator"), "kernels": proxy.get("kernels"),
        "datetime_start": trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
        "datetime_complete": trial.datetime_complete.isoformat(timespec="seconds") if trial.datetime_complete else None,
        "duration_s": _seconds(trial),
    }
    seeds = attrs.get("seed_accuracies")
    row["rung"] = attrs.get("rung")
    row["seed_accuracies"] = " ".join(f"{a:.6g}" for a in seeds) if isinstance(seeds, list) else None
    for name, value in attrs.items():  # rung<k>_accuracy, rung<k>_reward, rung<k>_promoted
        if name.startswith("rung") and name[4:5].isdigit() and "_" in name:
            row[name] = value
    row.update({f"d_{name}": trial.params.get(name) for name in decisions})
    return row


def trials_frame(trials: list[FrozenTrial], decisions: list[str]) -> pd.DataFrame:
    """``trials.csv`` as a frame: one row per trial, in trial order, with one column per decision."""
    extra = sorted({p for t in trials for p in t.params} - set(decisions))
    names = list(decisions) + extra
    rungs = sorted({int(a[4:].split("_")[0]) for t in trials for a in t.user_attrs if a.startswith("rung") and a[4:5].isdigit()})
    per_rung = [f"rung{k}_{what}" for k in rungs for what in ("accuracy", "reward", "promoted")]
    columns = list(TRIAL_COLUMNS) + per_rung + [f"d_{n}" for n in names]
    rows = [trial_row(t, names) for t in sorted(trials, key=lambda t: t.number)]
    return pd.DataFrame(rows, columns=columns)


def not_pruned(trials: pd.DataFrame) -> pd.Series:
    """Rows of candidates that were not stopped at a lower rung (all rows of a single-fidelity search)."""
    if "state" not in trials:
        return pd.Series(True, index=trials.index)
    return trials["state"].astype(str).str.upper() != "PRUNED"


def pareto_frame(trials: pd.DataFrame) -> pd.DataFrame:
    """The evaluated trials on the accuracy-vs-MACs front (repeats of an architecture left out)."""
    from effsearch.review.analysis import pareto_front

    evaluated = trials[(trials["status"] == "ok") & not_pruned(trials)]  # one fidelity: the top rung's
    return pareto_front(evaluated, x="macs", y="accuracy").reset_index(drop=True)


# --- retraining and the baseline ------------------------------------------------------------------


def top_candidates(trials: pd.DataFrame, k: int) -> pd.DataFrame:
    """The ``k`` best evaluated architectures by reward (earliest first among equals).

    Candidates pruned at a lower rung are left out: their reward is a shorter training's.
    """
    ok = trials[(trials["status"] == "ok") & trials["reward"].notna() & not_pruned(trials)]
    ranked = ok.sort_values(["reward", "number"], ascending=[False, True], kind="stable")
    return ranked.drop_duplicates("blocks").head(k)


def retrain_records(study: optuna.Study) -> dict[int, dict[str, Any]]:
    """Retraining results kept in the study's user attributes, by trial number."""
    return {int(key[len(RETRAIN_PREFIX):]): value for key, value in study.user_attrs.items()
            if key.startswith(RETRAIN_PREFIX) and isinstance(value, dict)}


def retrain_frame(trials: pd.DataFrame, records: dict[int, dict[str, Any]], *, k: int, epochs: float) -> pd.DataFrame:
    """``retrain.csv``: the current top ``k`` with their long-budget results (when they have them)."""
    rows = []
    for _, row in top_candidates(trials, k).iterrows():
        rec = records.get(int(row["number"]))
        if rec is None or rec.get("epochs") != epochs:
            continue
        rows.append({
            "number": int(row["number"]), "blocks": row["blocks"], "params": row["params"], "macs": row["macs"],
            "epochs": epochs, "accuracy_short": row["accuracy"], "accuracy_long": rec.get("accuracy"),
            "reward_short": row["reward"], "reward": rec.get("reward"), "status": rec.get("status"),
            "reason": rec.get("reason"), "train_seconds": rec.get("train_seconds"), "selected": False,
        })
    frame = pd.DataFrame(rows, columns=list(RETRAIN_COLUMNS))
    ok = frame[(frame["status"] == "ok") & frame["reward"].notna()]
    if len(ok):
        best = ok.sort_values(["reward", "number"], ascending=[False, True], kind="stable").index[0]
        frame.loc[best, "selected"] = True
    return frame


def fidelity(retrain: pd.DataFrame) -> dict[str, Any] | None:
    """How well the search's score ranked its finalists: Kendall tau against their standalone accuracy.

    ``None`` without a retrained candidate; ``kendall_tau`` is ``None`` below two usable pairs or
    when either side is constant (tau is undefined there).
    """
    if not len(retrain):
        return None
    ok = retrain[(retrain["status"] == "ok") & retrain["accuracy_short"].notna() & retrain["accuracy_long"].notna()]
    from effsearch.review.analysis import kendall_tau  # pure (numpy and scipy), no dashboard

    tau = kendall_tau(ok["accuracy_short"].astype(float), ok["accuracy_long"].astype(float))
    return {"kendall_tau": None if tau is None else round(tau, 4), "n": len(ok)}


def choose_baseline(trials: pd.DataFrame, retrain: pd.DataFrame) -> int | None:
    """The baseline's trial number: the best retrained candidate, else the best reward of the search."""
    if len(retrain) and retrain["selected"].any():
        return int(retrain.loc[retrain["selected"].astype(bool), "number"].iloc[0])
    top = top_candidates(trials, 1)
    return int(top["number"].iloc[0]) if len(top) else None


# --- the folder -----------------------------------------------------------------------------------


@dataclass
class Export:
    """Everything a results folder holds, as frames, plus the chosen baseline."""

    trials: pd.DataFrame
    pareto: pd.DataFrame
    retrain: pd.DataFrame
    baseline: dict[str, Any] | None
    spec: NetSpec | None
    fidelity: dict[str, Any] | None = None
    pick: dict[str, Any] | None = None  # the noise-aware pick (search.pick), with several seeds at the top rung


def baseline_name(target: float) -> str:
    return f"baseline-{format_count(target)}"


def _baseline(by_number: dict[int, FrozenTrial], space: Any, trials: pd.DataFrame, retrain: pd.DataFrame,
              target: float) -> tuple[dict[str, Any] | None, NetSpec | None]:
    number = choose_baseline(trials, retrain)
    if number is None:
        return None, None
    row = trials.loc[trials["number"] == number].iloc[0].to_dict()
    chosen = retrain.loc[retrain["number"] == number]
    if len(chosen):
        row["accuracy_short"], row["reward_short"] = row["accuracy"], row["reward"]
        row["accuracy"], row["reward"] = chosen["accuracy_long"].iloc[0], chosen["reward"].iloc[0]
        row["retrained_epochs"] = float(chosen["epochs"].iloc[0])
    spec = space.to_spec(dict(by_number[number].params)).replace(name=baseline_name(target))
    return {k: _plain(v) for k, v in row.items()}, spec


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers and NaN as None, so the row prints and serialises cleanly."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def export(study: optuna.Study, space: Any, folder: Path, *, target: float, retrain_top: int = 0,
           retrain_epochs: float = 0, write: bool = True) -> Export:
    """Rebuild ``trials.csv``, ``pareto.csv``, ``retrain.csv``, ``controller.csv`` and ``baseline.yaml`` from the study."""
    names = [name for name, _ in space.decisions]
    frozen = study.get_trials(deepcopy=False)
    trials = trials_frame(frozen, names)
    pareto = pareto_frame(trials)
    retrain = retrain_frame(trials, retrain_records(study), k=retrain_top, epochs=retrain_epochs)
    baseline, spec = _baseline({t.number: t for t in frozen}, space, trials, retrain, target)
    if write:
        folder = Path(folder)
        atomic_write_csv(folder / "trials.csv", trials)
        atomic_write_csv(folder / "pareto.csv", pareto)
        if retrain_top:
            atomic_write_csv(folder / "retrain.csv", retrain)
        if spec is not None:
            save_spec(spec, folder / "baseline.yaml")
        controller = controller_frame(study)
        if len(controller):
            atomic_write_csv(folder / "controller.csv", controller)
    return Export(trials=trials, pareto=pareto, retrain=retrain, baseline=baseline, spec=spec, fidelity=fidelity(retrain),
                  pick=_pick(trials, retrain))


def controller_frame(study: optuna.Study) -> pd.DataFrame:
    """``controller.csv``: one row per policy update of the MNAS controller (entropy, baseline, ...); empty for other samplers."""
    from effsearch.controller import state
    from effsearch.controller.learner import history_of

    return pd.DataFrame(history_of(state.load(study._storage, study._study_id)))


def _pick(trials: pd.DataFrame, retrain: pd.DataFrame) -> dict[str, Any] | None:
    """The pick's noise check among the finalists (top rung, several seeds); ``None`` after retraining decides."""
    from effsearch.search.pick import pick_summary

    if len(retrain) and retrain["selected"].any():
        return None
    final = top_candidates(trials, len(trials))
    if "seed_accuracies" not in final or not final["seed_accuracies"].notna().any():
        return None
    rows = [{k: _plain(v) for k, v in row.items()} for row in
            final[["number", "reward", "accuracy", "seed_accuracies"]].to_dict("records")]
    return pick_summary(rows)
