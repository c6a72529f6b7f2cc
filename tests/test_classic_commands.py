"""Every command on the classic presets (ResNet, MobileNet): show, scale (phi and budgets), train, export,
the proxy's CPU layer paths with ReLU6, and bad input as one line. Tiny budgets keep each test fast."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from effsearch import build_model, count, get_preset, load_spec, parse_block
from effsearch.arch.spec import NetSpec
from effsearch.cli import main
from effsearch.compound.family import load_family
from effsearch.engine.adapt import adapt_for_proxy

TRAIN = ["--dataset", "digits", "--epochs", "1", "--train-images", "64", "--batch-size", "32", "--threads", "1",
         "--kernels", "torch"]
PAPER = ["--coefficients", "1.2,1.1,1.15"]


def _one_error(capsys, argv: list[str]) -> str:
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("effsearch: error: ")]
    assert len(errors) == 1 and errors[0] == lines[-1] and "Traceback" not in "\n".join(lines)
    return errors[0]


def test_show_prints_the_presets_params_and_macs(capsys):
    assert main(["show", "resnet-50"]) == 0
    out = capsys.readouterr().out
    for needle in ("25.6M params, 4.11G MACs", "maxpool", "112->56", "bottleneck", "proj", "avgpool", "2048"):
        assert needle in out, needle
    assert main(["show", "mobilenet-v2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["params"], data["macs"]) == (3_504_872, count(get_preset("mobilenet-v2")).macs)
    assert data["timm_faithful"] is True and data["blocks"][1] == "r2_k3_s22_e6_i16_o24_relu6"


def test_list_names_the_new_presets(capsys):
    assert main(["list", "presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("resnet-18", "resnet-50", "mobilenet-v1", "mobilenet-v2"))


def test_scale_mobilenet_v2_by_phi_and_by_budget(tmp_path, capsys):
    out = tmp_path / "mbv2"
    assert main(["scale", "--baseline", "mobilenet-v2", *PAPER, "--phi", "0,1", "--flops-target", "150M",
                 "--out", str(out), "--quiet"]) == 0
    family = load_family(out)
    phi1 = family.member(1).spec
    assert phi1.act == "relu6" and phi1.head_chs == round(1280 * 1.1 / 8) * 8 and phi1.resolution == 256
    budget = next(m for m in family.members if m.spec.name.endswith("150M"))
    assert count(budget.spec).macs <= 150e6 and budget.phi < 0
    assert count(phi1).params == sum(p.numel() for p in build_model(phi1).parameters())
    capsys.readouterr()


def test_scaling_a_resnet_down_keeps_one_block_per_stage(tmp_path, capsys):
    out = tmp_path / "r18"
    assert main(["scale", "--baseline", "resnet-18", *PAPER, "--phi", "-3", "--out", str(out), "--quiet"]) == 0
    spec = load_family(out).member(-3).spec
    assert [b.repeats for b in spec.blocks] == [2, 2, 2, 2] and (spec.stem_pool, spec.head_chs) == (True, 0)
    assert main(["scale", "--baseline", "resnet-50", *PAPER, "--flops-target", "20M", "--out", str(out / "tiny"),
                 "--quiet"]) == 0
    tiny = load_family(out / "tiny").members[0].spec
    assert all(b.repeats == 1 for b in tiny.blocks) and count(tiny).macs <= 20e6
    err = _one_error(capsys, ["scale", "--baseline", "resnet-50", *PAPER, "--flops-target", "100K", "--out",
                              str(out / "none")])
    assert "below the smallest network" in err and "one layer per stage" in err


def test_bad_classic_spec_files_are_one_line(tmp_path, capsys):
    for blocks, needle in ((["sep_r1_k3_s11_e6_i32_o64"], "op sep has no expansion"),
                           (["basic_r1_k3_s11_e4_i32_o64"], "op basic has no expansion"),
                           (["bottleneck_r1_k3_s11_e4_i32_o2"], "inner width"),
                           (["basic_r1_k3_s11_e1_i32_o32_se0.25"], "no squeeze-excitation")):
        path = tmp_path / "bad.yaml"
        path.write_text(json.dumps({"stem_chs": 32, "blocks": blocks}))
        assert needle in _one_error(capsys, ["show", str(path)])
    path.write_text(json.dumps({"stem_chs": 32, "stem_kernel": 6, "blocks": ["basic_r1_k3_s11_e1_i32_o32"]}))
    assert "stem_kernel 6 is invalid" in _one_error(capsys, ["show", str(path)])


@pytest.mark.parametrize("name", ["resnet-18", "mobilenet-v1"])
def test_train_a_preset_adapted_to_digits(name, tmp_path, capsys):
    out = tmp_path / name
    argv = ["train", name, "--adapt", "--resolution", "8", *TRAIN, "--no-export", "--out", str(out), "--quiet", "--json"]
    assert main(argv) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["test_images"] == 359 and 0 <= metrics["test_accuracy"] <= 1
    trained = load_spec(out / "spec.yaml")
    assert trained == adapt_for_proxy(get_preset(name), 8, num_classes=10, in_chans=1)
    assert not trained.stem_pool and trained.stem_stride == 1


TINY = NetSpec(
    blocks=(parse_block("basic_r2_k3_s22_e1_i8_o16_relu"), parse_block("bottleneck_r1_k3_s22_e4_i16_o32_relu"),
            parse_block("sep_r1_k3_s11_e1_i32_o24_se0.25_relu6"), parse_block("r1_k3_s11_e4_i24_o24_relu6")),
    stem_chs=8, stem_kernel=5, stem_pool=True, head_chs=0, resolution=32, num_classes=10, in_chans=1,
    act="relu", dropout=0.1, drop_connect=0.1, name="classic-tiny",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from effsearch.data import load_dataset
    from effsearch.train import TrainConfig, train_model

    out = tmp_path_factory.mktemp("classic") / "tiny"
    data = load_dataset("digits").subset(train=128)
    train_model(TINY, data, TrainConfig(epochs=1, batch_size=64, threads=1, kernels="torch"), out)
    return out


def test_onnx_and_torch_export_of_every_new_op_agree_and_timm_is_not_offered(trained, capsys):
    import onnxruntime as ort

    from effsearch.export import load_trained

    assert main(["export", str(trained)]) == 0
    printed = capsys.readouterr().out
    assert "model.onnx" in printed and "model.pt2" in printed
    assert "timm: not offered: timm's EfficientNet builder cannot build this network (block 1: basic has no timm form; " \
           "block 2: bottleneck has no timm form)" in printed
    record = json.loads((trained / "export" / "export.json").read_text())
    assert set(record["files"]) == {"torch-export", "onnx"} and record["timm"]["written"] is False
    assert record["timm"]["buildable"] is False and not (trained / "export" / "timm").exists()
    model = load_trained(trained)
    x = torch.randn(3, 1, 32, 32, generator=torch.Generator().manual_seed(2)) * 3
    with torch.no_grad():
        want = model(x)
    session = ort.InferenceSession(str(trained / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    assert (torch.from_numpy(session.run(None, {"images": x.numpy()})[0]) - want).abs().max() <= 1e-4
    program = torch.export.load(str(trained / "export" / "model.pt2"))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), want, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- the proxy's layer paths


def _paths() -> list[str]:
    return ["fast", "fused"] if shutil.which("cc") else ["fast"]


@pytest.mark.parametrize("path", _paths())
def test_relu6_networks_take_the_plain_path_inside_the_fast_layers_and_agree(path):
    from effsearch.engine.kernels import kernel_layers

    spec = TINY.replace(in_chans=3)
    torch.manual_seed(0)
    plain = build_model(spec, layers=kernel_layers("torch")).train()
    fast = build_model(spec, layers=kernel_layers(path)).train()
    fast.load_state_dict(plain.state_dict())
    for m in (*plain.modules(), *fast.modules()):
        if isinstance(m, torch.nn.Dropout) or type(m).__name__ == "DropPath":
            m.eval()  # the draws would differ; the layers are what is compared
    x = torch.randn(8, 3, 32, 32).contiguous(memory_format=torch.channels_last) * 3
    plain, fast = plain.to(memory_format=torch.channels_last), fast.to(memory_format=torch.channels_last)
    a, b = plain(x), fast(x)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    a.square().mean().backward()
    b.square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), fast.parameters(), strict=True):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)


def test_a_relu6_network_trains_through_the_proxy_layers():
    from effsearch.data import load_dataset
    from effsearch.proxy import ProxyConfig, train_and_evaluate

    data = load_dataset("digits").subset(train=256)
    result = train_and_evaluate(get_preset("mobilenet-v2"), data, ProxyConfig(steps=3, batch_size=32, threads=1,
                                                                               kernels=_paths()[-1]))
    assert result["status"] == "ok" and result["kernels"] == _paths()[-1] and result["steps"] == 3
