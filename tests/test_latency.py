"""CPU latency: batch 1 at the deployment resolution, median of repeats, with what it ran on."""

from __future__ import annotations

import pytest
import torch

from effsearch import parse_block
from effsearch.latency import measure_latency, processor_name
from effsearch.spec import NetSpec


def tiny(resolution: int = 32) -> NetSpec:
    blocks = (parse_block("r1_k3_s11_e1_i8_o8"), parse_block("r1_k5_s22_e3_i8_o16_se0.25"))
    return NetSpec(blocks=blocks, stem_chs=8, head_chs=32, resolution=resolution, name="tiny")


def test_latency_record():
    before = torch.get_num_threads()
    result = measure_latency(tiny(), repeats=5, warmup=1, threads=1)
    assert result["latency_ms"] > 0 and result["min_ms"] <= result["latency_ms"] <= result["p90_ms"] + 1e-9
    assert result["resolution"] == 32 and result["batch_size"] == 1 and result["threads"] == 1
    assert result["repeats"] == 5 and result["warmup"] == 1 and result["device"] == "cpu"
    assert isinstance(result["processor"], str) and result["processor"] == processor_name() != ""
    assert torch.get_num_threads() == before


def test_latency_grows_with_resolution():
    # 16x the pixels: the median must rise clearly (compared in the same process, not against a clock)
    small = min(measure_latency(tiny(32), repeats=7, warmup=2, threads=1)["min_ms"] for _ in range(2))
    large = min(measure_latency(tiny(32), resolution=128, repeats=7, warmup=2, threads=1)["min_ms"] for _ in range(2))
    assert large > small


def test_latency_rejects_bad_arguments():
    with pytest.raises(ValueError):
        measure_latency(tiny(), repeats=0)
