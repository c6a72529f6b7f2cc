"""Every command checks where it will write, once and up front: one line, exit 1, nothing written."""

from __future__ import annotations

import pytest

from effsearch.cli import main

UNWRITABLE = "/sys/effsearch-test"  # sysfs refuses new files even to root (permission bits would not tell)


def _commands(out: str) -> list[list[str]]:
    return [
        ["baseline", "--flops-target", "400M", "--trials", "1", "--out", out],
        ["scale", "--baseline", "efficientnet-b0", "--phi", "1", "--coefficients", "1.2,1.1,1.15", "--out", out],
        ["supernet", "--space", "small", "--epochs", "1", "--out", out],
        ["report", "results/examples/demo", "--out", out + ".html"],  # -o works too
    ]


@pytest.mark.parametrize("index", range(4))
def test_under_a_regular_file(tmp_path, index, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    assert main(_commands(str(blocker / "out"))[index]) == 1
    err = capsys.readouterr().err
    assert err.startswith("effsearch: error: ") and err.count("\n") == 1 and f"{blocker} is a file" in err
    assert blocker.read_text() == "keep me" and list(tmp_path.iterdir()) == [blocker]


@pytest.mark.parametrize("index", range(4))
def test_in_a_folder_that_refuses_new_files(index, capsys):
    assert main(_commands(UNWRITABLE)[index]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be written: /sys refuses new files" in err


@pytest.mark.parametrize("index", range(2))
def test_an_existing_file_given_as_the_results_folder(tmp_path, index, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    assert main(_commands(str(blocker))[index]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file" in err and blocker.read_text() == "keep me"
