"""``effsearch baseline``: bad input, a real search through the CLI, and a SIGKILL in the middle."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest

from effsearch.cli import main
from tests.search_helpers import RESUME_SPACE, TINY_SPACE, Scorer, search, write_space


def _files(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """A results folder holding a finished study, to check that bad commands leave it alone."""
    out = tmp_path_factory.mktemp("cli") / "run"
    search(out, evaluate=Scorer(), trials=3)
    return out


@pytest.mark.parametrize(("args", "message"), [
    (["--flops-target", "400Q"], "--flops-target '400Q' is malformed"),
    (["--flops-target=0"], "must be a positive number"),
    (["--flops-target", "400M", "--trials", "0"], "--trials 0 is invalid"),
    (["--flops-target", "400M", "--sampler", "bayes"], "unknown sampler 'bayes'"),
    (["--flops-target", "400M", "--space", "missing.yaml"], "missing.yaml does not exist"),
    (["--flops-target", "400M", "--space", "INVALID"], "blocks"),
    (["--flops-target", "400M", "--space", "CORRUPT"], "corrupt YAML"),
    (["--flops-target", "400M", "--reward", "medium"], "unknown reward 'medium'"),
    (["--flops-target", "400M", "--reject-above", "lots"], "--reject-above 'lots'"),
    (["--flops-target", "400M", "--reward-alpha", "0.5"], "alpha 0.5"),
    (["--flops-target", "400M", "--alpha", "0.5"], "alpha 0.5"),
    (["--flops-target", "400M", "--reward-beta", "-1", "--beta", "-2"], "disagree"),
    (["--flops-target", "400M", "--workers", "many"], "--workers 'many' is not an integer; give an integer from 1 to 100000 or auto"),
    (["--flops-target", "400M", "--workers", "0"], "--workers 0"),
    (["--flops-target", "400M", "--epochs", "-1"], "epochs"),
    (["--flops-target", "1e-30"], "every network of space small would be rejected: the smallest costs 215M MACs"),
    (["--params-target", "10k"], "every network of space small would be rejected"),
    (["--flops-target", "400M", "--evaluator", "supernet:NOWHERE"], "holds no supernet"),
])
def test_bad_input_is_one_line_and_leaves_the_study_untouched(args, message, existing, tmp_path, capsys):
    (tmp_path / "INVALID.yaml").write_text("network: {stem: 16, head: 64, resolution: 64, act: relu}\nchoices: {}\n")
    (tmp_path / "CORRUPT.yaml").write_text("blocks: [unclosed\n")
    args = [a.replace("INVALID", str(tmp_path / "INVALID.yaml")).replace("CORRUPT", str(tmp_path / "CORRUPT.yaml")) for a in args]
    before = _files(existing)
    args = [a.replace("NOWHERE", str(tmp_path / "nowhere")) for a in args]
    assert main(["baseline", "--space", "small", *args, "--out", str(existing)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("effsearch: error: ") and "\n" not in err and message in err
    assert _files(existing) == before  # not a byte written


def test_a_study_run_with_other_settings_is_refused_and_kept(existing, capsys):
    study = optuna.load_study(study_name="run", storage=f"sqlite:///{existing / 'study.db'}")
    trials = [(t.number, t.state, t.values, t.user_attrs) for t in study.trials]
    assert main(["baseline", "--flops-target", "300M", "--space", "small", "--sampler", "random",
                 "--trials", "5", "--out", str(existing)]) == 1
    err = capsys.readouterr().err.strip()
    assert "was run with target = 400000000.0, not 300000000.0" in err and "\n" not in err
    study = optuna.load_study(study_name="run", storage=f"sqlite:///{existing / 'study.db'}")
    assert [(t.number, t.state, t.values, t.user_attrs) for t in study.trials] == trials


@pytest.mark.slow
def test_a_real_search_from_the_command_line(tmp_path, capsys):
    space = write_space(tmp_path, TINY_SPACE, "tiny")
    out = tmp_path / "run"
    args = ["baseline", "--flops-target", "5M", "--space", space, "--sampler", "random", "--trials", "5",
            "--epochs", "1", "--threads", "1", "--retrain-top", "2", "--retrain-epochs", "2", "--latency", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "search space tiny: 2 blocks, 2 decisions, 4 distinct architectures" in printed
    assert "baseline: trial" in printed and "retrained 2 epochs" in printed and "reward" in printed
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 5 and set(trials["status"]) <= {"ok", "cached"}
    ok = trials[trials["status"] == "ok"]
    assert ok["accuracy"].between(0, 1).all() and (ok["latency_ms"] > 0).all() and (ok["train_seconds"] > 0).all()
    retrain = pd.read_csv(out / "retrain.csv")
    assert len(retrain) == 2 and retrain["selected"].sum() == 1 and (retrain["epochs"] == 2).all()
    import json

    run = json.loads((out / "run.json").read_text())
    assert run["kind"] == "baseline" and run["config"]["target"] == 5e6 and run["config"]["objective"] == "macs" and run["config"]["sampler"] == "random"
    assert run["config"]["reward"]["alpha"] == -0.07 and run["config"]["epochs"] == 1 and run["config"]["dataset"] == "digits"
    assert run["command"].startswith("effsearch baseline --flops-target 5M")
    assert main(["show", str(out), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    chosen = retrain.loc[retrain["selected"]].iloc[0]
    assert shown["macs"] == chosen["macs"] and shown["params"] == chosen["params"]
    # the same command again: nothing left to do, nothing retrained
    assert main(args) == 0
    assert "0 trials" not in capsys.readouterr().err and len(pd.read_csv(out / "trials.csv")) == 5


def _db_state(db: Path) -> tuple[int, bool]:
    """(COMPLETE trials, whether a trial is training) read while the search writes.

    A trial is training once its architecture is recorded (``blocks``) and until it is told; that is
    seconds here against milliseconds of bookkeeping, so a signal sent right after this read lands
    mid-training.
    """
    if not db.exists():
        return 0, False
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            complete = conn.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
            training = conn.execute(
                "SELECT COUNT(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                "WHERE t.state = 'RUNNING' AND a.key = 'blocks'").fetchone()[0]
    except sqlite3.Error:
        return 0, False
    return complete, training > 0


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_sigkill_mid_search_then_the_same_command_finishes_it(tmp_path):
    from effsearch.controller import state

    space = write_space(tmp_path, RESUME_SPACE, "resume")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "effsearch", "baseline", "--flops-target", "5M", "--space", space,
               "--trials", "18", "--epochs", "3", "--threads", "1", "--out", str(out), "--quiet"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        complete, training = _db_state(out / "study.db")
        if complete >= 9 and training:
            break
        time.sleep(0.1)
    assert proc.poll() is None, f"the search ended before it could be killed: {proc.stderr.read()}"
    workers = _children(proc.pid)
    assert len(workers) == 2  # --threads 1 on two cores: two candidates at once, in worker processes
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in workers)  # no orphan goes on training

    storage = f"sqlite:///{out / 'study.db'}"
    study = optuna.load_study(study_name="run", storage=storage)
    done_before = {t.number: (t.params, t.values) for t in study.trials if t.state.name == "COMPLETE"}
    in_flight = [t for t in study.trials if t.state.name == "RUNNING"]
    last_before = study.trials[-1].number
    saved = state.load(study._storage, study._study_id)
    assert len(done_before) >= 9 and 1 <= len(in_flight) <= 4 and saved is not None and saved["num_updates"] == 1

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    study = optuna.load_study(study_name="run", storage=storage)
    trials = {t.number: t for t in study.trials}
    for number, (params, values) in done_before.items():  # nothing completed was lost or redone
        assert trials[number].state.name == "COMPLETE" and (trials[number].params, trials[number].values) == (params, values)
    # A trial killed while training is queued again with its architecture; one killed between being asked
    # and having all its decisions (two workers keep up to four in flight) has none to repeat.
    assert any("blocks" in t.user_attrs for t in in_flight)
    for trial in in_flight:
        killed = trials[trial.number]
        assert killed.state.name == "FAIL" and killed.user_attrs["status"] == "interrupted"
        requeued = [t for t in trials.values() if t.user_attrs.get("requeued_from") == killed.number]
        if "blocks" not in trial.user_attrs:
            assert requeued == []
            continue
        assert len(requeued) == 1 and requeued[0].params == killed.params and requeued[0].state.name == "COMPLETE"
    csv = pd.read_csv(out / "trials.csv")
    counted = csv[csv["status"] != "interrupted"]
    assert len(counted) == 18 and set(counted["state"]) == {"COMPLETE"}
    assert counted.loc[counted["status"] == "ok", "blocks"].is_unique  # no architecture trained twice
    final = state.load(study._storage, study._study_id)  # the controller went on from its saved state
    # 18 trials in batches of 8; neighbours of the best in the screen are not learned from, so 1 or 2 updates.
    assert final["num_updates"] >= saved["num_updates"] and final["seed"] == saved["seed"]
    learned = [t for t in study.trials if t.state.name == "COMPLETE" and not (t.system_attrs.get("effsearch:mnas") or {}).get("local")]
    assert final["num_updates"] == len(learned) // 8
    after = [r for t in study.trials if t.number > last_before and (r := t.system_attrs.get("effsearch:mnas"))]
    assert after and all(r["update"] >= saved["num_updates"] for r in after)  # proposed by the restored policy


@pytest.mark.slow
def test_sigterm_saves_like_ctrl_c_and_queues_the_trials_in_flight(tmp_path):
    space = write_space(tmp_path, RESUME_SPACE, "resume")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "effsearch", "baseline", "--flops-target", "5M", "--space", space,
               "--sampler", "random", "--trials", "20", "--epochs", "5", "--threads", "1", "--out", str(out), "--quiet"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not _db_state(out / "study.db")[1]:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "run the same command again to resume" in err
    study = optuna.load_study(study_name="run", storage=f"sqlite:///{out / 'study.db'}")
    states = [t.state.name for t in study.trials]
    assert "RUNNING" not in states
    # Two workers (--threads 1 on two cores) with a queued candidate each: one to four trials were in flight.
    stopped = [t for t in study.trials if t.state.name == "FAIL"]
    assert 1 <= len(stopped) <= 4 and all(t.user_attrs["status"] == "interrupted" for t in stopped)
    queued = sorted(t.user_attrs["requeued_from"] for t in study.trials if t.state.name == "WAITING")
    assert queued == [t.number for t in stopped]  # each queued again exactly once


@pytest.mark.slow
def test_a_latency_target_search_rewards_measured_latency(tmp_path, capsys):
    out = tmp_path / "lat"
    argv = ["baseline", "--latency-target", "5ms", "--space", "small", "--trials", "3", "--epochs", "1", "--threads", "1",
            "--sampler", "random", "--out", str(out), "--quiet"]
    # Small-space networks take ~20 ms at 224 px on one thread here: the default rule rejects them untrained
    # (reward 0, latency recorded), and with --reject-above none they are trained and rewarded on it.
    for extra in ([], ["--reject-above", "none"]):
        assert main([*argv[:-3], *extra, "--out", str(out / str(len(extra))), "--quiet"]) == 0
        trials = pd.read_csv(out / str(len(extra)) / "trials.csv")
        assert len(trials) == 3 and (trials["latency_ms"] > 0).all() and set(trials["status"]) <= {"ok", "cached", "rejected"}
        for _, t in trials.iterrows():
            accuracy = t["accuracy"] if t["status"] != "rejected" else 0.0
            assert t["reward"] == pytest.approx(accuracy * (t["latency_ms"] / 5.0) ** -0.07)
    assert set(trials["status"]) <= {"ok", "cached"} and "the 5ms latency target" in capsys.readouterr().out
    out = out / "2"
    import json

    config = json.loads((out / "run.json").read_text())["config"]
    assert config["objective"] == "latency_ms" and config["target"] == 5.0
    assert config["latency_measured_on"]["threads"] == 1 and config["latency_measured_on"]["device"] == "cpu"


def test_json_summary_old_reward_flags_and_workers_auto(tmp_path, capsys):
    """--json prints one object on stdout (progress on stderr); --alpha still works, with a note; auto workers parse."""
    import json

    space = write_space(tmp_path, TINY_SPACE, "tiny")
    out = tmp_path / "run"
    argv = ["baseline", "--flops-target", "5M", "--space", space, "--sampler", "random", "--trials", "2", "--steps", "2",
            "--threads", "1", "--alpha", "-0.1", "--json", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # the whole of stdout is the object
    assert summary["out"] == str(out) and summary["alpha"] == -0.1 and summary["baseline"]["spec"].endswith("baseline.yaml")
    assert sum(summary["trials"].values()) == 2 and "far_from_target" in summary
    assert "--alpha is now --reward-alpha" in captured.err
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["reward"]["alpha"] == -0.1
    assert run["config"]["workers"] == len(os.sched_getaffinity(0)) and run["config"]["runtime"]["threads"] == 1
    assert run["config"]["placement"]["source"] == "given"  # --threads 1 leaves one worker per core


def test_the_summary_explains_a_baseline_far_below_the_target():
    from effsearch.cli.baseline_summary import distance_note
    from effsearch.search.reward import RewardConfig, distance

    reward = RewardConfig(target=4e8)
    trials = pd.DataFrame({"number": [0, 1, 2], "status": ["ok", "ok", "rejected"], "macs": [1.2e8, 3.9e8, 9e8],
                           "accuracy": [0.975, 0.978, None], "reward": [1.0, 0.9797, None]})
    chosen = trials.iloc[0].to_dict()
    facts = distance(chosen, trials, reward)
    assert facts["ratio"] == pytest.approx(0.3) and facts["factor"] == pytest.approx(0.3 ** -0.07)
    assert facts["near"] == {"number": 1, "ratio": pytest.approx(0.975), "accuracy": 0.978, "reward": 0.9797}
    note = distance_note(chosen, trials, reward)
    assert "0.30x the MACs target, well below it" in note and "trial 1 (0.97x)" in note and "+0.30 points" in note
    assert distance(trials.iloc[1].to_dict(), trials, reward) is None  # near the target: nothing to explain
    far_above = distance({"macs": 7e8, "accuracy": 0.9, "reward": 0.86}, trials.iloc[:1], reward)
    assert far_above["near"] is None and far_above["ratio"] == pytest.approx(1.75)
