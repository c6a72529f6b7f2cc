"""Where a search's candidates train: how many at once, on how many threads each, and by what executor.

:func:`resolve_runtime` turns the run's ``workers`` (a count or ``"auto"``) and the proxy's
``threads`` (a count or ``None``) into concrete numbers before anything is written:

* both given: as given;
* workers given, threads not: the usable cores shared out (``cores // workers``, at least 1); one
  thread per Ray task, since a cluster's tasks each hold one CPU;
* ``"auto"`` with threads given: as many workers as that leaves cores for;
* ``"auto"`` alone: the layout of :mod:`effsearch.engine.parallel` (measured once per machine and
  input size), or, when the results folder already holds a search, the workers and threads that
  search recorded, so a resumed run carries on as it started; one worker on every core when the
  search times candidates on this CPU (``exclusive``: latency measured while other candidates train
  would measure the contention, not the network).

The :class:`Placement` is recorded in ``run.json``; the thread count is part of the study's
fingerprint (``runtime``), so trials trained otherwise are not mixed in unnoticed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from effsearch.search.config import RunConfig

AUTO = "auto"


@dataclass(frozen=True)
class Placement:
    """The resolved layout and how it was chosen."""

    workers: int
    threads: int | None
    executor: str  # in-process | pool | ray
    source: str  # given | measured | remembered | resumed | latency
    steps_per_s: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def describe(self) -> str:
        """``on 2 worker processes (auto, measured now)``, ``in this process``, ``on 8 Ray workers``."""
        where = {"in-process": "in this process", "pool": f"on {self.workers} worker processes",
                 "ray": f"on {self.workers} Ray workers"}[self.executor]
        why = {"measured": "auto, measured now", "remembered": "auto, as measured before on this machine",
               "resumed": "as this search started", "latency": "one at a time: latency is timed on this CPU"}
        return where + (f" ({why[self.source]})" if self.source in why else "")


def _on_ray(run: RunConfig) -> bool:
    from effsearch.search.executor import uses_ray

    return uses_ray(run.ray_address)


def _executor(workers: int, run: RunConfig) -> str:
    if _on_ray(run):
        return "ray"
    return "in-process" if workers == 1 else "pool"


def _recorded(run: RunConfig) -> tuple[int, int | None] | None:
    """The workers and threads of the search already in the results folder, if any."""
    try:
        config = json.loads((run.out / "run.json").read_text())["config"]
        workers, threads = config["workers"], (config.get("runtime") or {}).get("threads")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if isinstance(workers, int) and workers >= 1 and (threads is None or isinstance(threads, int)):
        return workers, threads
    return None


def _auto(proxy: Any, run: RunConfig, data: Any, on_measure: Any,
          exclusive: bool) -> tuple[int, int | None, str, dict[str, float]]:
    from effsearch.engine import ProxyConfig
    from effsearch.engine.device import usable_cores
    from effsearch.engine.parallel import layout_for

    cores = usable_cores()
    threads = getattr(proxy, "threads", None)
    if _on_ray(run):
        return cores, threads or 1, "given", {}  # a cluster: one task per CPU, as Ray counts them
    if threads is not None:
        return max(1, cores // threads), threads, "given", {}
    if (recorded := _recorded(run)) is not None:
        return recorded[0], recorded[1] or _share(recorded[0], run), "resumed", {}
    if exclusive:
        return 1, _share(1, run), "latency", {}
    if not isinstance(proxy, ProxyConfig):
        return 1, None, "given", {}  # another evaluator's config: its own business how to use the machine
    layout = layout_for(proxy, data, cores=cores, on_measure=on_measure)
    return layout.workers, layout.threads, layout.source, layout.steps_per_s


def _share(workers: int, run: RunConfig) -> int:
    """Threads per worker when only the workers are given: the cores shared out (one per Ray task)."""
    from effsearch.engine.device import default_threads, usable_cores

    if _on_ray(run):
        return 1
    return default_threads() if workers == 1 else max(1, usable_cores() // workers)


def resolve_runtime(proxy: Any, run: RunConfig, *, data: Any = None, on_measure: Any = None,
                    exclusive: bool = False) -> tuple[Any, RunConfig, Placement]:
    """``proxy`` and ``run`` made concrete for this run (workers, threads, device, kernel path), and the placement.

    Other config types (a custom evaluator's) pass unchanged, and ``"auto"`` gives them one worker.
    ``on_measure()`` is called before a layout is measured (a few seconds, once per machine).
    """
    from effsearch.engine import ProxyConfig
    from effsearch.engine.device import concrete_runtime

    figures: dict[str, float] = {}
    if run.workers == AUTO:
        workers, threads, source, figures = _auto(proxy, run, data, on_measure, exclusive)
    else:
        workers, source = int(run.workers), "given"
        threads = getattr(proxy, "threads", None) or _share(workers, run)
    run = dataclasses.replace(run, workers=workers)
    if isinstance(proxy, ProxyConfig):
        proxy = concrete_runtime(proxy.replace(threads=proxy.threads or threads), threads=threads)
        threads = proxy.threads
    else:
        threads = None
    return proxy, run, Placement(workers=workers, threads=threads, executor=_executor(workers, run), source=source,
                                 steps_per_s=figures)
