"""Proxy evaluation: train a candidate briefly on a small data set and measure validation top-1.

:func:`train_and_evaluate` is a plain function from (spec, data, config, seed) to a metrics dict; it
imports neither Ray nor Optuna, which call it. It never raises for a bad candidate: a NaN or infinite
loss, an exception or running out of memory gives ``status: "failed"`` with a one-line ``reason``.
A requested stop (:mod:`effsearch.runtime.stop`) is not a failure: it raises, between two steps.

Networks are adapted to the proxy's small images in exactly one place,
:func:`~effsearch.engine.adapt.adapt_for_proxy`. Costs used for search rewards are never taken here:
they are ``effsearch.count(spec)`` at the deployment resolution; the ``proxy_*`` numbers only
describe the network that was trained.

Speed on CPU comes from channels_last tensors (oneDNN's fast depthwise kernels), in-memory uint8
batches normalised per batch (no DataLoader, no per-sample collation), the right intra-op thread
count, the fast layers of :mod:`effsearch.engine.kernels` (built in, chosen by ``ProxyConfig.kernels``)
and multi-tensor optimizer updates; on CUDA, autocast. The layer path that trained a candidate is
in its metrics (``kernels``). Measurements are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch

from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.data import Dataset
from effsearch.engine.adapt import adapt_for_proxy
from effsearch.engine.config import OnEpoch, ProxyConfig
from effsearch.engine.device import resolve_device
from effsearch.engine.kernels import resolve_kernels
from effsearch.engine.loop import Progress, Trainer, TrainingFailed, evaluate
from effsearch.engine.model import prepare_model
from effsearch.engine.threads import default_threads, thread_scope

__all__ = ["base_metrics", "prepare_model", "train_and_evaluate"]


def base_metrics(spec: NetSpec, proxy_spec: NetSpec, data: Dataset, config: ProxyConfig, seed: int) -> dict[str, Any]:
    deploy, proxy = count(spec), count(proxy_spec)
    return {
        "status": "ok", "reason": None, "accuracy": 0.0, "loss": None, "train_loss": None,
        "train_seconds": 0.0, "eval_seconds": 0.0, "images_per_s": 0.0, "epochs": 0.0, "steps": 0, "images": 0,
        "proxy_resolution": proxy_spec.resolution, "proxy_params": proxy.params, "proxy_macs": proxy.macs,
        "proxy_strides": [proxy_spec.stem_stride] + [b.stride for b in proxy_spec.blocks],
        "params": deploy.params, "macs": deploy.macs, "resolution": deploy.resolution,
        "dataset": data.name, "seed": seed, "batch_size": config.batch_size, "lr": config.base_lr,
        "device": None, "threads": None, "kernels": None, "loss_curve": [], "accuracy_curve": [],
    }


def _failure_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, MemoryError) or "out of memory" in lowered or "can't allocate memory" in lowered:
        return f"out of memory: {text[:300]}; use a smaller --batch-size or --resolution"
    if isinstance(exc, TrainingFailed):
        return text
    return f"{type(exc).__name__}: {text[:300]}"


class _CallbackError(Exception):
    """Carries an exception raised by ``on_epoch`` past the failure handler: the caller's, not ours."""


def _run(model: torch.nn.Module, data: Dataset, config: ProxyConfig, device: torch.device, gen: torch.Generator,
         on_epoch: OnEpoch | None) -> Progress:
    trainer = Trainer(model, data, config, device, gen)
    more = True
    while more:
        more = trainer.epoch()
        if on_epoch is not None and trainer.progress.loss_curve:
            start = time.perf_counter()
            accuracy, loss = evaluate(model, data, config, device)
            trainer.progress.last_eval = (accuracy, loss, time.perf_counter() - start)
            trainer.progress.accuracy_curve.append(accuracy)
            metrics = {"epoch": len(trainer.progress.loss_curve), "accuracy": accuracy, "loss": loss,
                       "train_loss": trainer.progress.train_loss, "steps": trainer.progress.steps}
            try:
                on_epoch(metrics["epoch"], metrics)
            except Exception as exc:
                raise _CallbackError() from exc
    return trainer.progress


def train_and_evaluate(spec: NetSpec, data: Dataset, config: ProxyConfig | None = None, *, seed: int = 0,
                       on_epoch: OnEpoch | None = None) -> dict[str, Any]:
    """Train ``spec`` (adapted for the proxy) on ``data`` and return validation metrics.

    Same spec, data, config and seed on CPU give the same accuracy (with a ``seconds`` budget the
    number of steps depends on the machine, so only epoch/step budgets are reproducible). Never
    raises for a bad candidate; see the module docstring and docs/internals.md for the keys.
    ``on_epoch(epoch, metrics)``, if given, is called after every epoch with the validation
    ``accuracy`` and ``loss`` so far (for early stopping); what it raises is raised to the caller.
    """
    config = config or ProxyConfig()
    resolution = config.resolution or data.default_resolution
    proxy_spec = adapt_for_proxy(spec, resolution, num_classes=data.num_classes, in_chans=data.in_chans, min_feature=config.min_feature)
    result = base_metrics(spec, proxy_spec, data, config, seed)
    device = None
    try:
        device = resolve_device(config.device)
        threads = config.threads or default_threads()
        kernels = resolve_kernels(config.kernels, device, threads)
        result.update(device=str(device), threads=threads if device.type == "cpu" else None, kernels=kernels)
        proxy_data = data.resized(resolution).on(device)  # on a GPU: resident there, once per worker process
        cuda = [device.index or 0] if device.type == "cuda" else []
        with thread_scope(threads), torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            model = prepare_model(proxy_spec, config, device, kernels)
            progress = _run(model, proxy_data, config, device, gen, on_epoch)
            _record_progress(result, progress)
            if progress.last_eval is not None:  # validated after the last epoch already: same weights, same numbers
                result["accuracy"], result["loss"], seconds = progress.last_eval
            else:
                start = time.perf_counter()
                result["accuracy"], result["loss"] = evaluate(model, proxy_data, config, device)
                seconds = time.perf_counter() - start
            result["eval_seconds"] = round(seconds, 4)
        if not math.isfinite(result["loss"]):
            raise TrainingFailed(f"validation loss is {result['loss']}; the run diverged (lower the learning rate)")
    except _CallbackError as exc:
        raise exc.__cause__ from None
    except Exception as exc:  # a bad candidate must never take the search down with it
        result.update(status="failed", reason=_failure_reason(exc), accuracy=0.0, loss=None)
    finally:
        if device is not None and device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _record_progress(result: dict[str, Any], progress: Progress) -> None:
    result.update(
        steps=progress.steps, images=progress.images, epochs=round(progress.epochs, 4),
        train_seconds=round(progress.seconds, 4), train_loss=progress.train_loss,
        images_per_s=round(progress.images / progress.seconds, 2) if progress.seconds > 0 else 0.0,
        loss_curve=progress.loss_curve, accuracy_curve=progress.accuracy_curve,
    )

