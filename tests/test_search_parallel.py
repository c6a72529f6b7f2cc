"""Several workers: results are told in the order trials were asked for, so a search is reproducible
whatever order its workers finish in; and how ``workers="auto"`` is resolved."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from effsearch.search import RunConfig
from effsearch.search.loop import blocks_key, in_flight_limit
from effsearch.search.placement import resolve_runtime
from tests.search_helpers import Scorer, search


class Jittery(Scorer):
    """Scores like :class:`Scorer` after a delay that depends on the architecture and ``salt``: workers finish out of order."""

    def __init__(self, salt: str) -> None:
        super().__init__()
        self.salt = salt

    def __call__(self, spec, data, config, seed=0):
        digest = hashlib.sha256((self.salt + blocks_key(spec)).encode()).digest()
        time.sleep(digest[0] / 255 * 0.3)
        return super().__call__(spec, data, config, seed)


def _history(result):
    return [(t.number, t.params, t.values, t.user_attrs.get("status")) for t in
            sorted(result.study.get_trials(deepcopy=False), key=lambda t: t.number)]


@pytest.mark.parametrize("sampler", ["mnas", "tpe"])
def test_two_workers_propose_the_same_architectures_whatever_order_they_finish_in(tmp_path, sampler):
    runs = [search(tmp_path / salt, evaluate=Jittery(salt), sampler=sampler, trials=30, workers=2, space="mnasnet")
            for salt in ("a", "b")]
    first, second = (_history(r) for r in runs)
    assert first == second
    finished = [t for t in runs[0].study.get_trials(deepcopy=False) if t.datetime_complete]
    overlap = sum(b.datetime_start < a.datetime_complete for a in finished for b in finished if b.number > a.number)
    assert overlap > 0  # trials really were in flight together


def test_in_flight_limit():
    assert [in_flight_limit(c) for c in (1, 2, 8)] == [1, 4, 16]


def test_a_resumed_auto_search_keeps_the_layout_it_started_with(tmp_path):
    from effsearch.proxy import ProxyConfig

    run = RunConfig(out=tmp_path, progress=False)
    (tmp_path / "run.json").write_text(json.dumps({"kind": "baseline", "config": {"workers": 3, "runtime": {"threads": 2}}}))
    proxy, placed, placement = resolve_runtime(ProxyConfig(device="cpu", kernels="torch"), run)
    assert (placed.workers, proxy.threads, placement.source, placement.executor) == (3, 2, "resumed", "pool")


@pytest.mark.parametrize(("workers", "threads", "expected"), [
    (1, None, (1, 2, "in-process")),
    (2, None, (2, 1, "pool")),
    ("auto", 1, (2, 1, "pool")),
    ("auto", 2, (1, 2, "in-process")),
    (4, 3, (4, 3, "pool")),
])
def test_given_workers_and_threads_share_the_cores(tmp_path, monkeypatch, workers, threads, expected):
    from effsearch.proxy import ProxyConfig

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    proxy, run, placement = resolve_runtime(ProxyConfig(device="cpu", kernels="torch", threads=threads),
                                            RunConfig(out=tmp_path, workers=workers))
    assert (run.workers, proxy.threads, placement.executor) == expected and placement.source == "given"


def test_auto_measures_once_then_remembers(tmp_path, monkeypatch):
    import effsearch.engine.parallel as parallel
    from effsearch.proxy import ProxyConfig
    from effsearch.search.placement import resolve_runtime

    monkeypatch.setenv("EFFSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3})
    measured = []

    def fake(workers, threads, **reference):
        measured.append((workers, threads, reference["resolution"], reference["batch"]))
        return {1: 10.0, 2: 19.0, 4: 19.5}[workers]  # four workers: not 5% better than two

    monkeypatch.setattr(parallel, "measure_layout", fake)
    data = type("Data", (), {"default_resolution": 16})()
    proxy = ProxyConfig(device="cpu", kernels="torch", batch_size=32)
    for attempt in range(2):
        placed_proxy, run, placement = resolve_runtime(proxy, RunConfig(out=tmp_path / f"r{attempt}"), data=data)
        assert (run.workers, placed_proxy.threads, placement.executor) == (2, 2, "pool")
        assert placement.source == ("measured" if attempt == 0 else "remembered")
        assert placement.steps_per_s == {"1x4": 10.0, "2x2": 19.0, "4x1": 19.5}
    assert measured == [(1, 4, 16, 32), (2, 2, 16, 32), (4, 1, 16, 32)]  # once, at the run's input size and batch


def test_layout_candidates_and_the_pick():
    from effsearch.engine.parallel import candidates, pick

    assert candidates(2) == [(1, 2), (2, 1)]
    assert candidates(6) == [(1, 6), (2, 3), (4, 1), (6, 1)]
    assert candidates(1) == [(1, 1)]
    assert candidates(16, "cuda") == [(1, 16), (2, 8), (4, 4)]
    assert pick({(1, 2): 10.0, (2, 1): 10.4}) == (1, 2)  # within the margin: fewer workers
    assert pick({(1, 2): 10.0, (2, 1): 17.0}) == (2, 1)


def test_a_search_that_times_candidates_on_this_cpu_trains_one_at_a_time(tmp_path, monkeypatch):
    """Latency measured while other candidates train would measure the contention."""
    from effsearch.proxy import ProxyConfig

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    proxy, run, placement = resolve_runtime(ProxyConfig(device="cpu", kernels="torch"), RunConfig(out=tmp_path),
                                            exclusive=True)
    assert (run.workers, proxy.threads, placement.executor, placement.source) == (1, 2, "in-process", "latency")
