from __future__ import annotations

import json
import subprocess
import sys

import pytest

from effsearch import count, get_preset, save_spec, scale
from effsearch.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "effsearch", *args], capture_output=True, text=True, timeout=120)


def test_show_table_lists_stages_and_totals(capsys):
    assert main(["show", "efficientnet-b0"]) == 0
    out = capsys.readouterr().out
    for needle in ("stage7", "5.29M", "399M", "224->112", "head", "total"):
        assert needle in out


def test_show_json_object(capsys):
    assert main(["show", "efficientnet-b2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    b2 = count(get_preset("efficientnet-b2"))
    assert (data["params"], data["macs"], data["resolution"]) == (b2.params, b2.macs, 260)
    assert len(data["stages"]) == 10 and data["stages"][1]["block"].startswith("r")


def test_show_with_overrides_equals_scale(capsys):
    assert main(["show", "efficientnet-b0", "--width", "1.1", "--depth", "1.2", "--resolution", "260", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["macs"] == count(scale(get_preset("efficientnet-b0"), width=1.1, depth=1.2, resolution=260)).macs


def test_show_spec_file_and_results_folder(tmp_path, capsys):
    save_spec(get_preset("mnasnet-a1"), tmp_path / "baseline.yaml")
    assert main(["show", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "mnasnet-a1"


@pytest.mark.parametrize(
    ("content", "needle"),
    [("blocks: [r1_k4_s11_e1_i32_o16]\n", "kernel_size 4"), ("blocks: [oops\n", "not valid YAML"),
     ("blocks: [r1_k3_s11_e1_i32_o16_se1.5]\n", "se_ratio 1.5")],
)
def test_bad_spec_file_is_one_line_error(tmp_path, content, needle):
    path = tmp_path / "net.yaml"
    path.write_text(content)
    result = run_cli("show", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and lines[0].startswith("effsearch: error:")


def test_unknown_preset_and_bad_flag():
    result = run_cli("show", "resnet50")
    assert result.returncode == 1 and "unknown preset" in result.stderr
    bad = run_cli("show", "efficientnet-b0", "--width", "wide")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "--width" in bad.stderr


def test_help_shows_examples():
    top = run_cli("--help")
    assert top.returncode == 0 and "examples:" in top.stdout
    sub = run_cli("show", "--help")
    assert sub.returncode == 0 and "examples:" in sub.stdout and "effsearch show efficientnet-b0" in sub.stdout


def test_a_reader_that_stops_early_gets_no_traceback():
    command = f"{sys.executable} -m effsearch show mnasnet-a1 --json | head -c 10; {sys.executable} -m effsearch show mnasnet-a1 | head -1"
    for _ in range(4):  # the pipe closes at a different moment each time
        done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
        assert done.stderr == "" and done.stdout.startswith("{")


def test_show_understands_every_file_effsearch_writes(tmp_path, capsys):
    family = "results/examples/demo-scale"
    assert main(["show", family]) == 0
    out = capsys.readouterr().out
    assert "family of baseline-400M" in out and "x/step" in out
    assert main(["show", f"{family}/family.yaml", "--phi", "1", "--json"]) == 0
    member = json.loads(capsys.readouterr().out)
    assert member["name"] == "baseline-400M-phi1" and member["resolution"] == 256
    assert main(["show", f"{family}/family.json", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["members"]) == 8
    for name in ("run.json", "trials.csv", "study.db"):  # a file of a baseline folder: the folder's baseline
        assert main(["show", f"results/examples/demo/{name}", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["name"] == "baseline-400M"
    supernet = tmp_path / "sn"
    supernet.mkdir()
    (supernet / "supernet.json").write_text(json.dumps({
        "identity": {"space": "small", "rule": "uniform", "epochs": 2.0, "data": {"name": "digits", "resolution": 16}},
        "epochs_done": 1, "finished": False, "history": [{"epoch": 1, "steps": 22, "train_loss": 1.5,
                                                           "largest_accuracy": 0.8, "smallest_accuracy": 0.7, "seconds": 3}]}))
    assert main(["show", str(supernet)]) == 0
    out = capsys.readouterr().out
    assert "supernet of space small on digits at 16px (uniform, 1 of 2 epochs)" in out and "0.8000" in out
    assert main(["show", "mnasnet-a1", "--phi", "1"]) == 1
    assert "--phi picks a member of a family" in capsys.readouterr().err
