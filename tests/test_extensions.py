"""Each extension seam, used from outside the package: a new op, objective, sampler, evaluator and data format.

Everything a user adds is registered from this file alone and runs a tiny search; nothing inside
effsearch knows about it.
"""

from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch import nn

from effsearch import build_model, count
from effsearch.arch.blocks import TORCH_LAYERS, DropPath
from effsearch.arch.blockstring import format_block, parse_block
from effsearch.arch.ops import Op, register_op, unregister_op
from effsearch.errors import EffsearchError
from effsearch.search.evaluators import register_evaluator, unregister_evaluator
from effsearch.search.objectives import Objective, register_objective, unregister_objective
from effsearch.search.reward import RewardConfig, reward
from effsearch.search.samplers import register_sampler, unregister_sampler
from effsearch.search.space import parse_space
from tests.search_helpers import Scorer, search, write_space

# --------------------------------------------------------------------------- a new op: Fused-MBConv


class FusedMBConv(nn.Module):
    """EfficientNetV2's fused block: a kxk expansion conv (+BN+act), a linear 1x1 projection (+BN)."""

    def __init__(self, layer, *, drop_path=0.0, layers=None):
        super().__init__()
        layers = layers or TORCH_LAYERS
        mid = max(1, round(layer.in_chs * layer.exp_ratio))
        self.conv_exp = layers.conv_bn_act(layer.in_chs, mid, layer.kernel_size, layer.stride, act=layer.act, layers=layers)
        self.conv_pwl = layers.conv_bn_act(mid, layer.out_chs, 1, layers=layers)
        self.has_residual = layer.has_residual
        self.drop_path = DropPath(drop_path) if self.has_residual and drop_path > 0 else nn.Identity()

    def forward(self, x):
        out = self.conv_pwl(self.conv_exp(x))
        return x + self.drop_path(out) if self.has_residual else out

    def zero_init_last(self):
        nn.init.zeros_(self.conv_pwl.bn.weight)


def _fused_cost(in_chs, out_chs, kernel, stride, exp_ratio, se_ratio, in_size):
    size = -(-in_size // stride)
    mid = max(1, round(in_chs * exp_ratio))
    w_exp, w_pwl = mid * in_chs * kernel * kernel, out_chs * mid
    params = w_exp + 2 * mid + w_pwl + 2 * out_chs
    return params, params * size * size


FUSED = Op(name="fused", token="fused", expands=True, mid_channels=lambda i, o, e: max(1, round(i * e)),
           cost=_fused_cost, module=FusedMBConv, timm=lambda block, act: None, label=lambda b: f"f{b.exp_ratio:g}")

FUSED_SPACE = """
name: fusedspace
network: {stem: 8, head: 32, resolution: 32, act: swish}
choices: {op: [fused_e2, mbconv_e3], kernel: [3], se: [0], skip: [identity], filters: [1.0], layers: [0]}
blocks:
  - {filters: 8, layers: 1, stride: 1}
  - {filters: 16, layers: 2, stride: 2}
"""


@pytest.fixture
def fused_op():
    register_op(FUSED)
    try:
        yield FUSED
    finally:
        unregister_op("fused")


def test_a_registered_op_is_a_full_citizen(fused_op):
    block = parse_block("fused_r2_k3_s22_e4_i16_o24")
    assert block.op == "fused" and format_block(block) == "fused_r2_k3_s22_e4_i16_o24" and block.mid_chs == 64
    space = parse_space(__import__("yaml").safe_load(FUSED_SPACE))
    spec = space.to_spec({"b1_op": "fused_e2", "b2_op": "fused_e2"})
    model = build_model(spec, num_classes=5)
    assert count(spec, num_classes=5).params == sum(p.numel() for p in model.parameters())
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 5)
    assert model.zero_init_residual() == 2  # stage 1 (8 -> 8) and the second layer of stage 2 (16 -> 16)
    with pytest.raises(EffsearchError, match="already registered"):
        register_op(FUSED)


@pytest.mark.slow
def test_a_tiny_search_trains_the_new_op(fused_op, tmp_path):
    from effsearch.data import load_dataset
    from effsearch.proxy import ProxyConfig

    data = load_dataset("digits").subset(train=200, val=100)
    result = search(tmp_path / "run", evaluate=None, space=write_space(tmp_path, FUSED_SPACE, "fused"), trials=4,
                    data=data, proxy=ProxyConfig(steps=3, threads=1, resolution=8, batch_size=32), sampler="random", seed=1)
    trials = result.exported.trials
    assert (trials["status"] == "ok").any() and trials["blocks"].str.contains("fused_").any()


# --------------------------------------------------------------------------- a new objective


@pytest.fixture
def layers_objective():
    register_objective(Objective(name="layers", label="layers", parse=lambda t, what="layers": float(t), format=lambda v: f"{v:g}",
                                 measure=lambda spec, ctx: float(spec.num_layers)))
    try:
        yield
    finally:
        unregister_objective("layers")


def test_a_registered_objective_is_what_the_reward_trades_against(layers_objective, tmp_path):
    cfg = RewardConfig(target=6, objective="layers", reject_above=None)
    result = search(tmp_path / "run", evaluate=Scorer(), trials=6, reward=cfg)
    study = result.study
    for trial in study.trials:
        acc, layers = trial.user_attrs["accuracy"], trial.user_attrs["layers"]
        assert trial.values[0] == pytest.approx(reward(acc, layers, cfg)) == pytest.approx(acc * (layers / 6) ** -0.07)
    import json

    assert json.loads((tmp_path / "run" / "run.json").read_text())["config"]["objective"] == "layers"


# --------------------------------------------------------------------------- a new sampler


class FirstChoiceSampler(optuna.samplers.BaseSampler):
    """Always the first choice of every parameter: a plain Optuna sampler, nothing of effsearch."""

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        return param_distribution.choices[0]


def test_any_optuna_sampler_instance_drives_the_search(tmp_path):
    result = search(tmp_path / "run", evaluate=Scorer(), trials=3, sampler=FirstChoiceSampler())
    trials = result.exported.trials
    assert set(trials["sampler"]) == {"FirstChoiceSampler"} and set(trials["status"]) == {"ok", "cached"}
    assert trials["blocks"].nunique() == 1  # always the first choices: one architecture, trained once


def test_a_registered_sampler_is_chosen_by_name(tmp_path):
    register_sampler("first", lambda *, seed, space, workers: FirstChoiceSampler())
    try:
        result = search(tmp_path / "run", evaluate=Scorer(), trials=2, sampler="first")
        assert set(result.exported.trials["sampler"]) == {"first"}
    finally:
        unregister_sampler("first")


# --------------------------------------------------------------------------- a new evaluator


class ConstantEvaluator:
    """Scores every candidate the same: enough to show that the loop does not care who produced the metrics."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, spec, data, proxy, *, seed=0, on_epoch=None):
        return {"status": "ok", "accuracy": self.value, "loss": 0.1, "train_seconds": 0.0}

    def describe(self):
        return {"name": "constant", "value": self.value}


@pytest.fixture
def constant_evaluator():
    register_evaluator("constant", lambda arg, *, data, proxy, out, space: ConstantEvaluator(float(arg or 0.5)))
    try:
        yield
    finally:
        unregister_evaluator("constant")


def test_a_registered_evaluator_scores_the_search_and_is_fingerprinted(constant_evaluator, tmp_path):
    result = search(tmp_path / "run", evaluate=None, trials=3, evaluator="constant:0.7")
    ok = result.exported.trials
    ok = ok[ok["status"] == "ok"]
    assert len(ok) and (ok["accuracy"] == 0.7).all() and set(ok["evaluator"]) == {"ConstantEvaluator"}
    with pytest.raises(EffsearchError, match=r"evaluator.value = 0.7, not 0.8"):
        search(tmp_path / "run", evaluate=None, trials=4, evaluator="constant:0.8")


# --------------------------------------------------------------------------- a new data format


def _stripes(path=None, *, cache_dir=None, download=True):
    """Horizontal or vertical stripes, 8x8, two classes: what a loader returns is a RawData."""
    from effsearch.data import RawData

    y = torch.arange(60) % 2
    x = torch.zeros(60, 1, 8, 8, dtype=torch.uint8)
    x[y == 0, :, ::2, :] = 255
    x[y == 1, :, :, ::2] = 255
    return RawData(x=x, y=y, classes=("rows", "columns"), source=f"stripes {path or ''}".strip())


@pytest.fixture
def stripes_format():
    from effsearch import register_format
    from effsearch.data.formats import unregister_format

    register_format("stripes", _stripes, aliases=("lines",), train_augment="flip", description="two kinds of stripes")
    try:
        yield
    finally:
        unregister_format("stripes")


def test_a_registered_data_format_loads_by_name_and_chooses_its_training_augmentation(stripes_format):
    from effsearch.data import load_dataset
    from effsearch.train import TrainConfig

    data = load_dataset("Lines:/anywhere")
    assert data.name == "stripes" and data.source == "stripes /anywhere" and data.num_classes == 2
    assert data.augment == "none" and TrainConfig().augment_for(data) == "flip"
    assert TrainConfig(augment="crop").augment_for(data) == "crop"


# --------------------------------------------------------------------------- the kernel path in the study


def test_a_study_refuses_another_kernel_path_unless_told(tmp_path):
    from effsearch.proxy import ProxyConfig

    out = tmp_path / "run"
    first = search(out, evaluate=Scorer(), trials=2, proxy=ProxyConfig(epochs=1, kernels="fast", threads=1))
    import json

    run = json.loads((out / "run.json").read_text())
    assert run["config"]["runtime"] == {"device": "cpu", "threads": 1, "kernels": "fast"}
    assert first.study.user_attrs["effsearch"]["runtime"]["kernels"] == "fast"
    with pytest.raises(EffsearchError, match=r"runtime.kernels = fast, not torch"):
        search(out, evaluate=Scorer(), trials=3, proxy=ProxyConfig(epochs=1, kernels="torch", threads=1))
    mixed = search(out, evaluate=Scorer(), trials=3, proxy=ProxyConfig(epochs=1, kernels="torch", threads=1),
                   mix_runtime=True)
    assert len(mixed.study.trials) == 3 and not math.isnan(mixed.exported.trials["accuracy"].iloc[-1])
