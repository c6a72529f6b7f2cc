"""The pipeline's hand-overs: each stage takes the run before it and returns its own run.

``scale(baseline_run)`` grid-searches on the data set and proxy recipe the baseline search used,
writes into ``<baseline folder>-scale`` unless told otherwise (so the same call resumes), and returns a
:class:`ScaleRun`; ``network(source, phi)`` is the one resolver of "a network to train": a preset, a spec
file, a baseline run's choice, a trained network, or a family's member (``scale_run[2]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from effsearch.errors import EffsearchError
from effsearch.runs.folders import BaselineRun, Run, ScaleRun, TrainRun, newest_run, open_run, run_kind
from effsearch.runs.inherit import inherited_proxy, load_recorded_data
from effsearch.runtime.results import DEFAULT_ROOT


def baseline_source(baseline: Any) -> tuple[Any, BaselineRun | None]:
    """What to scale (a spec, preset name or spec file) and the baseline run it came from, if any.

    ``None`` means the newest baseline run under ``results/``.
    """
    if baseline is None:
        baseline = newest_run("baseline")
    if isinstance(baseline, BaselineRun):
        return baseline.spec, baseline
    if isinstance(baseline, Run):
        raise EffsearchError(f"{baseline.folder} is a {baseline.kind} run; scale a baseline run, a spec file or a preset")
    if isinstance(baseline, (str, Path)) and run_kind(baseline) is BaselineRun:
        found = open_run(baseline)
        return found.spec, found
    return baseline, None


def scale_folder(baseline: Any, run: BaselineRun | None, *, compare: bool = False) -> Path:
    """The default folder of a scale stage: ``<baseline folder>-scale`` (``-compare``), or ``results/<name>-scale``."""
    suffix = "-compare" if compare else "-scale"
    if run is not None:
        return run.folder.with_name(run.folder.name + suffix)
    name = getattr(baseline, "name", None) or Path(str(baseline)).stem
    return DEFAULT_ROOT / f"{name}{suffix}"


def scale(baseline: Any = None, *, scale: Any, run: Any = None, proxy: Any = None, data: Any = None,
          argv: list[str] | None = None, on_point: Callable[[dict], None] | None = None, callbacks: Sequence[Any] = (),
          on_start: Callable[..., None] | None = None) -> ScaleRun:
    """Run (or resume) the scale stage of ``baseline`` and return its :class:`ScaleRun` (``.result``: the
    :class:`~effsearch.compound.run.ScaleResult` of this call).

    ``baseline`` is a :class:`BaselineRun`, its folder, a spec, preset or spec file, or None (the newest
    baseline run). From a baseline run, ``data`` (a loaded data set) defaults to the one the search used,
    and ``proxy`` (a ProxyConfig, or a mapping of fields to override) to the search's recipe.
    ``on_start(data=, proxy=, out=)`` is called with what the grid really trains on, once every check
    has passed; ``on_point`` and ``callbacks`` are :func:`~effsearch.compound.run_scale`'s.
    """
    from effsearch.compound.run import ScaleRunConfig, run_scale

    spec, source_run = baseline_source(baseline)
    run = run if run is not None else ScaleRunConfig()
    if run.out is None:
        run = _with_out(run, scale_folder(spec, source_run))
    inherited: dict[str, Any] = {"from": str(source_run.folder) if source_run is not None else None}
    record: Any = None
    if data is None and source_run is not None and source_run.data:
        record = source_run.data
        inherited["dataset"] = "baseline"
        if scale.needs_grid:
            data = load_recorded_data(record, f"the baseline run {source_run.folder}")
    elif data is not None:
        inherited["dataset"] = "given"
    if scale.needs_grid:
        proxy, inherited["proxy"] = inherited_proxy(source_run.proxy if source_run is not None else {}, proxy)
    started = None if on_start is None else (lambda: on_start(data=data, proxy=proxy, out=run.out))
    result = run_scale(baseline=source_run.folder if source_run is not None else spec, scale=scale, run=run, proxy=proxy,
                       data=data if data is not None else record, argv=argv, on_point=on_point, callbacks=callbacks,
                       on_start=started, inherited=inherited)
    return ScaleRun(result.out, result)


def _with_out(run: Any, out: Path) -> Any:
    import dataclasses

    return dataclasses.replace(run, out=out)


def network(source: Any, phi: float | None = None) -> tuple[Any, Run | None]:
    """The spec a stage should train, and the run it came from (None for a preset or spec file).

    A scale run needs ``phi`` (which member); other sources refuse it.
    """
    from effsearch.arch.specio import load_spec

    found = source if isinstance(source, Run) else open_run(source) if run_kind(source) else None
    if isinstance(found, ScaleRun):
        if phi is None:
            phis = ", ".join(f"{m.phi:g}" for m in found.family.members) if found.has_family else "none yet"
            raise EffsearchError(f"{found.folder} is a family; choose a member by its phi ({phis})")
        return found.member(phi).spec, found
    if phi is not None:
        raise EffsearchError(f"phi picks a member of a family; {source} is a single network")
    if isinstance(found, (BaselineRun, TrainRun)):
        return found.spec, found
    if found is not None:
        raise EffsearchError(f"{found.folder} is a {found.kind} run and holds no single network to train")
    return load_spec(source), None


def search(**options: Any) -> BaselineRun:
    """Run (or resume) a baseline search and return its :class:`BaselineRun` (``.result``: the
    :class:`~effsearch.search.baseline.SearchResult`); options as :func:`~effsearch.run_baseline_search`."""
    from effsearch.search.baseline import run_baseline_search

    result = run_baseline_search(**options)
    return BaselineRun(result.out, result)


def data_of(run: Run | None) -> dict[str, Any]:
    """The recorded data set of a baseline or scale run ({} for other sources)."""
    return dict(getattr(run, "data", None) or {}) if isinstance(run, (BaselineRun, ScaleRun)) else {}


def compare_inputs(*, baseline: Any, coefficients: tuple[float, float, float] | None, out: Path | None,
                   resolution_multiple: int | None, check: Callable[[tuple[float, float, float]], Any]) -> dict[str, Any]:
    """The baseline, coefficients, resolution multiple and folder a comparison of scaling rules uses.

    Coefficients are the given ones (checked by ``check``, the scale stage's rules) or those of the
    family in ``out`` (a scale run whose grid chose them); the baseline is the given one, the family's,
    or the newest baseline run.
    """
    family = ScaleRun(out).family if out is not None and ScaleRun(out).has_family else None
    if coefficients is not None:
        coeffs, origin = check(coefficients), "given"
    elif family is not None and family.rule == "compound":
        coeffs, origin = (family.alpha, family.beta, family.gamma), f"the family in {out}"
    elif family is not None:
        raise EffsearchError(f"the family in {out} follows the official B0..B7 table, not alpha^phi; give coefficients")
    else:
        where = f"{out} has no family.json" if out is not None else "no results folder was given"
        raise EffsearchError(f"comparing scaling rules needs the compound coefficients and {where}; give the coefficients "
                             "(alpha,beta,gamma), or a scale results folder whose grid has chosen them")
    if baseline is None and family is not None:
        spec, source_run = family.baseline, None
    else:
        spec, source_run = baseline_source(baseline)
        if not hasattr(spec, "blocks"):
            from effsearch.arch.specio import load_spec

            spec = load_spec(spec)
    multiple = resolution_multiple or (family.resolution_multiple if family is not None else None) or 8
    folder = out if out is not None else scale_folder(spec, source_run, compare=True)
    return {"baseline": spec, "baseline_run": source_run, "coefficients": tuple(coeffs), "origin": origin,
            "resolution_multiple": multiple, "out": folder}
