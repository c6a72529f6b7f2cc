"""``effsearch supernet`` and ``baseline --evaluator supernet`` from the command line: SIGKILL and resume,
bad input, a search scored by the supernet with its finalists verified, Ray workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from effsearch.cli import main
from effsearch.supernet import folder as files
from tests.search_helpers import TINY_SPACE, write_space

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _command(space, out, epochs=4):
    return [sys.executable, "-m", "effsearch", "supernet", "--space", space, "--dataset", "digits", "--epochs",
            str(epochs), "--proxy-resolution", "16", "--batch-size", "32", "--threads", "1", "--out", str(out)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A supernet trained in one go by the command line (the reference for the resumed one)."""
    tmp = tmp_path_factory.mktemp("cli-supernet")
    space = write_space(tmp, TINY_SPACE, "tiny")
    out = tmp / "whole"
    done = subprocess.run(_command(space, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return space, out, done.stdout


def test_the_command_shows_progress_and_a_closing_table(trained):
    _, out, stdout = trained
    assert "supernet of space tiny on digits at 16px: 4 epochs" in stdout and "1 sub-network(s) per step (uniform)" in stdout
    assert stdout.count("supernet epoch ") == 4 and "largest" in stdout and "smallest" in stdout
    assert "supernet training" in stdout and f"--proxy-resolution 16 --evaluator supernet:{out}" in stdout


def test_sigkill_then_the_same_command_resumes_and_gives_the_same_weights(trained, tmp_path):
    space, whole, _ = trained
    out = tmp_path / "killed"
    proc = subprocess.Popen(_command(space, out), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        meta = files.read_meta(out) if (out / files.META).is_file() else None
        if meta and meta["epochs_done"] >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the training ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / files.WEIGHTS).exists() and files.read_meta(out)["epochs_done"] in (2, 3)
    again = subprocess.run(_command(space, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stdout
    resumed, reference = (torch.load(f / files.WEIGHTS, weights_only=True) for f in (out, whole))
    assert resumed.keys() == reference.keys()
    for name in reference:  # a resumed run draws the same sub-networks and batches: the same weights
        torch.testing.assert_close(resumed[name], reference[name], rtol=0, atol=0, msg=name)
    losses = [[r["train_loss"] for r in json.loads((f / files.META).read_text())["history"]] for f in (out, whole)]
    assert losses[0] == losses[1]


@pytest.mark.parametrize("args, message", [
    (["--epochs", "2"], "was trained with epochs 4, this training uses 2"),
    (["--steps", "5"], "a supernet's budget is --epochs"),
    (["--rule", "best"], "--rule invalid choice: 'best'"),
])
def test_bad_input_is_one_line_and_leaves_the_supernet_alone(trained, args, message, capsys):
    space, out, _ = trained
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["supernet", "--space", space, "--dataset", "digits", "--epochs", "4", "--proxy-resolution", "16",
                 "--batch-size", "32", "--threads", "1", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.startswith("effsearch: error: ") and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_space_that_cannot_share_weights_is_refused_before_anything_is_written(tmp_path, capsys):
    from effsearch.arch.ops import register_op, unregister_op
    from tests.test_extensions import FUSED

    register_op(FUSED)
    try:
        space = write_space(tmp_path, TINY_SPACE.replace("op: [ds, mbconv_e3]", "op: [ds, fused_e3]"), "fusedspace")
        code = main(["supernet", "--space", space, "--out", str(tmp_path / "sn")])
    finally:
        unregister_op("fused")
    err = capsys.readouterr().err
    assert code == 1 and "block 1 op 'fused' cannot share weights" in err and err.count("\n") == 1
    assert not (tmp_path / "sn").exists()


def test_baseline_scored_by_the_supernet_prints_the_fidelity_of_its_finalists(trained, tmp_path, capsys):
    space, folder, _ = trained
    out = tmp_path / "run"
    code = main(["baseline", "--flops-target", "5M", "--space", space, "--dataset", "digits", "--evaluator",
                 f"supernet:{folder}", "--trials", "4", "--retrain-top", "2", "--retrain-epochs", "1",
                 "--proxy-resolution", "16", "--batch-size", "32", "--threads", "1", "--out", str(out)])
    stdout = capsys.readouterr().out
    assert code == 0
    assert "fidelity: Kendall tau between search score and standalone accuracy of the 2 retrained candidates" in stdout
    run = json.loads((out / "run.json").read_text())
    assert run["results"]["fidelity"]["n"] == 2


def test_ray_workers_score_with_the_supernet(trained, tmp_path, ray_cluster):
    from effsearch.data import load_dataset
    from effsearch.proxy import ProxyConfig
    from tests.search_helpers import search

    space, folder, _ = trained
    result = search(tmp_path / "ray", evaluate=None, space=space, trials=4, data=load_dataset("digits"),
                    proxy=ProxyConfig(epochs=1, resolution=16, batch_size=32), workers=2,
                    evaluator=f"supernet:{folder}", target=5e6)
    trials = result.exported.trials
    ok = trials[trials["status"] == "ok"]
    assert trials["status"].isin(["ok", "cached"]).all() and len(ok) >= 2  # the tiny space repeats itself
    assert (ok["evaluator"] == "supernet").all() and (ok["accuracy"] > 0).all()


def test_a_supernet_of_a_scaled_space_serves_the_search_of_that_width_only(trained, tmp_path, capsys):
    """``effsearch supernet --space-width W`` trains the space a ``baseline --space-width W`` searches, says
    how to use it, and a search of the plain space refuses it in one line (and the other way round)."""
    space, plain, _ = trained
    out = tmp_path / "w05"
    common = ["--dataset", "digits", "--proxy-resolution", "16", "--batch-size", "32", "--threads", "1"]
    assert main(["supernet", "--space", space, "--space-width", "0.5", "--epochs", "1", *common, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"--proxy-resolution 16 --space-width 0.5 --evaluator supernet:{out}" in stdout
    search = ["baseline", "--flops-target", "2M", "--space", space, "--trials", "3", *common]
    assert main([*search, "--space-width", "0.5", "--evaluator", f"supernet:{out}", "--out", str(tmp_path / "ok")]) == 0
    capsys.readouterr()
    run = json.loads((tmp_path / "ok" / "run.json").read_text())
    assert run["config"]["space_width"] == 0.5
    for width, folder in ((None, out), ("0.5", plain)):
        extra = [] if width is None else ["--space-width", width]
        code = main([*search, *extra, "--evaluator", f"supernet:{folder}", "--out", str(tmp_path / "refused")])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("effsearch: error: ") and err.count("\n") == 1 and "layout" in err, err
        assert not (tmp_path / "refused").exists()
    code = main(["supernet", "--space", space, "--space-width", "auto", "--out", str(tmp_path / "auto")])
    err = capsys.readouterr().err
    assert code == 1 and "auto needs a target" in err and err.count("\n") == 1
    assert not (tmp_path / "auto").exists()
