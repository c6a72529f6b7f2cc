"""``--ray-address local`` means a local cluster of our own; a named cluster that does not answer is one line.

A plain ``ray.init()`` joins the cluster the machine has recorded (``RAY_ADDRESS``, or the address
file ``ray start`` leaves behind, also after a crash). These tests record a dead one in
``RAY_ADDRESS``, which Ray reads the same way.
"""

from __future__ import annotations

import json
import socket
import time

import pandas as pd
import pytest

from effsearch.cli import main
from tests.search_helpers import TINY_SPACE, write_space


@pytest.fixture
def dead_address(monkeypatch):
    """An address nothing listens on (a port taken and released), recorded as the machine's cluster."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"127.0.0.1:{port}"
    monkeypatch.setenv("RAY_ADDRESS", address)
    return address


def _argv(tmp_path, *extra):
    space = write_space(tmp_path, TINY_SPACE, "tiny")
    return ["baseline", "--flops-target", "5M", "--space", space, "--sampler", "random", "--trials", "2", "--steps", "2",
            "--threads", "1", "--quiet", *extra]


def test_workers_start_a_cluster_of_their_own_despite_a_recorded_one(dead_address, tmp_path, capsys):
    import ray

    assert not ray.is_initialized()
    out = tmp_path / "run"
    assert main([*_argv(tmp_path, "--workers", "2", "--ray-address", "local"), "--out", str(out)]) == 0, capsys.readouterr().err
    assert len(pd.read_csv(out / "trials.csv")) == 2 and not ray.is_initialized()


def test_workers_without_an_address_need_no_ray(dead_address, tmp_path, capsys, monkeypatch):
    """Several workers on this machine are a process pool: Ray is never started (nor asked about the dead address)."""
    import effsearch.search.executor as executor

    monkeypatch.setattr(executor, "RayExecutor", None)  # calling it would fail the test
    out = tmp_path / "run"
    assert main([*_argv(tmp_path, "--workers", "2"), "--out", str(out)]) == 0, capsys.readouterr().err
    placement = json.loads((out / "run.json").read_text())["config"]["placement"]
    assert placement == {"workers": 2, "threads": 1, "executor": "pool", "source": "given", "steps_per_s": {}}


@pytest.mark.parametrize("flag", ["DEAD", "auto", "ray://DEAD"])
def test_a_cluster_that_does_not_answer_is_one_line_and_leaves_nothing(flag, dead_address, tmp_path, capsys):
    out = tmp_path / "new" / "run"
    start = time.monotonic()
    assert main([*_argv(tmp_path, "--workers", "2", "--ray-address", flag.replace("DEAD", dead_address)),
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effsearch: error: cannot reach the Ray cluster at ") and "\n" not in err
    assert time.monotonic() - start < 30  # Ray alone retries a dead address for minutes
    assert not (tmp_path / "new").exists()  # no folder, no study.db


def test_a_failed_start_leaves_no_empty_study_behind(tmp_path, capsys, monkeypatch):
    """The search fails after its storage is open (here Ray refuses to start): what it created goes again."""
    import effsearch.search.executor as executor
    from effsearch.errors import EffsearchError

    class Refused:
        def __init__(self, *args, **kwargs):
            raise EffsearchError("cannot start or join a local Ray cluster: refused for the test")

    monkeypatch.setattr(executor, "RayExecutor", Refused)
    out = tmp_path / "fresh" / "run"
    assert main([*_argv(tmp_path, "--workers", "2", "--ray-address", "local"), "--out", str(out)]) == 1
    assert "refused for the test" in capsys.readouterr().err and not (tmp_path / "fresh").exists()
    kept = tmp_path / "kept"  # a folder of the user's: their files stay, our empty study.db goes
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main([*_argv(tmp_path, "--workers", "2", "--ray-address", "local"), "--out", str(kept)]) == 1
    assert sorted(p.name for p in kept.iterdir()) == ["notes.txt"]
