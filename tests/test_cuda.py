"""The CUDA paths: proxy, supernet, train and a search whose workers share the GPU.

Every test here needs a CUDA GPU and skips only for want of one (CI has none). They are what
``benchmarks/gpu_check.sh`` runs first when a GPU is lent (``pytest -m cuda``). The CPU half of
each device rule (data stays where it is on the CPU, the same crops whatever the device) is
checked here too, so it runs everywhere.
"""

from __future__ import annotations

import json

import pytest
import torch

from effsearch.data import load_dataset
from effsearch.data.batches import augment

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


def test_on_the_cpu_the_data_stays_where_it_is(digits):
    assert digits.on("cpu") is digits and digits.resized(16).on(torch.device("cpu")) is digits.resized(16)


@needs_gpu
def test_the_data_moves_to_the_gpu_once_and_crops_match_the_cpu(digits):
    on_gpu = digits.on("cuda")
    assert on_gpu is digits.on("cuda") and on_gpu.train_x.is_cuda and on_gpu.val_y.is_cuda
    assert on_gpu.train_x.dtype == torch.uint8  # moved as stored, normalised per batch
    x = digits.train_x[:32]
    cpu = augment(x, "crop-flip", torch.Generator().manual_seed(3))
    gpu = augment(x.cuda(), "crop-flip", torch.Generator().manual_seed(3))
    assert torch.equal(cpu, gpu.cpu())


@needs_gpu
def test_a_proxy_trains_on_the_gpu(digits):
    from effsearch import load_spec
    from effsearch.proxy import ProxyConfig, train_and_evaluate

    metrics = train_and_evaluate(load_spec("efficientnet-b0"), digits, ProxyConfig(steps=30, device="cuda"), seed=0)
    assert metrics["status"] == "ok", metrics["reason"]
    assert metrics["device"].startswith("cuda") and metrics["kernels"] == "torch" and metrics["accuracy"] > 0.2


@needs_gpu
def test_a_search_with_two_workers_sharing_the_gpu(tmp_path, digits):
    from effsearch.proxy import ProxyConfig
    from effsearch.search import RunConfig, SearchConfig, run_baseline_search
    from effsearch.search.reward import RewardConfig

    out = tmp_path / "run"
    run_baseline_search(search=SearchConfig(space="small", sampler="random", trials=4),
                        reward=RewardConfig(target=4e8), proxy=ProxyConfig(steps=20, device="cuda"),
                        run=RunConfig(out=out, workers=2, progress=False), data=digits)
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["placement"]["executor"] == "pool" and config["runtime"]["device"].startswith("cuda")
    import pandas as pd

    trials = pd.read_csv(out / "trials.csv")
    assert (trials["status"] == "ok").all() and trials["proxy.device"].str.startswith("cuda").all()


@needs_gpu
def test_a_supernet_epoch_and_scoring_on_the_gpu(tmp_path, digits):
    from effsearch.proxy import ProxyConfig
    from effsearch.search.space import load_space
    from effsearch.supernet.train import SupernetConfig, train_supernet

    space = load_space("small")
    meta = train_supernet(space, digits, ProxyConfig(device="cuda"), SupernetConfig(epochs=1), tmp_path / "net")
    assert meta["finished"] and str(meta["device"]).startswith("cuda")


@needs_gpu
def test_train_an_epoch_on_the_gpu_and_export(tmp_path, digits):
    from effsearch.arch.presets import get_preset
    from effsearch.train import TrainConfig, network_for, train_model

    spec = network_for(get_preset("mnasnet-a1").replace(name="a1"), digits, mode="adapt")
    metrics = train_model(spec, digits, TrainConfig(epochs=1, batch_size=64, device="cuda"), tmp_path / "a1")
    assert str(metrics["device"]).startswith("cuda") and (tmp_path / "a1").is_dir()
