"""Scoring a candidate with inherited weights: extract, recalibrate batch norm, validate.

Batch-norm statistics accumulated while training a supernet mix every sub-network that ran, so
they fit none of them; each candidate's are recomputed from a few fixed training batches (a
cumulative average, ``momentum=None``) before validation (Once-for-All, BigNAS do the same). The
calibration batches and the validation subset are fixed per supernet and data set, so a candidate's
score is deterministic. The result is the metrics dict of
:func:`effsearch.proxy.train_and_evaluate`, so the search does not care which evaluator made it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from effsearch.arch.spec import NetSpec
from effsearch.data import Dataset
from effsearch.data.batches import to_input
from effsearch.engine.adapt import adapt_for_proxy
from effsearch.engine.loop import evaluate
from effsearch.proxy.trainer import base_metrics
from effsearch.supernet.model import Supernet

CALIBRATION_IMAGES = 512
SCORE_IMAGES = 1000
CALIBRATION_BATCH = 256


@dataclass(frozen=True, kw_only=True)
class ScoreConfig:
    """How a candidate is scored: calibration images (training split) and validation images (fixed subsets)."""

    calibration_images: int = CALIBRATION_IMAGES
    score_images: int = SCORE_IMAGES
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"calibration_images": self.calibration_images, "score_images": self.score_images, "seed": self.seed}


class Scorer:
    """Scores candidates of one supernet on one data set (the fixed subsets are drawn once)."""

    def __init__(self, supernet: Supernet, data: Dataset, proxy: Any, *, resolution: int, config: ScoreConfig,
                 device: torch.device):
        self.supernet, self.proxy, self.resolution, self.config, self.device = supernet, proxy, resolution, config, device
        full = data.resized(resolution)
        gen = torch.Generator().manual_seed(config.seed)
        calib = torch.randperm(len(full.train_y), generator=gen)[: config.calibration_images]
        self.data = full.subset(val=min(config.score_images, len(full.val_y)), seed=config.seed).on(device)
        self.calibration = [full.train_x[idx].to(device) for idx in torch.split(calib, CALIBRATION_BATCH)]
        self.full = full

    def network(self, spec: NetSpec) -> NetSpec:
        """The network the proxy trains for ``spec`` (the supernet runs exactly that)."""
        d = self.full
        return adapt_for_proxy(spec, self.resolution, num_classes=d.num_classes, in_chans=d.in_chans,
                               min_feature=self.proxy.min_feature)

    def model(self, spec: NetSpec) -> torch.nn.Module:
        """The candidate's standalone network with inherited weights and recalibrated batch norm."""
        model = self.supernet.extract(self.network(spec)).to(self.device)
        channels_last = self.proxy.channels_last and self.device.type != "mps"
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # a cumulative average over the calibration batches
        model.train()
        with torch.inference_mode():
            for x in self.calibration:
                model(to_input(x, mean=self.data.mean, std=self.data.std, scale=self.data.scale, device=self.device,
                               channels_last=channels_last))
        return model.eval()

    def score(self, spec: NetSpec) -> dict[str, Any]:
        start = time.perf_counter()
        proxy_spec = self.network(spec)
        metrics = base_metrics(spec, proxy_spec, self.full, self.proxy, self.config.seed)
        model = self.model(spec)
        metrics["accuracy"], metrics["loss"] = evaluate(model, self.data, self.proxy, self.device)
        metrics.update(eval_seconds=round(time.perf_counter() - start, 4), device=str(self.device), kernels="torch",
                       evaluator="supernet", score_images=len(self.data.val_y))
        return metrics
