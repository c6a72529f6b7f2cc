"""``effsearch train`` and ``effsearch export``: the recipe's folder, SIGKILL and resume to the same weights,
the test split, exports checked by their consumers (onnxruntime, torch.export, timm), bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from effsearch.cli import main
from effsearch.train import TrainConfig, TrainError, Training, network_for, train_model
from effsearch.train import folder as files
from effsearch.train.ema import ModelEma

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
SPEC_FILE = """name: tiny
resolution: 32
stem_chs: 8
head_chs: 32
num_classes: 10
in_chans: 1
dropout: 0.2
drop_connect: 0.2
blocks: [r1_k3_s11_e1_i8_o8_se0.25, r2_k3_s22_e3_i8_o16_se0.25, conv_r1_k3_s22_e1_i16_o16_noskip_relu]
"""
ARGS = ["--dataset", "digits", "--resolution", "16", "--epochs", "4", "--batch-size", "32", "--threads", "1", "--kernels", "torch"]


def _command(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "effsearch", "train", str(spec), *ARGS, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("train-spec") / "tiny.yaml"
    path.write_text(SPEC_FILE)
    return path


@pytest.fixture(scope="module")
def trained(spec_file, tmp_path_factory):
    """One training by the command line, exported (the reference for the resumed one)."""
    out = tmp_path_factory.mktemp("train") / "whole"
    done = subprocess.run(_command(spec_file, out), env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return out, done.stdout


def test_the_folder_has_history_metrics_weights_and_the_test_split_score(trained):
    out, stdout = trained
    assert "training tiny on digits at 16px for 4 epochs" in stdout and stdout.count("epoch ") >= 4
    assert "test top-1" in stdout and "exported" in stdout
    history = (out / files.HISTORY).read_text().splitlines()
    assert history[0].split(",") == list(files.HISTORY_COLUMNS) and len(history) == 5
    metrics = json.loads((out / files.METRICS).read_text())
    meta = files.read_meta(out)
    assert meta["status"] == "done" and meta["epochs_done"] == 4 and meta["settings"]["data"]["test"] == metrics["test_images"]
    # digits has no official test split: a fixed, stratified fifth of it that no search sees
    assert metrics["test_images"] == 359 and "held out" in metrics["test_split"]
    assert 0.5 < metrics["test_accuracy"] <= 1 and metrics["weights"] in ("ema", "raw")
    assert metrics["epochs"] == 4 and metrics["resolution"] == 16 and metrics["latency_ms"] > 0
    last = history[-1].split(",")
    kept = float(last[6]) if metrics["weights"] == "ema" else float(last[4])
    assert metrics["val_accuracy"] == pytest.approx(kept, rel=1e-5)


def test_sigkill_then_the_same_command_resumes_to_the_same_weights(trained, spec_file, tmp_path):
    from safetensors.torch import load_file

    whole, _ = trained
    out = tmp_path / "killed"
    proc = subprocess.Popen(_command(spec_file, out, "--no-export"), env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        meta = files.read_meta(out) if (out / files.META).is_file() else None
        if meta and meta.get("epochs_done", 0) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the training ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / files.WEIGHTS).exists() and files.read_meta(out)["epochs_done"] in (2, 3)
    again = subprocess.run(_command(spec_file, out, "--no-export"), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming after epoch" in again.stdout
    resumed, reference = (load_file(str(f / files.WEIGHTS)) for f in (out, whole))
    assert resumed.keys() == reference.keys()
    for name in reference:  # same batches, augmentation, dropout draws and EMA: the same weights
        torch.testing.assert_close(resumed[name], reference[name], rtol=0, atol=0, msg=name)
    assert [r.split(",")[3] for r in (out / files.HISTORY).read_text().splitlines()] == \
        [r.split(",")[3] for r in (whole / files.HISTORY).read_text().splitlines()]


def test_exports_agree_with_pytorch_in_their_consumers(trained):
    import onnxruntime as ort

    from effsearch.export import load_trained

    out, _ = trained
    record = json.loads((out / "export" / "export.json").read_text())
    assert set(record["files"]) == {"torch-export", "onnx", "timm"}
    left = [p.name for p in (out / "export").rglob(".*")] + [p.name for p in out.glob(".*")]
    assert not left, f"temporary files left behind: {left}"  # every file is written beside, then renamed
    model = load_trained(out)
    x = torch.randn(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))  # another batch size than exported with
    with torch.no_grad():
        want = model(x)
    session = ort.InferenceSession(str(out / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    got = torch.from_numpy(session.run(None, {"images": x.numpy()})[0])
    assert (got - want).abs().max() <= 1e-4
    program = torch.export.load(str(out / "export" / "model.pt2"))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-5)


def _need_timm() -> None:
    from tests.timm_stub import PINNED, import_timm

    if import_timm() is None:
        if os.environ.get("CI"):  # make test installs it: its absence is a failure there
            pytest.fail(f"timm is not installed (make test installs {PINNED})")
        pytest.skip(f"timm is not installed (make test installs {PINNED} with --no-deps)")


def _timm_agrees(folder: Path) -> None:
    from safetensors.torch import load_file

    from effsearch.arch.timmcompat import build_timm
    from effsearch.export import load_trained

    ours = load_trained(folder)
    theirs = build_timm(ours.spec).eval()
    theirs.load_state_dict(load_file(str(folder / "export" / "timm" / "model.safetensors")), strict=True)
    x = torch.randn(2, ours.spec.in_chans, ours.spec.resolution, ours.spec.resolution)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=1e-5, atol=1e-5)


def test_timm_loads_the_exported_state_dict_strictly_and_agrees(trained):
    from effsearch.arch.specio import load_spec
    from effsearch.arch.timmcompat import timm_export

    _need_timm()
    out, _ = trained
    record = json.loads((out / "export" / "export.json").read_text())
    assert record["timm"]["faithful"] == timm_export(load_spec(out / files.SPEC)).faithful is True
    config = json.loads((out / "export" / "timm" / "config.json").read_text())
    assert config["arch_def"] == record["timm"]["arch_def"]
    _timm_agrees(out)


def test_an_adapted_network_that_timm_cannot_rebuild_gets_no_timm_weights(tmp_path):
    from effsearch.arch.presets import get_preset
    from effsearch.data import load_dataset
    from effsearch.export import export_model

    data = load_dataset("digits").subset(train=128)
    spec = network_for(get_preset("mnasnet-a1").replace(name="a1"), data, mode="adapt")  # stem stride 1 at 16 px
    train_model(spec, data, TrainConfig(epochs=1, batch_size=64, threads=1, kernels="torch"), tmp_path / "t")
    record = export_model(tmp_path / "t", formats=("timm",))
    assert record["timm"]["written"] is False and record["files"] == {}
    assert any("stem stride 1" in d for d in record["timm"]["differs"])
    assert not (tmp_path / "t" / "export" / "timm").exists()


def test_one_call_loads_the_model_back_and_reproduces_the_test_score(trained):
    from effsearch.data import load_dataset
    from effsearch.data.split import normalise
    from effsearch.export import load_trained, read_preprocess

    out, _ = trained
    model, prep = load_trained(out), read_preprocess(out)
    x, y = load_dataset("digits").test_at(prep["resolution"])
    with torch.no_grad():
        logits = model(normalise(x, tuple(prep["mean"]), tuple(prep["std"]), prep["scale"]))
    correct = int((logits.argmax(1) == y).sum())
    assert correct == round(json.loads((out / files.METRICS).read_text())["test_accuracy"] * len(y))


def test_running_the_finished_command_again_trains_nothing(trained, spec_file):
    out, _ = trained
    before = (out / files.METRICS).read_bytes()
    again = subprocess.run(_command(spec_file, out, "--no-export"), env=ENV, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "is finished (4 epochs); nothing to train" in again.stdout
    assert (out / files.METRICS).read_bytes() == before


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("args, message", [
    (["--epochs", "3"], "the training in .* was run with config.epochs = 4, not 3"),
    (["--seed", "2"], "was run with seed = 0, not 2"),
    (["--no-ema", "--ema-decay", "0.9"], "--no-ema and --ema-decay contradict each other"),
    (["--epochs", "0"], "--epochs"),
])
def test_other_settings_are_refused_in_one_line_and_nothing_changes(trained, spec_file, args, message, capsys):
    out, _ = trained
    before = _snapshot(out)
    code = main(["train", str(spec_file), *ARGS, "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("effsearch: error: ") and err.count("\n") == 1, err
    import re

    assert re.search(message, err), err
    assert _snapshot(out) == before


def test_a_spec_for_other_data_is_one_line_naming_the_fix(capsys, tmp_path):
    code = main(["train", "efficientnet-b0", "--dataset", "digits", "--epochs", "1", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert "has 1000 classes where digits has 10 and 3 input channel(s) where digits has 1" in err
    assert "--fit-data" in err and "--adapt" in err and not (tmp_path / "x").exists()


def test_an_unwritable_or_foreign_folder_is_refused(spec_file, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["train", str(spec_file), *ARGS, "--out", str(blocker)]) == 1
    assert "is a file; give a folder" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["train", str(spec_file), *ARGS, "--out", str(other)]) == 1
    assert "is not empty and holds no training" in capsys.readouterr().err
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_a_corrupt_or_foreign_checkpoint_is_one_line_and_kept(spec_file, tmp_path, capsys):
    from effsearch.arch.specio import load_spec
    from effsearch.data import load_dataset

    data = load_dataset("digits").subset(train=128)
    spec = network_for(load_spec(spec_file), data, resolution=16)
    config = TrainConfig(epochs=1, batch_size=32, threads=1, kernels="torch")
    Training(spec, data, config, tmp_path / "a", seed=0).run()
    Training(spec, data, config, tmp_path / "b", seed=1).run()
    (tmp_path / "a" / files.METRICS).unlink()  # unfinished again: the next call would resume from the checkpoint
    files.read_meta(tmp_path / "a")
    meta = json.loads((tmp_path / "a" / files.META).read_text())
    (tmp_path / "a" / files.META).write_text(json.dumps({**meta, "status": "running"}))
    (tmp_path / "a" / files.CHECKPOINT).write_bytes((tmp_path / "b" / files.CHECKPOINT).read_bytes())
    with pytest.raises(TrainError, match="belongs to another training"):
        Training(spec, data, config, tmp_path / "a", seed=0).run()
    (tmp_path / "a" / files.CHECKPOINT).write_bytes(b"\x80\x02garbage")
    with pytest.raises(TrainError, match=r"is not a readable checkpoint .* delete it to train from the start"):
        Training(spec, data, config, tmp_path / "a", seed=0).run()
    assert (tmp_path / "a" / files.CHECKPOINT).read_bytes() == b"\x80\x02garbage"  # kept for the user to look at


def test_export_refuses_an_unfinished_or_foreign_folder(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 1
    assert "holds no training (train.json is missing)" in capsys.readouterr().err
    (tmp_path / files.META).write_text(json.dumps({"kind": "train", "status": "running", "epochs_done": 2}))
    assert main(["export", str(tmp_path)]) == 1
    assert "is not finished (2 epochs so far)" in capsys.readouterr().err
    (tmp_path / files.META).write_text(json.dumps({"kind": "supernet"}))
    assert main(["export", str(tmp_path)]) == 1
    assert "is not an effsearch training record" in capsys.readouterr().err


def test_the_network_modes():
    from effsearch.arch.presets import get_preset
    from effsearch.data import load_dataset

    data = load_dataset("digits")
    b0 = get_preset("efficientnet-b0")
    with pytest.raises(TrainError, match="1000 classes where digits has 10"):
        network_for(b0, data)
    fitted = network_for(b0, data, resolution=64, mode="fit")
    assert (fitted.num_classes, fitted.in_chans, fitted.resolution, fitted.stem_stride) == (10, 1, 64, 2)
    adapted = network_for(b0, data, mode="adapt")
    assert (adapted.num_classes, adapted.in_chans, adapted.resolution) == (10, 1, 16)
    assert adapted.stem_stride == 1  # 16 px would leave no feature map: the earliest strides go


def test_the_config_takes_whole_epochs_only():
    from effsearch.engine.config import ConfigError

    for bad in ({"epochs": 1.5}, {"steps": 10}, {"seconds": 5.0}, {"ema_decay": 1.0}):
        with pytest.raises(ConfigError):
            TrainConfig(**bad)
    assert TrainConfig().augment_for(type("D", (), {"name": "fashion-mnist", "augment": "none"})()) == "crop-flip"


def test_the_ema_follows_its_warmed_up_decay():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ema = ModelEma(model, 0.999)
    start = [t.clone() for t in ema.module.state_dict().values()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model)
    d = min(0.999, 2 / 11)
    for (name, now), before, live in zip(ema.module.state_dict().items(), start, model.state_dict().values(), strict=True):
        if now.is_floating_point():
            torch.testing.assert_close(now, d * before + (1 - d) * live, msg=name)
        else:
            assert torch.equal(now, live)


def test_the_dashboard_reads_a_real_training_folder(trained):
    from effsearch.review.dashboard.cache import RunCache
    from effsearch.review.dashboard.trained import trained_frame
    from effsearch.review.dashboard.trained_figures import trained_figure

    out, _ = trained
    runs = RunCache([out]).runs()
    frame = trained_frame(runs)
    metrics = json.loads((out / files.METRICS).read_text())
    assert len(frame) == 1 and frame.iloc[0]["status"] == "done"
    assert metrics["name"] in frame.iloc[0].to_dict().values()
    figure = trained_figure(runs)
    assert any(len(trace.x) == 4 for trace in figure.data)  # one validation point per epoch


def test_weights_of_another_network_are_refused_in_one_line(trained, tmp_path, capsys):
    import shutil

    from safetensors.torch import save_file

    out, _ = trained
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    save_file({"classifier.weight": torch.zeros(3, 5)}, str(copy / files.WEIGHTS))  # a foreign file in its place
    assert main(["export", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "does not hold this folder's network 'tiny'" in err
    (copy / files.WEIGHTS).write_bytes(b"not safetensors")
    assert main(["export", str(copy)]) == 1
    assert "does not hold this folder's network" in capsys.readouterr().err
