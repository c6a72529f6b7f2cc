"""``run_baseline_search``: one call from configs to a results folder, resumable at any point.

The order matters for the promise that bad input never touches an existing study: everything that
can be wrong with the command (space, configs, a study run with other settings) is checked before
the first write, and the stale trials of a killed run are recovered before the first new one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from effsearch.results import write_run_json
from effsearch.reward import RewardConfig
from effsearch.search import study as studies
from effsearch.search.config import RunConfig, SearchConfig
from effsearch.search.executor import make_executor
from effsearch.search.outputs import Export, export
from effsearch.search.progress import SearchProgress
from effsearch.search.retrain import pending, retrain_epochs, retrain_top
from effsearch.search.runner import SearchLoop
from effsearch.search.worker import Evaluate
from effsearch.units import format_count

_RUNTIME_PROXY_FIELDS = ("device", "threads", "channels_last", "fast_convs", "fused_bn", "eval_batch_size")
"""Proxy settings that change where or how fast a candidate trains, not what it learns: a study may
move from a laptop to a cluster, or to more threads, and keep its trials comparable."""


@dataclass
class SearchResult:
    """A finished (or topped-up) search: the study, its exported folder and what this call did."""

    out: Path
    study: optuna.Study
    space: Any
    exported: Export
    resumed: bool
    recovered: list[int]
    ran: int
    retrained: int
    storage: str

    @property
    def baseline(self) -> dict[str, Any] | None:
        """The chosen trial's row of ``trials.csv`` (long-budget accuracy and reward when retrained)."""
        return self.exported.baseline


def space_digest(space: Any) -> str:
    """A short hash of what a space can produce (not where its file lives)."""
    body = {k: getattr(space, k, None) for k in ("stem", "head", "resolution", "act", "dropout", "drop_connect", "num_classes")}
    body["blocks"] = [dataclasses.asdict(b) for b in getattr(space, "blocks", ())]
    body["decisions"] = space.decisions
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:16]


def proxy_fingerprint(proxy: Any) -> dict[str, Any]:
    fields = dataclasses.asdict(proxy) if dataclasses.is_dataclass(proxy) else dict(vars(proxy))
    return {k: v for k, v in fields.items() if k not in _RUNTIME_PROXY_FIELDS}


def fingerprint(*, search: SearchConfig, reward: RewardConfig, proxy: Any, space: Any, data: Any) -> dict[str, Any]:
    """What makes two trials' rewards comparable; a study refuses trials that differ in any of it."""
    return {
        "flops_target": reward.target, "space": space.name, "space_definition": space_digest(space),
        "reward": {"alpha": reward.alpha, "beta": reward.beta, "reject_above": reward.reject_above},
        "proxy": proxy_fingerprint(proxy), "dataset": getattr(data, "name", type(data).__name__),
        "seed": search.seed, "objectives": search.objectives,
    }


def run_config_dict(*, search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, space: Any,
                    data: Any, retrain_epochs: float) -> dict[str, Any]:
    """``run.json``'s ``config``: every setting of the run, the storage with its password hidden."""
    return {
        "flops_target": reward.target, "space": space.name, "space_file": getattr(space, "source", None),
        "space_size": space.size, "sampler": search.sampler, "objectives": search.objectives,
        "storage": studies.display_url(run.storage_url), "study": run.study_name,
        "reward": reward.to_dict(), "epochs": getattr(proxy, "epochs", None),
        "dataset": getattr(data, "name", None), "trials": search.trials, "timeout": search.timeout,
        "seed": search.seed, "workers": run.workers, "ray_address": run.ray_address,
        "retrain_top": search.retrain_top, "retrain_epochs": retrain_epochs if search.retrain_top else None,
        "latency": search.latency, "proxy": proxy_fingerprint(proxy),
    }


def _best(study: optuna.Study) -> tuple[float, int] | None:
    scored = [(float(t.user_attrs["reward"]), -t.number) for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("status") in ("ok", "cached") and isinstance(t.user_attrs.get("reward"), (int, float))
              and math.isfinite(t.user_attrs["reward"])]
    if not scored:
        return None
    value, neg = max(scored)
    return value, -neg


def _open(search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, space: Any,
          data: Any) -> tuple[optuna.Study, bool]:
    """Check the command against an existing study, then create or load it with a fresh sampler."""
    prints = fingerprint(search=search, reward=reward, proxy=proxy, space=space, data=data)
    storage = studies.open_storage(run.storage_url)
    existing = studies.find_study(storage, run.study_name)
    finished = 0
    if existing is not None:
        studies.check_study(existing, objectives=search.objectives, fingerprint=prints)
        finished = len(existing.get_trials(deepcopy=False))
    sampler = studies.make_sampler(search.sampler, seed=studies.sampler_seed(search.sampler, search.seed, finished),
                                   space=space, workers=run.workers)
    return studies.create_or_load(storage, run.study_name, objectives=search.objectives, fingerprint=prints,
                                  sampler=sampler)


def run_baseline_search(*, search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, data: Any,
                        evaluate: Evaluate | None = None, argv: list[str] | None = None,
                        console: Any = None) -> SearchResult:
    """Search a baseline for ``reward.target`` MACs and write the results folder ``run.out``.

    ``data`` is a loaded data set (:func:`effsearch.data.load_dataset`) and ``proxy`` a
    :class:`effsearch.proxy.ProxyConfig`; ``evaluate`` replaces :func:`effsearch.proxy.train_and_evaluate`
    (same signature) for custom training. Re-running with the same configs resumes.
    """
    from effsearch.space import load_space

    space = load_space(search.space)
    long_epochs = retrain_epochs(search.retrain_epochs, proxy) if search.retrain_top else 0.0
    study, resumed = _open(search, reward, proxy, run, space, data)
    try:
        session = _Session(search=search, reward=reward, proxy=proxy, run=run, data=data, space=space, study=study,
                           long_epochs=long_epochs, argv=argv)
        return session.execute(resumed=resumed, evaluate=evaluate, console=console)
    finally:
        studies.close_storage(study._storage)


@dataclass
class _Session:
    """One call of :func:`run_baseline_search` once the study is open: search, retrain, export."""

    search: SearchConfig
    reward: RewardConfig
    proxy: Any
    run: RunConfig
    data: Any
    space: Any
    study: optuna.Study
    long_epochs: float
    argv: list[str] | None

    def save(self) -> Export:
        return export(self.study, self.space, self.run.out, target=self.reward.target,
                      retrain_top=self.search.retrain_top, retrain_epochs=self.long_epochs)

    def write_run_json(self) -> None:
        config = run_config_dict(search=self.search, reward=self.reward, proxy=self.proxy, run=self.run,
                                 space=self.space, data=self.data, retrain_epochs=self.long_epochs)
        write_run_json(self.run.out, kind="baseline", seed=self.search.seed, config=config, argv=self.argv)

    def execute(self, *, resumed: bool, evaluate: Evaluate | None, console: Any) -> SearchResult:
        recovered = studies.recover_stale(self.study)
        self.write_run_json()
        done = sum(studies.counts_as_finished(t) for t in self.study.get_trials(deepcopy=False))
        progress = SearchProgress(total=max(self.search.trials, done), done=min(done, self.search.trials),
                                  best=_best(self.study), console=console, enabled=self.run.progress)
        _announce(progress, session=self, resumed=resumed, done=done, recovered=recovered)
        self.save()
        executor = make_executor(self.data, workers=self.run.workers, address=self.run.ray_address,
                                 gpus_per_trial=self.run.gpus_per_trial, evaluate=evaluate)
        try:
            with progress:
                ran = self._search(executor, progress)
                retrained = self._retrain(executor, progress)
        finally:
            executor.close()
        exported = self.save()
        self.write_run_json()
        return SearchResult(out=self.run.out, study=self.study, space=self.space, exported=exported, resumed=resumed,
                            recovered=recovered, ran=ran, retrained=retrained,
                            storage=studies.display_url(self.run.storage_url))

    def _search(self, executor: Any, progress: SearchProgress) -> int:
        def on_trial(trial: optuna.trial.FrozenTrial) -> None:
            self.save()
            progress.trial(trial, counted=studies.counts_as_finished(trial))

        loop = SearchLoop(self.study, self.space, search=self.search, reward_config=self.reward, proxy=self.proxy,
                          executor=executor, sampler_name=self.search.sampler, on_trial=on_trial)
        return loop.run()

    def _retrain(self, executor: Any, progress: SearchProgress) -> int:
        k, epochs = self.search.retrain_top, self.long_epochs
        todo = pending(self.study, self.space, k=k, epochs=epochs) if k else []
        if not todo:
            return 0
        progress.phase(f"retrain top {k}", total=len(todo))
        progress.note(f"retraining the top {len(todo)} candidates for {epochs:g} epochs: trials {', '.join(map(str, todo))}")

        def on_result(number: int, record: dict[str, Any]) -> None:
            self.save()
            progress.advance()
            outcome = (f"acc {record['accuracy']:.4f} reward {record['reward']:.4f}" if record["status"] == "ok"
                       else f"failed: {record['reason']}")
            progress.note(f"retrain trial {number:>4} ({epochs:g} epochs)  {outcome}")

        return retrain_top(self.study, self.space, k=k, epochs=epochs, proxy=self.proxy, seed=self.search.seed,
                           executor=executor, reward_config=self.reward, on_result=on_result)


def _announce(progress: SearchProgress, *, session: _Session, resumed: bool, done: int, recovered: list[int]) -> None:
    """The lines printed before the first trial: what is searched, how, where, and from where on."""
    search, reward, run, space = session.search, session.reward, session.run, session.space
    where = "in this process" if not run.distributed else (
        f"on {run.workers} Ray workers" + (f" at {run.ray_address}" if run.ray_address else " (local cluster)"))
    note = progress.note
    note(space.describe() if hasattr(space, "describe") else f"search space {space.name}: {space.size:,} architectures")
    note(f"target {format_count(reward.target)} MACs, reward {reward.name} (alpha {reward.alpha:g}, beta {reward.beta:g})"
         + (f", candidates above {reward.reject_above:g}x the target rejected untrained" if reward.reject_above else ""))
    note(f"sampler {search.sampler}, {search.trials} trials" + (f" or {search.timeout:g}s" if search.timeout else "")
         + f", seed {search.seed}; proxy: {getattr(session.data, 'name', 'data')}, {_budget(session.proxy)}, trained {where}")
    note(f"study {run.study_name!r} in {studies.display_url(run.storage_url)}; results in {run.out}")
    if resumed:
        note(f"resuming: {done} of {search.trials} trials already done"
             + (f"; trials {', '.join(map(str, recovered))} were interrupted and are queued again" if recovered else ""))


def _budget(proxy: Any) -> str:
    parts = [f"{value:g} {unit}" for name, unit in (("epochs", "epochs"), ("steps", "steps"), ("seconds", "s"))
             if isinstance(value := getattr(proxy, name, None), (int, float))]
    return " or ".join(parts) or "its default budget"
