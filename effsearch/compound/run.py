"""``run_scale``: the compound-scaling stage as one call, mirroring ``run_baseline_search``.

From a baseline (a spec, a preset, a spec file or a baseline results folder) to a results folder:
the compound grid at phi = 1 on Ray Tune (unless coefficients are given or the official table is
asked for), the family for each phi (``family.yaml``, ``family.json``, ``members/``), ``grid.csv``
and ``run.json``. Running it again on the same folder resumes the grid; a requested stop leaves
the unfinished points resumable and raises :class:`~effsearch.runtime.stop.Stopped`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from effsearch.arch.scaling import RESOLUTION_MULTIPLE, flops_ratio
from effsearch.arch.spec import NetSpec
from effsearch.compound.family import OFFICIAL_RESOLUTION_MULTIPLE, RULES, Family, check_coefficients, check_phis
from effsearch.compound.grid import GridConfig, describe
from effsearch.compound.targets import Target
from effsearch.errors import EffsearchError
from effsearch.runtime import stop
from effsearch.runtime.results import write_run_json

PAPER_COEFFICIENTS = (1.2, 1.1, 1.15)
"""alpha, beta, gamma of the EfficientNet paper (recorded for reference with the official table)."""


@dataclass(frozen=True, kw_only=True)
class ScaleConfig:
    """What to scale: the phi values, the rule, the coefficients (or the grid that finds them), rounding."""

    phis: tuple[float, ...] = tuple(range(8))
    targets: tuple[Target, ...] = ()  # budgets to scale to: one member each, at the phi that fits (compound.targets)
    rule: str = "compound"  # or "official": the released B0..B7 table instead of alpha^phi
    coefficients: tuple[float, float, float] | None = None  # given: no grid
    grid: GridConfig = field(default_factory=GridConfig)
    resolution_multiple: int | None = None  # default 8 (compound), 4 (official)
    ignore_constraint: bool = False  # accept given coefficients off alpha*beta^2*gamma^2 ~ grid.target
    latency: bool = False  # measure each member's latency
    latency_threads: int = 1
    seed: int = 0
    grid_seeds: int = 1  # train each grid point with this many seeds (seed upwards) and rank points on the mean

    def __post_init__(self) -> None:
        object.__setattr__(self, "phis", tuple(self.phis))
        object.__setattr__(self, "targets", tuple(self.targets))
        if self.rule not in RULES:
            raise EffsearchError(f"family rule {self.rule!r} is unknown; use one of {', '.join(RULES)}")
        check_phis(self.phis, self.rule, allow_empty=bool(self.targets))
        if self.targets and self.rule != "compound":
            raise EffsearchError("the official table has fixed members; scale to a target with compound coefficients")
        if self.rule == "official" and self.coefficients is not None:
            raise EffsearchError("the official table (rule official) replaces the coefficients; give one or the other")
        if self.coefficients is not None:
            coeffs = check_coefficients(*self.coefficients)
            object.__setattr__(self, "coefficients", coeffs)
            ratio, target, tol = flops_ratio(*coeffs), self.grid.target, self.grid.tolerance
            if abs(ratio - target) > tol and not self.ignore_constraint:
                a, b, g = coeffs
                raise EffsearchError(
                    f"coefficients {a:g},{b:g},{g:g} give alpha*beta^2*gamma^2 = {ratio:.3f}, not {target:g} +/- {tol:g}; "
                    "choose coefficients on the constraint, raise the grid tolerance, or set ignore_constraint=True")
        n = self.grid_seeds
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise EffsearchError(f"the grid's seeds per point must be a whole number >= 1, not {n!r}")
        m = self.resolution_multiple
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise EffsearchError(f"resolution multiple {m!r} is invalid; use a whole number >= 1, e.g. 8")

    @property
    def multiple(self) -> int:
        if self.resolution_multiple is not None:
            return self.resolution_multiple
        return OFFICIAL_RESOLUTION_MULTIPLE if self.rule == "official" else RESOLUTION_MULTIPLE

    @property
    def needs_grid(self) -> bool:
        return self.rule == "compound" and self.coefficients is None


@dataclass(frozen=True, kw_only=True)
class ScaleRunConfig:
    """Where and how the grid runs: the results folder and the Ray Tune resources."""

    out: Path | None = None  # None: effsearch.runs picks the default folder (it resumes on re-run)
    # Grid points trained at once: "auto" measures the layout here (effsearch.engine.parallel), None
    # is one per CPU of the cluster; cpus_per_trial None: the layout's threads, or the cores shared out.
    workers: int | str | None = "auto"
    ray_address: str | None = None
    cpus_per_trial: float | None = None
    gpus_per_trial: float | None = None  # default: the local GPUs shared by the workers
    max_failures: int = 2
    scheduler: str = "fifo"
    asha_grace: int = 1
    asha_reduction: float = 3.0
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.out is None:
            return
        object.__setattr__(self, "out", Path(self.out))
        if self.out.exists() and not self.out.is_dir():
            raise EffsearchError(f"results folder {self.out} is a file; give a folder for the results")
        w = self.workers
        if w is not None and w != "auto" and (isinstance(w, bool) or not isinstance(w, int) or w < 1):
            raise EffsearchError(f"workers {w!r} is invalid; give an integer >= 1 or auto")

    def placed(self, proxy: Any, data: Any) -> ScaleRunConfig:
        """Workers and CPUs per point made concrete for training ``proxy`` on ``data`` here (see the fields)."""
        from effsearch.engine import ProxyConfig
        from effsearch.engine.device import usable_cores
        from effsearch.engine.parallel import layout_for

        workers, cpus = self.workers, self.cpus_per_trial
        if workers == "auto" and self.ray_address is None and cpus is None and isinstance(proxy, ProxyConfig):
            layout = layout_for(proxy, data, cores=usable_cores())
            workers, cpus = layout.workers, float(layout.threads)
        elif workers == "auto":
            workers = None if self.ray_address else max(1, int(usable_cores() // (cpus or 1)))
        if cpus is None:
            cpus = 1.0 if self.ray_address or not workers else float(max(1, usable_cores() // workers))
        return dataclasses.replace(self, workers=workers, cpus_per_trial=cpus)

    def tune_settings(self) -> Any:
        import os

        from effsearch.compound.settings import TuneSettings
        from effsearch.runtime.cluster import gpu_share

        workers = None if self.workers == "auto" else self.workers
        cpus = self.cpus_per_trial or 1.0
        gpus = self.gpus_per_trial
        if gpus is None:
            gpus = gpu_share(workers or os.cpu_count() or 1, self.ray_address)
        num_cpus = None if self.ray_address or not workers else max(1, int(workers * cpus + 0.999))
        return TuneSettings(
            scheduler=self.scheduler, cpus_per_trial=cpus, gpus_per_trial=gpus,
            max_failures=self.max_failures, max_concurrent=workers, ray_address=self.ray_address,
            num_cpus=num_cpus, grace_period=self.asha_grace, reduction_factor=self.asha_reduction, verbose=self.verbose,
        )


@dataclass
class ScaleResult:
    """A finished scale stage: the family, the grid that chose its coefficients (if one ran), the folder."""

    out: Path
    family: Family
    grid: Any  # GridResult | None
    coefficients: tuple[float, float, float]
    coefficients_from: str  # "grid", "given" or "official"
    baseline_source: str


def _baseline(baseline: NetSpec | str | Path) -> tuple[NetSpec, str]:
    from effsearch.arch.specio import load_spec

    if isinstance(baseline, NetSpec):
        return baseline, baseline.name or "spec"
    return load_spec(baseline), str(baseline)


def _latency_fn(threads: int) -> Callable[[NetSpec], float]:
    from effsearch.engine.latency import measure_latency

    return lambda spec: float(measure_latency(spec, threads=threads)["latency_ms"])


def run_scale(*, baseline: NetSpec | str | Path, scale: ScaleConfig, run: ScaleRunConfig, proxy: Any = None,
              data: Any = None, argv: list[str] | None = None, on_point: Callable[[dict], None] | None = None,
              callbacks: Sequence[Any] = (), on_start: Callable[[], None] | None = None,
              inherited: dict[str, Any] | None = None) -> ScaleResult:
    """Scale ``baseline`` into a family in ``run.out``: grid (when needed), family, run.json.

    The engine under :func:`effsearch.runs.scale`, which resolves a baseline run, inherits its data
    set and proxy recipe and picks the folder. ``proxy`` (a :class:`~effsearch.proxy.ProxyConfig`,
    default ``ProxyConfig()``) and ``data`` (default: the bundled digits) are used by the grid;
    ``data`` is recorded either way so the members train on it. ``on_point(record)`` is called as
    each grid point finishes, ``callbacks`` are extra Ray Tune callbacks, ``on_start()`` is called
    when every check has passed and the grid is about to train; ``inherited`` (what came from the
    baseline run) is recorded in run.json.
    """
    if run.out is None:
        raise EffsearchError("the scale stage needs a results folder (out)")
    from effsearch.compound.family import make_family, save_family
    from effsearch.runtime.results import check_writable

    spec, source = _baseline(baseline)
    check_writable(run.out)
    if run.ray_address is not None and scale.needs_grid:  # a dead cluster: one line now, not minutes of Ray retries
        from effsearch.runtime.cluster import check_address

        check_address(run.ray_address)
    grid = None
    if scale.rule == "official":
        coeffs, origin = PAPER_COEFFICIENTS, "official"
    elif scale.coefficients is not None:
        coeffs, origin = scale.coefficients, "given"
    else:
        proxy, data = _grid_inputs(proxy, data)
        run = run.placed(proxy, data)
        grid = _run_grid(spec, scale, run, proxy, data, on_point, callbacks, on_start)
        _write_run_json(run, scale, source, None, "grid", grid, proxy, data, argv, inherited)
        if not grid.complete:
            raise stop.Stopped("the grid stopped before every point finished; run it again on the same folder to resume")
        if grid.best is None:
            raise EffsearchError(f"no grid point trained successfully; see the reasons in {run.out / 'grid.csv'}")
        coeffs, origin = (grid.best.alpha, grid.best.beta, grid.best.gamma), "grid"
    measuring = scale.latency or any(t.objective == "latency_ms" for t in scale.targets)
    family = make_family(spec, scale.phis, alpha=coeffs[0], beta=coeffs[1], gamma=coeffs[2], rule=scale.rule,
                         resolution_multiple=scale.multiple, targets=scale.targets,
                         latency=_latency_fn(scale.latency_threads) if measuring else None)
    save_family(family, run.out)
    _write_run_json(run, scale, source, coeffs, origin, grid, proxy, data, argv, inherited)
    return ScaleResult(out=run.out, family=family, grid=grid, coefficients=tuple(coeffs), coefficients_from=origin,
                       baseline_source=source)


def _run_grid(spec: NetSpec, scale: ScaleConfig, run: ScaleRunConfig, proxy: Any, data: Any,
              on_point: Callable[[dict], None] | None, callbacks: Sequence[Any],
              on_start: Callable[[], None] | None = None) -> Any:
    from effsearch.compound.grid import grid_points
    from effsearch.compound.tune import run_grid

    return run_grid(spec, grid_points(scale.grid), data=data, proxy=proxy, folder=run.out, settings=run.tune_settings(),
                    seed=scale.seed, resolution_multiple=scale.multiple, on_point=on_point, callbacks=callbacks,
                    on_start=on_start, seeds=scale.grid_seeds)


def _grid_inputs(proxy: Any, data: Any) -> tuple[Any, Any]:
    """The grid's proxy config and data set: ``ProxyConfig()`` and the bundled digits unless given."""
    if proxy is None:
        from effsearch.engine import ProxyConfig

        proxy = ProxyConfig()
    if data is None:
        from effsearch.data import load_dataset

        data = load_dataset()
    return proxy, data


def _write_run_json(run: ScaleRunConfig, scale: ScaleConfig, source: str, coeffs: Sequence[float] | None, origin: str,
                    grid: Any, proxy: Any, data: Any, argv: list[str] | None, inherited: dict[str, Any] | None) -> None:
    from effsearch.data.record import data_record

    config: dict[str, Any] = {
        "baseline": source, "phi": list(scale.phis), "rule": scale.rule, "resolution_multiple": scale.multiple,
        "targets": [{"objective": t.objective, "value": t.value} for t in scale.targets],
        "data": data if isinstance(data, dict) else data_record(data), "inherited": inherited or {},
        "coefficients": None if coeffs is None else dict(zip(("alpha", "beta", "gamma"), coeffs, strict=True)),
        "coefficients_from": origin, "ignore_constraint": scale.ignore_constraint, "constraint": describe(scale.grid),
        "latency": scale.latency,
    }
    if grid is not None:
        config.update(grid={**describe(scale.grid), "points": len(grid.rows), "complete": grid.complete},
                      scheduler=run.scheduler, dataset=getattr(data, "name", None),
                      epochs=getattr(proxy, "epochs", None), workers=run.workers, cpus_per_trial=run.cpus_per_trial,
                      ray_address=run.ray_address,
                      proxy=_plain(proxy), selected=None if grid.best is None else grid.best.index)
    run.out.mkdir(parents=True, exist_ok=True)
    write_run_json(run.out, kind="scale", seed=scale.seed, config=config, argv=argv)


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
