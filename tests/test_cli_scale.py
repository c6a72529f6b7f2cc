"""``effsearch scale``: options, one-line errors, the family files, and a real grid through Ray Tune."""

from __future__ import annotations

import itertools
import json
import os
import time

import pytest

from effsearch import get_preset, load_spec, save_spec
from effsearch.arch.scaling import compound_scale
from effsearch.cli import main
from effsearch.cli.scale_options import parse_phis
from effsearch.compound.family import load_family
from effsearch.errors import EffsearchError


def _error(capsys, argv):
    """The command fails with exit 1 and one 'effsearch: error:' line (after any progress lines)."""
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("effsearch: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1]
    return errors[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1..7", [1, 2, 3, 4, 5, 6, 7]), ("3", [3]), ("0..7", list(range(8))), ("1,3,5", [1, 3, 5]), ("0, 2..4", [0, 2, 3, 4]),
     ("-2..0", [-2, -1, 0]), ("-0.5,1.5", [-0.5, 1.5])],
)
def test_phi_forms(text, expected):
    assert parse_phis(text) == expected


@pytest.mark.parametrize(("text", "message"), [("7..1", "backwards"), ("x", "malformed"), ("1..", "malformed"),
                                               ("0.5..2", "malformed"), ("3,1", "out of order"), ("1,1", "repeats")])
def test_bad_phi_forms(text, message):
    with pytest.raises(EffsearchError, match=message):
        parse_phis(text)


def test_paper_coefficients_on_b0(tmp_path, capsys):
    out = tmp_path / "paper"
    argv = ["scale", "--baseline", "efficientnet-b0", "--coefficients", "1.2,1.1,1.15", "--phi", "0..7", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "efficientnet-phi7" in printed and "alpha=1.2 beta=1.1 gamma=1.15" in printed
    family = json.loads((out / "family.json").read_text())
    members = family["members"]
    assert [m["phi"] for m in members] == list(range(8))
    for m in members:
        assert m["depth"] == pytest.approx(1.2 ** m["phi"]) and m["width"] == pytest.approx(1.1 ** m["phi"])
    macs = [m["macs"] for m in members]
    assert all(b > a for a, b in itertools.pairwise(macs))
    assert (macs[-1] / macs[0]) ** (1 / 7) == pytest.approx(1.93, abs=0.01)
    assert family["coefficients"] == {"alpha": 1.2, "beta": 1.1, "gamma": 1.15} and family["rule"] == "compound"
    assert load_family(out / "family.yaml").members == load_family(out).members
    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "scale" and run["config"]["coefficients_from"] == "given"
    assert not (out / "grid.csv").exists()
    # A member loads back as a spec: 'effsearch show' on its file.
    assert main(["show", str(out / "members" / "efficientnet-phi3.yaml"), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["macs"] == members[3]["macs"] and shown["resolution"] == members[3]["resolution"]


def test_official_preset_reproduces_b0_to_b7(tmp_path, capsys):
    out = tmp_path / "official"
    assert main(["scale", "--baseline", "efficientnet-b0", "--preset", "official", "--phi", "0..7", "--out", str(out)]) == 0
    assert "efficientnet-b7" in capsys.readouterr().out
    family = load_family(out)
    assert family.rule == "official" and family.resolution_multiple == 4
    assert [m.spec for m in family.members] == [get_preset(f"efficientnet-b{i}") for i in range(8)]


def test_duplicate_members_are_warned(tmp_path, capsys, tiny_spec):
    spec_file = save_spec(tiny_spec, tmp_path / "tiny.yaml")
    argv = ["scale", "--baseline", str(spec_file), "--coefficients", "1.0,1.01,1.0", "--ignore-constraint", "--phi", "0..2",
            "--out", str(tmp_path / "dup")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("warning:") == 2 and "same network" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--phi", "7..1"], "backwards"),
        (["--phi", "x"], "malformed"),
        (["--coefficients", "1.5,1.5,1.5"], "--ignore-constraint"),
        (["--coefficients", "1.2,1.1"], "3 comma-separated"),
        (["--coefficients", "0.9,1.2,1.2", "--ignore-constraint"], ">= 1"),
        (["--preset", "official", "--coefficients", "1.2,1.1,1.15"], "give one or the other"),
        (["--preset", "official", "--phi", "0..9"], "has B0..B7"),
        (["--resolution-multiple", "0", "--coefficients", "1.2,1.1,1.15"], "resolution-multiple"),
        (["--grid-step", "0", "--epochs", "1"], "step"),
        (["--alpha-range", "2,1"], "alpha range"),
        (["--steps", "10"], "unrecognized arguments: --steps 10"),
        (["--seconds", "10"], "unrecognized arguments: --seconds 10"),
        (["--workers", "0"], "--workers 0 is invalid; give an integer from 1 to 100000 or auto"),
        (["--grid-seeds", "0"], "--grid-seeds 0 is invalid"),
        (["--grid-seeds", "2", "--scheduler", "asha"], "use --scheduler fifo with several seeds"),
    ],
)
def test_user_mistakes_are_one_line_errors(argv, message, capsys, tmp_path):
    err = _error(capsys, ["scale", "--baseline", "efficientnet-b0", "--out", str(tmp_path / "x"), *argv])
    assert message in err


def test_off_constraint_coefficients_need_the_override(tmp_path, capsys):
    argv = ["scale", "--baseline", "efficientnet-b0", "--coefficients", "1.5,1.5,1.5", "--phi", "1", "--out", str(tmp_path)]
    _error(capsys, argv)
    assert main([*argv, "--ignore-constraint"]) == 0
    assert load_family(tmp_path).member(1).depth == 1.5


def test_missing_baseline(tmp_path, capsys, monkeypatch):
    err = _error(capsys, ["scale", "--baseline", str(tmp_path / "nope"), "--coefficients", "1.2,1.1,1.15"])
    assert "does not exist" in err
    monkeypatch.chdir(tmp_path)  # no results/ here
    err = _error(capsys, ["scale", "--coefficients", "1.2,1.1,1.15"])
    assert "no baseline run under results/" in err


def test_default_baseline_is_the_newest_baseline_run(tmp_path, capsys, monkeypatch, tiny_spec):
    monkeypatch.chdir(tmp_path)
    save_spec(get_preset("efficientnet-b0"), tmp_path / "results" / "old" / "baseline.yaml")
    newest = save_spec(tiny_spec, tmp_path / "results" / "new" / "baseline.yaml")
    os.utime(tmp_path / "results" / "old" / "baseline.yaml", (time.time() - 60, time.time() - 60))
    assert main(["scale", "--coefficients", "1.2,1.1,1.15", "--phi", "1", "--out", "out"]) == 0
    assert "newest baseline run" in capsys.readouterr().err
    assert load_family(tmp_path / "out").baseline == load_spec(newest)


def test_latency_is_measured_when_asked(tmp_path, capsys, tiny_spec):
    spec_file = save_spec(tiny_spec, tmp_path / "tiny.yaml")
    argv = ["scale", "--baseline", str(spec_file), "--coefficients", "1.2,1.1,1.15", "--phi", "0,1", "--latency",
            "--out", str(tmp_path / "lat")]
    assert main(argv) == 0
    assert "latency" in capsys.readouterr().out
    members = load_family(tmp_path / "lat").members
    assert all(m.latency_ms is not None and m.latency_ms > 0 for m in members)


# --------------------------------------------------------------------------- a real grid on a local 2-CPU Ray cluster


@pytest.mark.slow
def test_small_grid_end_to_end_and_the_family_uses_the_winner(ray_cluster, tmp_path, capsys, tiny_spec):
    import pandas as pd

    spec_file = save_spec(tiny_spec, tmp_path / "tiny.yaml")
    out = tmp_path / "grid"
    argv = ["scale", "--baseline", str(spec_file), "--phi", "1..3", "--grid-step", "0.25", "--tolerance", "0.2",
            "--epochs", "1", "--proxy-resolution", "12", "--workers", "2", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    # Whole layers and the rounded side put two of the three points over the grid's budget, so
    # they are counted, not trained.
    assert "1 to train (2 over budget)" in captured.err and "[1/1]" in captured.err
    assert "grid at phi = 1: 3 points (1 ok, 2 over budget, not trained)" in captured.out
    grid = pd.read_csv(out / "grid.csv")
    assert len(grid) == 3 and grid["status"].tolist() == ["skipped", "skipped", "ok"] and grid["selected"].sum() == 1
    assert grid["macs"].notna().all()
    assert grid["proxy_resolution"].tolist() == [15, 12, 12]  # round(12 * gamma): gamma 1.25, 1, 1
    winner = grid[grid["selected"]].iloc[0]
    best = grid.sort_values(["accuracy", "macs"], ascending=[False, True]).iloc[0]
    assert winner["index"] == best["index"]
    family = load_family(out)
    assert (family.alpha, family.beta, family.gamma) == (winner["alpha"], winner["beta"], winner["gamma"])
    for m in family.members:
        assert m.spec.blocks == compound_scale(tiny_spec, alpha=family.alpha, beta=family.beta, gamma=family.gamma, phi=m.phi).blocks
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["coefficients_from"] == "grid" and run["config"]["selected"] == int(winner["index"])

    # The same command on the same folder resumes: nothing is trained again, the same family comes out.
    before = (out / "grid.jsonl").read_text().count('"event": "start"')
    assert main(argv) == 0
    assert (out / "grid.jsonl").read_text().count('"event": "start"') == before
    assert load_family(out).members == family.members
    # ... and a different budget on it is refused rather than mixed in.
    err = _error(capsys, [*argv[:-2], "--epochs", "2", "--out", str(out)])
    assert "was run with proxy.epochs = 1" in err and "not 2" in err


def test_json_summary_is_the_only_stdout(tmp_path, capsys):
    out = tmp_path / "paper"
    argv = ["scale", "--baseline", "efficientnet-b0", "--coefficients", "1.2,1.1,1.15", "--phi", "0..2", "--json",
            "--quiet", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["coefficients"] == [1.2, 1.1, 1.15] and summary["coefficients_from"] == "given" and summary["grid"] is None
    assert [m["phi"] for m in summary["family"]["members"]] == [0, 1, 2]
    assert summary["family"] == json.loads((out / "family.json").read_text())


def test_workers_mean_the_same_as_in_baseline():
    from effsearch.cli import build_parser
    from effsearch.cli.scale_options import configs

    parser = build_parser()
    base = ["scale", "--baseline", "efficientnet-b0", "--coefficients", "1.2,1.1,1.15"]
    assert configs(parser.parse_args(base))[1].workers == "auto"  # measured here (effsearch.engine.parallel)
    assert configs(parser.parse_args([*base, "--workers", "3"]))[1].workers == 3
    assert parser.parse_args(["baseline", "--flops-target", "1M"]).workers == "auto"


def test_members_timm_cannot_rebuild_are_named_once_not_warned_raw(tmp_path, capsys):
    from effsearch import parse_block

    spec = get_preset("efficientnet-b0")
    blocks = list(spec.blocks)
    blocks[1] = parse_block("conv_r2_k3_s22_e1_i16_o24_se0.25")  # timm's cn block has no SE
    path = tmp_path / "lossy.yaml"
    from effsearch.arch.timmcompat import TimmExportWarning

    with pytest.warns(TimmExportWarning, match="conv with SE"):  # the library warns; the CLI names it once instead
        save_spec(spec.replace(blocks=tuple(blocks), name="lossy"), path)
    out = tmp_path / "family"
    assert main(["scale", "--baseline", str(path), "--coefficients", "1.2,1.1,1.15", "--phi", "0..1", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "timm's builder does not rebuild lossy-phi0, lossy-phi1 exactly" in captured.out
    assert "TimmExportWarning" not in captured.err and "Warning" not in captured.out
    members = json.loads((out / "family.json").read_text())["members"]
    assert [m["timm_faithful"] for m in members] == [False, False]
    assert all("block 2: conv with SE has no timm form" in m["timm_differs"] for m in members)


# --------------------------------------------------------------------------- --compare and --train (tiny budgets on digits)

TRAINING = ["--dataset", "digits", "--epochs", "1", "--train-images", "200", "--batch-size", "64", "--threads", "1"]


def test_compare_prints_the_table_and_verdicts_and_resumes(tmp_path, capsys, tiny_spec):
    spec_file = str(save_spec(tiny_spec, tmp_path / "tiny.yaml"))
    out = tmp_path / "cmp"
    argv = ["scale", "--compare", "--baseline", spec_file, "--coefficients", "1.2,1.1,1.15", "--phi", "1", "--seeds", "2",
            *TRAINING, "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "5 networks x 2 seed(s), 1 epoch each" in captured.err and "[10/10] net-resolution-phi1" not in captured.err
    assert "[10/10] resolution-phi1 seed 1: test top-1" in captured.err
    printed = captured.out
    assert "compound against single-dimension scaling on digits" in printed
    assert all(name in printed for name in ("baseline", "compound", "width-only", "depth-only", "resolution-only"))
    verdict_lines = [ln for ln in printed.splitlines() if ln.startswith("phi 1: compound ")]
    assert len(verdict_lines) == 4 and "verdict rule:" in printed and "10 trainings, 10 trained now" in printed
    rows = (out / "compare.csv").read_text().splitlines()
    assert len(rows) == 11 and rows[0].startswith("variant,phi,seed,width_mult,depth_mult,resolution_mult")
    assert json.loads((out / "compare.json").read_text())["seeds"] == [0, 1]
    # The same command again finds every training finished; --json prints compare.json's document.
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert "training at" not in captured.err
    document = json.loads(captured.out)
    assert document["complete"] and len(document["verdicts"]) == 3 and document["out"] == str(out)


def test_compare_takes_baseline_and_coefficients_from_a_scale_folder(tmp_path, capsys, tiny_spec):
    from effsearch.runs import compare_inputs

    spec_file = str(save_spec(tiny_spec, tmp_path / "tiny.yaml"))
    family = tmp_path / "family"
    assert main(["scale", "--baseline", spec_file, "--coefficients", "1.2,1.1,1.15", "--phi", "0..2", "--resolution-multiple", "4",
                 "--out", str(family)]) == 0
    found = compare_inputs(baseline=None, coefficients=None, out=family, resolution_multiple=None, check=lambda c: c)
    assert found["baseline"] == load_family(family).baseline and found["coefficients"] == (1.2, 1.1, 1.15)
    assert found["resolution_multiple"] == 4 and found["origin"] == f"the family in {family}" and found["out"] == family
    found = compare_inputs(baseline="efficientnet-b0", coefficients=(1.1, 1.2, 1.1), out=family, resolution_multiple=None,
                           check=lambda c: c)
    assert found["baseline"].name == "efficientnet-b0" and found["coefficients"] == (1.1, 1.2, 1.1) and found["origin"] == "given"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--compare", "{NO-OUT}"], "needs the compound coefficients and no results folder was given"),
        (["--compare", "--out", "{EMPTY}"], "has no family.json; give the coefficients"),
        (["--compare", "--coefficients", "1.2,1.1,1.15", "--phi", "0"], "phi 0 is the baseline"),
        (["--compare", "--coefficients", "1.2,1.1,1.15", "--phi", "1..8"], "phi 8 is out of range for a comparison"),
        (["--compare", "--coefficients", "1.5,1.5,1.5"], "--ignore-constraint"),
        (["--compare", "--preset", "official"], "--preset official has none"),
        (["--compare", "--train", "--coefficients", "1.2,1.1,1.15"], "not allowed with argument"),
        (["--compare", "--coefficients", "1.2,1.1,1.15", "--epochs", "1.5"], "a whole number of epochs"),
        (["--compare", "--coefficients", "1.2,1.1,1.15", "--seeds", "0"], "--seeds 0 is invalid"),
        (["--coefficients", "1.2,1.1,1.15", "--seeds", "2"], "set the trainings of --compare and --train"),
        (["--coefficients", "1.2,1.1,1.15", "--train", "--epochs", "0.5"], "a whole number of epochs"),
    ],
)
def test_compare_and_train_mistakes_are_one_line_errors_and_write_nothing(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where results/ would be made by default
    (tmp_path / "empty").mkdir()
    out = [] if "--out" in argv or "{NO-OUT}" in argv else ["--out", str(tmp_path / "x")]
    argv = [a.replace("{EMPTY}", str(tmp_path / "empty")) for a in argv if a != "{NO-OUT}"]
    assert message in _error(capsys, ["scale", "--baseline", "efficientnet-b0", *argv, *out])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"] and not any((tmp_path / "empty").iterdir())


def test_compare_refuses_an_official_family(tmp_path, capsys):
    official = tmp_path / "official"
    assert main(["scale", "--baseline", "efficientnet-b0", "--preset", "official", "--phi", "0..1", "--out", str(official)]) == 0
    assert "follows the official B0..B7 table" in _error(capsys, ["scale", "--compare", "--out", str(official)])


def test_train_adds_each_members_test_accuracy_to_the_table_and_family_json(tmp_path, capsys, tiny_spec):
    spec_file = str(save_spec(tiny_spec, tmp_path / "tiny.yaml"))
    out = tmp_path / "fam"
    argv = ["scale", "--baseline", spec_file, "--coefficients", "1.2,1.1,1.15", "--phi", "0..1", "--train", *TRAINING,
            "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "test top-1" in captured.out and "train px" in captured.out and "members-trained/" in captured.out
    assert "[2/2] net-phi1 seed 0: test top-1" in captured.err
    members = json.loads((out / "family.json").read_text())["members"]
    for m in members:
        trained = m["trained"]
        assert trained["n"] == 1 and trained["test_accuracy_std"] is None and 0 <= trained["test_accuracy"] <= 1
        assert trained["runs"][0]["folder"] == f"members-trained/{m['name']}-s0"
        assert (out / trained["runs"][0]["folder"] / "metrics.json").is_file()
        assert trained["train_resolution"] == round(16 * m["resolution"] / tiny_spec.resolution)
    assert load_family(out / "family.yaml").members == load_family(out).members  # both files still load
    assert main([*argv, "--json", "--quiet"]) == 0  # again: every training found finished
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert captured.err == "" and len(summary["trained"]) == 2
    assert [m["trained"] for m in summary["family"]["members"]] == [m["trained"] for m in members]
