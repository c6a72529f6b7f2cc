"""``run_baseline_search``: one call from configs to a results folder, resumable at any point.

The order matters for the promise that bad input never touches an existing study: everything that
can be wrong with the run (space, configs, device, evaluator, a study run with other settings) is
checked before the first write; Ray is started before the study is created, so a cluster that
cannot be reached leaves no new, empty study behind; and the stale trials of a killed run are
recovered before the first new one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from effsearch.errors import EffsearchError
from effsearch.runtime.results import check_writable, write_run_json
from effsearch.search import storage as storages
from effsearch.search import study as studies
from effsearch.search.config import RunConfig, SearchConfig
from effsearch.search.cost_term import CostTerm, cost_term
from effsearch.search.evaluators import Evaluate, describe, make_evaluator
from effsearch.search.executor import make_executor
from effsearch.search.loop import SearchLoop
from effsearch.search.outputs import Export, export
from effsearch.search.placement import Placement, resolve_runtime
from effsearch.search.progress import SearchProgress, announce
from effsearch.search.retrain import pending, retrain_epochs, retrain_top
from effsearch.search.reward import RewardConfig
from effsearch.search.rungs import check_budget
from effsearch.search.samplers import make_sampler
from effsearch.search.settings import fingerprint, run_config_dict
from effsearch.search.space_fit import Coverage, fit_space, target_coverage


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
    reward: RewardConfig | None = None  # as used: an ``auto`` reward with its measured exponents

    @property
    def baseline(self) -> dict[str, Any] | None:
        """The chosen trial's row of ``trials.csv`` (long-budget accuracy and reward when retrained)."""
        return self.exported.baseline


def run_baseline_search(*, search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, data: Any,
                        evaluate: Evaluate | None = None, argv: list[str] | None = None,
                        console: Any = None) -> SearchResult:
    """Search a baseline for ``reward.target`` (of ``reward.objective``) and write the results folder ``run.out``.

    ``data`` is a loaded data set (:func:`effsearch.data.load_dataset`) and ``proxy`` a
    :class:`effsearch.proxy.ProxyConfig`. Candidates are evaluated by ``search.evaluator`` (a
    registered name, :mod:`effsearch.search.evaluators`) unless ``evaluate`` is given (same call
    signature as :func:`effsearch.proxy.train_and_evaluate`). ``search.sampler`` is a registered
    name or any Optuna ``BaseSampler``. Re-running with the same configs resumes.
    """
    from effsearch.search.space import load_space

    space = fit_space(load_space(search.space), search.space_width, reward)
    if run.ray_address is not None:  # a dead cluster is refused now, not after a supernet has trained
        from effsearch.runtime.cluster import check_address

        check_address(run.ray_address)
    # What this run creates is removed again if it fails before its study exists.
    created, had_db = _missing_folders(run.out), (run.out / "study.db").exists()
    check_writable(run.out)
    _check_reachable(space, reward)
    check_budget(search.rungs, proxy)
    long_epochs = retrain_epochs(search.retrain_epochs, proxy) if search.retrain_top else 0.0
    timed_here = (search.latency or reward.objective == "latency_ms") and search.latency_device == "cpu"
    proxy, run, placement = resolve_runtime(proxy, run, data=data, on_measure=_announce_measure(console, run),
                                            exclusive=timed_here)
    evaluate = evaluate or make_evaluator(search.evaluator, data=data, proxy=proxy, out=run.out, space=space)
    prints = fingerprint(search=search, reward=reward, proxy=proxy, space=space, data=data, evaluator=describe(evaluate))
    try:
        return _search(search=search, reward=reward, proxy=proxy, run=run, data=data, space=space, evaluate=evaluate,
                       prints=prints, long_epochs=long_epochs, argv=argv, console=console, placement=placement)
    except BaseException:
        _forget_fresh(run, created, new_db=not had_db)
        raise


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, innermost first."""
    missing = []
    for path in (Path(folder).absolute(), *Path(folder).absolute().parents):
        if path.exists():
            break
        missing.append(path)
    return missing


def _forget_fresh(run: RunConfig, created: list[Path], *, new_db: bool) -> None:
    """A run that failed before its study existed leaves no empty ``study.db`` (nor folder) behind.

    Only what this run created is removed, and only while it holds no study: anything else in the
    folder (the user's files, a supernet an evaluator trained) is kept.
    """
    if new_db and run.storage is None and (run.out / "study.db").is_file():
        storage = storages.open_storage(run.storage_url)
        try:
            empty = not optuna.get_all_study_names(storage)
        finally:
            storages.close_storage(storage)
        if empty:
            for name in ("study.db", "study.db-wal", "study.db-shm", "study.db.lock"):
                (run.out / name).unlink(missing_ok=True)
    for folder in created:
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break


def _search(*, search: SearchConfig, reward: RewardConfig, proxy: Any, run: RunConfig, data: Any, space: Any,
            evaluate: Evaluate, prints: dict[str, Any], long_epochs: float, argv: list[str] | None,
            console: Any, placement: Placement) -> SearchResult:
    storage = storages.open_storage(run.storage_url, create_folder=storages.inside(run.storage_url, run.out))
    try:
        existing = studies.find_study(storage, run.study_name)
        if existing is not None:
            studies.check_study(existing, objectives=search.objectives, fingerprint=prints, mix_runtime=search.mix_runtime)
        prepare = getattr(evaluate, "prepare", None)
        if callable(prepare):  # after every check, before the executor ships the evaluator to its workers
            prepare(data=data, proxy=proxy, on_epoch=_announce_epoch(console, run))
        executor = make_executor(data, workers=run.workers, threads=getattr(proxy, "threads", None) or 1,
                                 address=run.ray_address,
                                 gpus_per_trial=run.gpus_per_trial, evaluate=evaluate, verbose=run.verbose)
        try:
            finished = len(existing.get_trials(deepcopy=False)) if existing is not None else 0
            term = cost_term(space, reward, search.objectives)
            sampler = make_sampler(search.sampler, seed=search.seed, space=space, workers=run.workers, finished=finished,
                                   reward_factor=term)
            names = ["reward"] if search.objectives == 1 else ["accuracy", reward.objective]
            study, resumed = studies.create_or_load(storage, run.study_name, objectives=search.objectives,
                                                    fingerprint=prints, sampler=sampler, mix_runtime=search.mix_runtime,
                                                    metric_names=names, pruner=search.rungs.pruner())
            session = _Session(search=search, reward=reward, proxy=proxy, run=run, data=data, space=space, study=study,
                               long_epochs=long_epochs, argv=argv, evaluator=describe(evaluate), placement=placement,
                               cost_term=term)
            return session.execute(resumed=resumed, executor=executor, console=console)
        finally:
            executor.close()
    finally:
        storages.close_storage(storage)


def _check_reachable(space: Any, reward: RewardConfig) -> None:
    """Refuse a target under which every candidate would be rejected untrained (MACs and params are exact)."""
    from effsearch.arch.cost import count
    from effsearch.search.objectives import get_objective
    from effsearch.search.space import extreme_params

    if reward.reject_above is None or reward.objective not in ("macs", "params"):
        return
    smallest = getattr(count(space.to_spec(extreme_params(space, largest=False, cost=reward.objective))), reward.objective)
    limit = reward.target * reward.reject_above
    if smallest > limit:
        obj = get_objective(reward.objective)
        fmt = lambda v: f"{obj.format(v)} {obj.label}"  # noqa: E731
        raise EffsearchError(f"every network of space {space.name} would be rejected: the smallest costs {fmt(smallest)}, "
                             f"over {reward.reject_above:g} x the target {fmt(reward.target)}; raise the target "
                             f"(at least {fmt(smallest / reward.reject_above)}) or use a space with smaller networks")


def _announce_epoch(console: Any, run: RunConfig) -> Any:
    """Progress lines while an evaluator prepares (a supernet trains one epoch after another)."""
    if not run.progress:
        return None
    if console is None:
        from effsearch.runtime.console import console as make_console

        console = make_console()

    def show(record: dict[str, Any]) -> None:
        console.print(describe_epoch(record), highlight=False, markup=False)

    return show


def _announce_measure(console: Any, run: RunConfig) -> Any:
    """A line before the parallel layout is measured, so the first run on a machine does not seem stuck."""
    if not run.progress:
        return None

    def show() -> None:
        from effsearch.runtime.console import console as make_console

        (console or make_console()).print("measuring how many candidates to train at once on this machine "
                                          "(once; remembered for later runs)", highlight=False, markup=False)

    return show


def _note(console: Any, run: RunConfig) -> Any:
    """A line of progress outside the progress bar (nothing with progress off)."""
    if not run.progress:
        return lambda text: None
    from effsearch.runtime.console import console as make_console

    out = console or make_console()
    return lambda text: out.print(text, highlight=False, markup=False)


def describe_epoch(record: dict[str, Any]) -> str:
    """One line per supernet epoch: loss and the validation accuracy of the largest and smallest sub-networks."""
    return (f"supernet epoch {record['epoch']}: loss {record['train_loss']:.4f}, val top-1 largest "
            f"{record['largest_accuracy']:.4f} smallest {record['smallest_accuracy']:.4f} ({record['seconds']:.0f} s)")


def _best(study: optuna.Study) -> tuple[float, int] | None:
    scored = [(float(t.user_attrs["reward"]), -t.number) for t in study.get_trials(deepcopy=False)
              if t.user_attrs.get("status") in ("ok", "cached") and t.state == optuna.trial.TrialState.COMPLETE
              and isinstance(t.user_attrs.get("reward"), (int, float))
              and math.isfinite(t.user_attrs["reward"])]
    if not scored:
        return None
    value, neg = max(scored)
    return value, -neg


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
    evaluator: dict[str, Any] = dataclasses.field(default_factory=dict)
    placement: Placement | None = None
    cost_term: CostTerm | None = None  # the sampler's view of the reward, kept in step with a calibrated one
    started: float | None = None
    coverage: Coverage | None = None  # how much of the space the target leaves in budget

    def save(self) -> Export:
        return export(self.study, self.space, self.run.out, target=self.reward.target,
                      retrain_top=self.search.retrain_top, retrain_epochs=self.long_epochs)

    def write_run_json(self, exported: Export | None = None) -> None:
        config = run_config_dict(search=self.search, reward=self.reward, proxy=self.proxy, run=self.run,
                                 space=self.space, data=self.data, retrain_epochs=self.long_epochs,
                                 evaluator=self.evaluator, placement=self.placement, coverage=self.coverage)
        found = exported.fidelity if exported is not None else None
        results = {"fidelity": {**found, "evaluator": self.evaluator.get("name")}} if found else {}
        if exported is not None and exported.pick is not None:
            results["pick"] = exported.pick
        results = results or None
        write_run_json(self.run.out, kind="baseline", seed=self.search.seed, config=config, argv=self.argv,
                       results=results)

    def execute(self, *, resumed: bool, executor: Any, console: Any) -> SearchResult:
        self.started = time.monotonic()  # the time limit covers the reward's calibration too
        self.coverage = target_coverage(self.space, self.reward)
        recovered = studies.recover_stale(self.study)
        if self.reward.pending:
            self.reward = self._calibrate(executor, console)
            if self.cost_term is not None:
                self.cost_term.use(self.reward)
        self.write_run_json()
        done = sum(studies.counts_as_finished(t) for t in self.study.get_trials(deepcopy=False))
        progress = SearchProgress(total=max(self.search.trials, done), done=min(done, self.search.trials),
                                  best=_best(self.study), console=console, enabled=self.run.progress)
        announce(progress, search=self.search, reward=self.reward, run=self.run, space=self.space, data=self.data,
                 proxy=self.proxy, resumed=resumed, done=done, recovered=recovered, placement=self.placement,
                 coverage=self.coverage)
        self.save()
        with progress:
            ran = self._search(executor, progress)
            retrained = self._retrain(executor, progress)
        exported = self.save()
        self.write_run_json(exported)
        return SearchResult(out=self.run.out, study=self.study, space=self.space, exported=exported, resumed=resumed,
                            recovered=recovered, ran=ran, retrained=retrained,
                            storage=storages.display_url(self.run.storage_url), reward=self.reward)

    def _calibrate(self, executor: Any, console: Any) -> RewardConfig:
        """``auto`` exponents: measured once per study (search.calibrate), then read back from it."""
        from effsearch.search.calibrate import STUDY_ATTR, calibrate, calibrated
        from effsearch.search.worker import Candidate

        record = self.study.user_attrs.get(STUDY_ATTR)
        if not isinstance(record, dict):
            note = _note(console, self.run)

            def run(jobs: list[tuple[Any, Any, int]]) -> list[dict[str, Any]]:
                tickets = [executor.submit(Candidate(number=-1 - i, spec=spec, proxy=proxy, seed=seed))
                           for i, (spec, proxy, seed) in enumerate(jobs)]
                done: dict[int, dict[str, Any]] = {}
                while len(done) < len(tickets):
                    for ticket, metrics in executor.wait():
                        done[ticket] = metrics
                        note(f"  reference {len(done)} of {len(tickets)}: accuracy {metrics.get('accuracy', 0):.4f} "
                             f"({metrics.get('wall_seconds', 0):.0f} s)")
                return [done[t] for t in tickets]

            record = calibrate(space=self.space, reward=self.reward, proxy=self.proxy, rungs=self.search.rungs,
                               seed=self.search.seed, run=run, note=note)
            self.study.set_user_attr(STUDY_ATTR, record)
        return calibrated(self.reward, record)

    def _search(self, executor: Any, progress: SearchProgress) -> int:
        def on_trial(trial: optuna.trial.FrozenTrial) -> None:
            self.save()
            progress.trial(trial, counted=studies.counts_as_finished(trial))

        def on_rung(trial: optuna.Trial, record: dict[str, Any]) -> None:
            self.save()  # trials.csv shows a promotion while the candidate trains its next rung
            progress.rung(trial, record)

        loop = SearchLoop(self.study, self.space, search=self.search, reward_config=self.reward, proxy=self.proxy,
                          executor=executor, sampler_name=self.search.sampler_name, on_trial=on_trial,
                          on_rung=on_rung, started=self.started)
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
