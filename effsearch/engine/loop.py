"""The training loop of one proxy run: schedule, optimizer, mixed precision, divergence checks, validation.

It checks :func:`effsearch.runtime.stop.check` before every step, so a requested stop ends a run
between two steps (raising :class:`~effsearch.runtime.stop.Stopped`) rather than after it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from effsearch.data import Dataset
from effsearch.data.batches import augment, epoch_indices, to_input
from effsearch.engine.config import DIVERGED_FACTOR, ProxyConfig
from effsearch.runtime import stop


class TrainingFailed(Exception):
    """Raised inside the loop for a diverged run; turned into ``status: "failed"``."""


@dataclass
class Progress:
    steps: int = 0
    images: int = 0
    epochs: float = 0.0
    train_loss: float = math.nan
    seconds: float = 0.0  # training only: per-epoch validation time is not counted
    loss_curve: list = dataclasses.field(default_factory=list)  # mean training loss per epoch
    accuracy_curve: list = dataclasses.field(default_factory=list)  # validation top-1 per epoch, when asked
    last_eval: tuple | None = None  # (accuracy, loss, seconds) of a validation after the latest epoch


def _planned_steps(config: ProxyConfig, n_train: int) -> int | None:
    per_epoch = max(1, n_train // config.batch_size)
    planned = [math.ceil(config.epochs * per_epoch)] if config.epochs is not None else []
    planned += [config.steps] if config.steps is not None else []
    return min(planned) if planned else None


def lr_factor(config: ProxyConfig, progress: float) -> float:
    """Linear warm-up over the first ``warmup`` of the budget, then cosine / linear decay to zero."""
    if config.warmup and progress < config.warmup:
        return (progress + 1e-3) / config.warmup
    if config.schedule == "constant":
        return 1.0
    rest = (progress - config.warmup) / max(1e-9, 1.0 - config.warmup)
    return 0.5 * (1 + math.cos(math.pi * rest)) if config.schedule == "cosine" else 1.0 - rest


def make_optimizer(model: torch.nn.Module, config: ProxyConfig) -> torch.optim.Optimizer:
    # No weight decay on batch-norm affine terms and biases (as in the official training recipe).
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    # foreach: one multi-tensor kernel per update instead of ~1,000 small ones (B0 has 213 tensors).
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.base_lr, betas=(config.momentum, 0.999), foreach=True)
    return torch.optim.SGD(groups, lr=config.base_lr, momentum=config.momentum, nesterov=config.momentum > 0, foreach=True)


def autocast_for(device: torch.device, config: ProxyConfig) -> tuple[contextlib.AbstractContextManager, torch.amp.GradScaler | None]:
    """Autocast on CUDA only: on CPUs without AMX, bf16 convolutions measured slower than fp32."""
    if device.type != "cuda" or not config.amp:
        return contextlib.nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _check_loss(loss: torch.Tensor, progress: Progress) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingFailed(f"loss became {value} by step {progress.steps + 1}; the run diverged (lower the learning rate)")
    progress.train_loss = value


class Trainer:
    """The training loop of one proxy run (state that the small step functions share)."""

    def __init__(self, model: torch.nn.Module, data: Dataset, config: ProxyConfig, device: torch.device, gen: torch.Generator):
        self.model, self.data, self.config, self.device, self.gen = model, data, config, device, gen
        self.opt = make_optimizer(model, config)
        self.autocast, self.scaler = autocast_for(device, config)
        self.augment = config.augment if config.augment is not None else data.augment
        self.channels_last = config.channels_last and device.type != "mps"
        self.planned = _planned_steps(config, len(data.train_y))
        self.per_epoch = max(1, len(data.train_y) // config.batch_size)
        self.progress = Progress()
        # On CPU reading the loss is free; on a GPU it syncs, so it is read every 20 steps (NaN persists).
        self.check_every = 1 if device.type == "cpu" else 20

    def used(self) -> float:
        """Fraction of the budget spent: the largest of the step and time fractions."""
        p, c = self.progress, self.config
        return max(p.steps / self.planned if self.planned else 0.0, p.seconds / c.seconds if c.seconds else 0.0)

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        c = self.config
        for group in self.opt.param_groups:
            group["lr"] = c.base_lr * lr_factor(c, self.used())
        x = to_input(augment(self.data.train_x[idx], self.augment, self.gen), mean=self.data.mean, std=self.data.std,
                     scale=self.data.scale, device=self.device, channels_last=self.channels_last)
        y = self.data.train_y[idx].to(self.device, non_blocking=True)
        with self.autocast:
            loss = F.cross_entropy(self.model(x), y, label_smoothing=c.label_smoothing)
        if self.progress.steps % self.check_every == 0:
            _check_loss(loss, self.progress)
        self.opt.zero_grad(set_to_none=True)
        _backward_step(loss, self.model, self.opt, self.scaler, c)
        return loss

    def epoch(self) -> bool:
        """Train one (possibly partial) epoch; False once the budget is spent."""
        p, losses, start = self.progress, [], time.perf_counter()
        self.model.train()
        for idx in epoch_indices(len(self.data.train_y), self.config.batch_size, generator=self.gen, drop_last=True):
            if self.used() >= 1.0:
                break
            stop.check()  # a requested stop (Ctrl-C, SIGTERM) ends the run here, between two steps
            losses.append(self.step(idx).detach())
            p.steps += 1
            p.images += len(idx)
            p.seconds += time.perf_counter() - start
            start = time.perf_counter()
        if not losses:
            return False
        mean = float(torch.stack(losses).mean())
        if not math.isfinite(mean):
            raise TrainingFailed(f"loss became {mean} by step {p.steps}; the run diverged (lower the learning rate)")
        chance = math.log(max(2, self.data.num_classes))
        if mean > DIVERGED_FACTOR * chance:
            raise TrainingFailed(f"mean training loss {mean:.4g} in epoch {len(p.loss_curve) + 1} is over "
                                 f"{DIVERGED_FACTOR:g}x chance level ({chance:.3g}); the run diverged (lower the learning rate)")
        p.train_loss = float(losses[-1])
        p.epochs += len(losses) / self.per_epoch
        p.loss_curve.append(round(mean, 5))
        return self.used() < 1.0


def _backward_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None, config: ProxyConfig) -> None:
    (scaler.scale(loss) if scaler is not None else loss).backward()
    optimizer_step(model, opt, scaler, config)


def optimizer_step(model: torch.nn.Module, opt: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None,
                   config: ProxyConfig) -> None:
    """Unscale (fp16), clip and apply the gradients already accumulated."""
    if scaler is not None:
        scaler.unscale_(opt)
    if config.grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip, foreach=True)
    if scaler is not None:
        scaler.step(opt)
        scaler.update()
    else:
        opt.step()


@torch.inference_mode()
def evaluate(model: torch.nn.Module, data: Dataset, config: ProxyConfig, device: torch.device) -> tuple[float, float]:
    """Validation top-1 and mean cross-entropy (without label smoothing)."""
    model.eval()
    autocast, _ = autocast_for(device, config)
    correct, loss_sum = 0, 0.0
    for idx in epoch_indices(len(data.val_y), config.eval_batch_size, generator=None, drop_last=False):
        x = to_input(data.val_x[idx], mean=data.mean, std=data.std, scale=data.scale, device=device,
                     channels_last=config.channels_last and device.type != "mps")
        y = data.val_y[idx].to(device)
        with autocast:
            logits = model(x).float()
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += int((logits.argmax(1) == y).sum())
    n = len(data.val_y)
    return correct / n, loss_sum / n


