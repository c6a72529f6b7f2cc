"""``effsearch evaluate``: the CLI over the proxy trainer, run in-process and as the installed command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from effsearch.arch.specio import save_spec
from effsearch.cli import main
from tests.test_proxy import tiny_spec


@pytest.fixture()
def spec_file(tmp_path):
    return str(save_spec(tiny_spec(), tmp_path / "tiny.yaml"))


@pytest.fixture()
def npz_data(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "toy.npz"
    y = np.arange(120) % 3
    x = (rng.integers(0, 60, (120, 1, 8, 8)) + y[:, None, None, None] * 60).astype(np.uint8)  # classes differ in brightness
    np.savez(path, x_train=x, y_train=y)
    return f"npz:{path}"


def test_evaluate_json(spec_file, npz_data, capsys):
    code = main(["evaluate", spec_file, "--dataset", npz_data, "--epochs", "3", "--batch-size", "16", "--threads", "1",
                 "--seed", "3", "--json"])
    out = capsys.readouterr().out
    result = json.loads(out)  # exactly one JSON object
    assert code == 0 and result["status"] == "ok"
    assert {"accuracy", "images_per_s", "status", "loss", "macs", "params", "proxy_macs"} <= set(result)
    assert 0 <= result["accuracy"] <= 1 and result["images_per_s"] > 0
    assert result["seed"] == 3 and result["epochs"] == pytest.approx(3.0) and result["data"]["name"] == "npz"
    assert result["config"]["batch_size"] == 16


def test_evaluate_table_and_latency(spec_file, npz_data, capsys):
    code = main(["evaluate", spec_file, "--dataset", npz_data, "--steps", "2", "--threads", "1", "--latency"])
    out = capsys.readouterr().out
    assert code == 0 and "validation top-1" in out and "latency (batch 1)" in out and "images/s" in out


def test_evaluate_failed_training_exits_1(spec_file, npz_data, capsys):
    code = main(["evaluate", spec_file, "--dataset", npz_data, "--steps", "20", "--lr", "1e6", "--threads", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["status"] == "failed" and "diverged" in result["reason"]


@pytest.mark.parametrize(("argv", "needle"), [
    (["--dataset", "cifar10:/no/such/folder"], "/no/such/folder"),
    (["--dataset", "imagenet"], "unknown data set"),
    (["--epochs", "-1"], "epochs"),
    (["--device", "cuda:99"], "device 'cuda:99' is not available"),  # on any machine, with or without GPUs
])
def test_evaluate_user_errors_are_one_line(spec_file, argv, needle, capsys):
    code = main(["evaluate", spec_file, *argv])
    err = capsys.readouterr().err.strip()
    assert code == 1 and needle in err and err.startswith("effsearch: error:") and "\n" not in err


def test_installed_command_help():
    out = subprocess.run([sys.executable, "-m", "effsearch", "evaluate", "--help"], capture_output=True, text=True, check=True).stdout
    assert "examples:" in out and "--dataset" in out and "--epochs" in out and "--json" in out
