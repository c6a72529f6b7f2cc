"""Latency: batch 1 at the deployment resolution, timed by torch.utils.benchmark, with what it ran on."""

from __future__ import annotations

import pytest
import torch

from effsearch import parse_block
from effsearch.arch.spec import NetSpec
from effsearch.engine.latency import measure_latency, processor_name


def tiny(resolution: int = 32) -> NetSpec:
    blocks = (parse_block("r1_k3_s11_e1_i8_o8"), parse_block("r1_k5_s22_e3_i8_o16_se0.25"))
    return NetSpec(blocks=blocks, stem_chs=8, head_chs=32, resolution=resolution, name="tiny")


def test_latency_record():
    before = torch.get_num_threads()
    result = measure_latency(tiny(), threads=1, min_run_time=0.05)
    assert result["latency_ms"] > 0 and result["iqr_ms"] >= 0 and result["runs"] >= 1
    assert result["resolution"] == 32 and result["batch_size"] == 1 and result["threads"] == 1
    assert result["device"] == "cpu" and result["method"] == "torch.utils.benchmark"
    assert isinstance(result["processor"], str) and result["processor"] == processor_name() != ""
    assert torch.get_num_threads() == before


def test_latency_grows_with_resolution():
    # 49x the pixels: the median must rise clearly (compared in the same process, not against a clock).
    # At 128 px this net was only 2.4x slower than at 32 (fixed per-layer costs dominate), so a busy
    # spell on a shared core could reverse the order; at 224 px it is 7x. The two are measured in turn,
    # so a busy spell slows both, and the quickest of three of each is compared.
    small, large = [], []
    for _ in range(3):
        small.append(measure_latency(tiny(32), threads=1, min_run_time=0.05)["latency_ms"])
        large.append(measure_latency(tiny(32), resolution=224, threads=1, min_run_time=0.05)["latency_ms"])
    assert min(large) > 1.5 * min(small), (small, large)


def test_latency_rejects_bad_arguments():
    from effsearch.errors import EffsearchError

    with pytest.raises(ValueError):
        measure_latency(tiny(), batch_size=0)
    with pytest.raises(ValueError):
        measure_latency(tiny(), min_run_time=0)
    if not torch.cuda.is_available():
        with pytest.raises(EffsearchError, match="no CUDA GPU"):
            measure_latency(tiny(), device="cuda")
