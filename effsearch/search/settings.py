"""What a baseline search records about itself: its fingerprint and the ``config`` of ``run.json``.

The fingerprint holds everything that changes a trial's numbers: the objective and its target, the
space (by content, not by path), the reward's exponents, the evaluator, the proxy's training
settings, the data set, the seed, and the runtime that trained it (device, threads, kernel path;
for a measured objective also the machine). A study refuses a run whose fingerprint differs
(:func:`effsearch.runtime.fingerprint.check_same`); ``SearchConfig.mix_runtime`` lets trials from
another runtime in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from effsearch.search.config import RunConfig, SearchConfig
from effsearch.search.reward import RewardConfig

RUNTIME_KEYS = ("runtime",)
"""Fingerprint parts that ``mix_runtime`` lets differ."""
_NOT_IN_PROXY = ("device", "threads", "kernels", "eval_batch_size")
"""Proxy settings recorded under ``runtime`` (resolved), or that do not change what is learnt."""


def space_digest(space: Any) -> str:
    """A short hash of what a space can produce (not where its file lives)."""
    body = {k: getattr(space, k, None) for k in ("stem", "head", "resolution", "act", "dropout", "drop_connect", "num_classes")}
    body["blocks"] = [dataclasses.asdict(b) for b in getattr(space, "blocks", ())]
    body["decisions"] = space.decisions
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def proxy_fingerprint(proxy: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(proxy) if dataclasses.is_dataclass(proxy) else dict(vars(proxy))
    return {k: v for k, v in fields.items() if k not in _NOT_IN_PROXY}


def runtime(proxy: Any) -> dict[str, Any]:
    """Where and how candidates train, as resolved for this run (device type, threads, kernel path)."""
    return {name: getattr(proxy, name, None) for name in ("device", "threads", "kernels")}


def latency_machine(search: SearchConfig) -> dict[str, Any]:
    from effsearch.engine.latency import processor_name

    return {"device": search.latency_device, "threads": search.latency_threads, "processor": processor_name()}


def fingerprint(*, search: SearchConfig, reward: RewardConfig, proxy: Any, space: Any, data: Any,
                evaluator: dict[str, Any]) -> dict[str, Any]:
    """What makes two trials' rewards comparable; a study refuses trials that differ in any of it."""
    from effsearch.search.objectives import get_objective

    prints: dict[str, Any] = {
        "objective": reward.objective, "target": reward.target, "space": space.name,
        "space_definition": space_digest(space),
        "reward": reward.fingerprint(),
        "evaluator": evaluator, "proxy": proxy_fingerprint(proxy), "runtime": runtime(proxy),
        "dataset": getattr(data, "name", type(data).__name__), "seed": search.seed, "objectives": search.objectives,
    }
    if get_objective(reward.objective).machine_dependent:
        prints["measured_on"] = latency_machine(search)
    if search.rungs.multi or search.rungs.seeds > 1:  # absent for single fidelity: older studies resume
        prints["rungs"] = search.rungs.to_dict()
    return prints


def storage_label(run: RunConfig) -> str:
    """The storage for ``run.json``: relative to the folder when it is the default, password hidden otherwise."""
    from effsearch.search.storage import display_url

    return "study.db (in the results folder)" if run.storage is None else display_url(run.storage_url)


def _space_file(space: Any) -> str | None:
    """The user's space file; ``None`` for a built-in space (its name loads it on any machine)."""
    from effsearch.search.space_file import is_builtin

    source = getattr(space, "source", None)
    return None if source is None or is_builtin(source) else str(source)


def run_config_dict(*, search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, space: Any,
                    data: Any, retrain_epochs: float, evaluator: dict[str, Any],
                    placement: Any = None, coverage: Any = None) -> dict[str, Any]:
    """``run.json``'s ``config``: every setting of the run (the runtime as resolved)."""
    from effsearch.data.record import data_record

    config = {
        "objective": reward.objective, "target": reward.target, "space": space.name,
        "space_file": _space_file(space), "space_size": space.size, "space_width": getattr(space, "width", 1.0),
        "space_coverage": coverage.as_dict() if coverage is not None else None, "sampler": search.sampler_name,
        "objectives": search.objectives, "evaluator": evaluator, "storage": storage_label(run), "study": run.study_name,
        "reward": reward.to_dict(), "epochs": getattr(proxy, "epochs", None),
        "dataset": getattr(data, "name", None), "data": data_record(data), "trials": search.trials, "timeout": search.timeout,
        "seed": search.seed, "workers": run.workers, "ray_address": run.ray_address,
        "retrain_top": search.retrain_top, "retrain_epochs": retrain_epochs if search.retrain_top else None,
        "latency": search.latency, "proxy": proxy_fingerprint(proxy), "runtime": runtime(proxy),
        "mix_runtime": search.mix_runtime, "rungs": search.rungs.to_dict(),
        "placement": placement.as_dict() if placement is not None else None,
    }
    if search.latency or reward.objective == "latency_ms":
        config["latency_measured_on"] = latency_machine(search)
    return config
