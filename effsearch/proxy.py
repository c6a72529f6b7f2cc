"""Proxy evaluation: train a candidate briefly on a small data set and measure validation top-1.

:func:`train_and_evaluate` is a plain function from (spec, data, config, seed) to a metrics dict; it
imports neither Ray nor Optuna, which call it. It never raises for a bad candidate: a NaN or infinite
loss, an exception or running out of memory gives ``status: "failed"`` with a one-line ``reason``.

Networks are adapted to the proxy's small images in exactly one place, :func:`adapt_for_proxy`.
Costs used for search rewards are never taken here: they are ``effsearch.count(spec)`` at the
deployment resolution; the ``proxy_*`` numbers only describe the network that was trained.

Speed on CPU comes from channels_last tensors (oneDNN's fast depthwise kernels), in-memory uint8
batches normalised per batch (no DataLoader, no per-sample collation), the right intra-op thread
count, exact rewrites of the depthwise and 1x1 convolutions (:mod:`effsearch.fastconv`) and of the
squeeze-excitation backward (:mod:`effsearch.fastse`), batch norm fused with its activation in a
small compiled kernel (:mod:`effsearch.fastbn`), and multi-tensor optimizer updates; on CUDA,
autocast. Measurements are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from effsearch.cost import count
from effsearch.data import AUGMENTS, Dataset
from effsearch.data.batches import augment, epoch_indices, to_input
from effsearch.errors import EffsearchError
from effsearch.spec import NetSpec

OPTIMIZERS = ("sgd", "adamw")
SCHEDULES = ("cosine", "linear", "constant")
DEFAULT_LR = {"sgd": 0.2, "adamw": 0.004}  # for a batch of 128; scaled linearly with batch size
MIN_FEATURE = 2
DIVERGED_FACTOR = 10.0
"""An epoch whose mean training loss exceeds this many times chance level (ln of the class count)
has diverged even if the loss stayed finite: at a learning rate 10^4 too high it sits at 10^3-10^4."""
OnEpoch = Callable[[int, dict[str, Any]], None]


class ConfigError(EffsearchError, ValueError):
    """A proxy-training setting is out of range."""


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"proxy config: {name} {value!r} is invalid ({expected})")


@dataclass(frozen=True, kw_only=True)
class ProxyConfig:
    """How to train a proxy. The budget stops at whichever of epochs, steps or seconds comes first.

    The defaults are sized so an EfficientNet-B0-sized candidate trains on the default data set
    (digits at 16 px) in roughly 10-15 s on two CPU cores while still ranking architectures; see
    the README, "Proxy evaluation" for the measurements behind them.
    """

    epochs: float | None = 2.0
    steps: int | None = None
    seconds: float | None = None
    batch_size: int = 64
    optimizer: str = "sgd"  # SGD with Nesterov momentum, or AdamW
    lr: float | None = None  # None: DEFAULT_LR[optimizer] * batch_size / 128
    momentum: float = 0.9
    weight_decay: float = 5e-5
    warmup: float = 0.1  # fraction of the budget with a linear learning-rate warm-up
    schedule: str = "cosine"
    label_smoothing: float = 0.0  # supported; 0.1 measured worse at the default 2-epoch budget (the README, "Proxy evaluation")
    grad_clip: float | None = 5.0
    bn_momentum: float | None = 0.1  # None keeps the spec's (0.01, too slow to settle in a short run)
    dropout: float | None = 0.0  # classifier dropout while training the proxy; None keeps the spec's
    drop_connect: float | None = 0.0  # stochastic depth while training the proxy; None keeps the spec's
    zero_init_residual: bool = True  # last BN of each residual branch starts at 0 (faster early training)
    resolution: int | None = None  # proxy input size; None: the data set's default
    augment: str | None = None  # None: the data set's default (crop-flip for natural images, none for digits)
    min_feature: int = MIN_FEATURE  # smallest final feature map adapt_for_proxy allows
    eval_batch_size: int = 512
    device: str = "auto"  # auto: cuda when available, else cpu
    threads: int | None = None  # CPU intra-op threads; None: OMP_NUM_THREADS or the usable cores
    amp: bool = True  # autocast on CUDA (bf16 where supported, else fp16 with loss scaling)
    channels_last: bool = True
    fast_convs: bool = True  # on CPU: fastconv's depthwise and 1x1 rewrites, fastse's squeeze-excitation backward
    fused_bn: bool = True  # on CPU with fast_convs and channels_last: fastbn's compiled batch norm + activation

    def __post_init__(self) -> None:
        if self.epochs is None and self.steps is None and self.seconds is None:
            raise ConfigError("proxy config: give a budget (epochs, steps or seconds)")
        for name in ("epochs", "seconds"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, (int, float)) and value > 0), name, value, "a positive number or None")
        for name, lo in (("steps", 1), ("batch_size", 1), ("eval_batch_size", 1), ("min_feature", 1)):
            value = getattr(self, name)
            _check((value is None and name == "steps") or (isinstance(value, int) and not isinstance(value, bool) and value >= lo),
                   name, value, f"an integer >= {lo}")
        _check(self.optimizer in OPTIMIZERS, "optimizer", self.optimizer, f"one of {', '.join(OPTIMIZERS)}")
        _check(self.schedule in SCHEDULES, "schedule", self.schedule, f"one of {', '.join(SCHEDULES)}")
        _check(self.lr is None or (isinstance(self.lr, (int, float)) and self.lr > 0), "lr", self.lr, "a positive number")
        for name, lo, hi in (("momentum", 0, 1), ("warmup", 0, 1), ("label_smoothing", 0, 1)):
            value = getattr(self, name)
            _check(isinstance(value, (int, float)) and lo <= value < hi, name, value, f"a number in [{lo}, {hi})")
        for name in ("dropout", "drop_connect"):
            value = getattr(self, name)
            _check(value is None or (isinstance(value, (int, float)) and 0 <= value < 1), name, value, "a number in [0, 1) or None")
        _check(isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0, "weight_decay", self.weight_decay, ">= 0")
        _check(self.grad_clip is None or self.grad_clip > 0, "grad_clip", self.grad_clip, "a positive number or None")
        _check(self.bn_momentum is None or 0 < self.bn_momentum <= 1, "bn_momentum", self.bn_momentum, "in (0, 1] or None")
        _check(self.resolution is None or (isinstance(self.resolution, int) and 8 <= self.resolution <= 1024),
               "resolution", self.resolution, "an integer from 8 to 1024, or None")
        _check(self.augment is None or self.augment in AUGMENTS, "augment", self.augment, f"one of {', '.join(AUGMENTS)}")
        _check(self.device == "auto" or self.device.split(":")[0] in ("cpu", "cuda", "mps"), "device", self.device, "auto, cpu or cuda[:N]")
        _check(self.threads is None or (isinstance(self.threads, int) and self.threads >= 1), "threads", self.threads, "an integer >= 1")

    def replace(self, **changes: Any) -> ProxyConfig:
        return dataclasses.replace(self, **changes)

    @property
    def base_lr(self) -> float:
        return float(self.lr) if self.lr is not None else DEFAULT_LR[self.optimizer] * self.batch_size / 128

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- network adaptation


def strides_for_proxy(spec: NetSpec, resolution: int, min_feature: int = MIN_FEATURE) -> list[int]:
    """Stem stride followed by each stage's stride, after dropping the earliest ones as needed.

    The deployment network reduces 224 px by 32 to a 7x7 map. At 8 to 64 px the same strides would
    leave a 1x1 map (or less) several stages before the end, so those stages would see no spatial
    structure at all. The earliest strides (stem first, then stage by stage) are set to 1 until the
    final map is at least ``min_feature`` pixels; the later stages keep the deployment's relative
    downsampling. At 64 px and above nothing changes.
    """
    strides = [spec.stem_stride] + [b.stride for b in spec.blocks]
    for i in range(len(strides)):
        if math.ceil(resolution / math.prod(strides)) >= min_feature:
            break
        strides[i] = 1
    return strides


def adapt_for_proxy(
    spec: NetSpec, resolution: int, *, num_classes: int | None = None, in_chans: int | None = None,
    min_feature: int = MIN_FEATURE,
) -> NetSpec:
    """The network that the proxy trains: ``spec`` at ``resolution`` with early strides dropped.

    This is the one place where a candidate is changed for the proxy. Everything else (channels,
    kernels, expansion, SE, depth, activations) is the candidate's own; the classifier gets the data
    set's class count and the stem its channel count.
    """
    strides = strides_for_proxy(spec, resolution, min_feature)
    blocks = tuple(dataclasses.replace(b, stride=s) for b, s in zip(spec.blocks, strides[1:], strict=True))
    return spec.replace(
        blocks=blocks, stem_stride=strides[0], resolution=int(resolution),
        num_classes=int(num_classes or spec.num_classes), in_chans=int(in_chans or spec.in_chans),
    )


# --------------------------------------------------------------------------- runtime settings


def default_threads() -> int:
    """OMP_NUM_THREADS when set (Ray sets it per worker), else the cores this process may use."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"proxy config: device {name!r} is not available (torch sees no CUDA GPU); use --device cpu")
    return device


@contextlib.contextmanager
def thread_scope(threads: int) -> Iterator[None]:
    """Run with ``threads`` intra-op threads and restore the caller's setting afterwards."""
    before = torch.get_num_threads()
    if threads != before:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


# --------------------------------------------------------------------------- training


class TrainingFailed(Exception):
    """Raised inside the loop for a diverged run; turned into ``status: "failed"``."""


@dataclass
class _Progress:
    steps: int = 0
    images: int = 0
    epochs: float = 0.0
    train_loss: float = math.nan
    seconds: float = 0.0  # training only: per-epoch validation time is not counted
    loss_curve: list = dataclasses.field(default_factory=list)  # mean training loss per epoch
    accuracy_curve: list = dataclasses.field(default_factory=list)  # validation top-1 per epoch, when asked


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


def _optimizer(model: torch.nn.Module, config: ProxyConfig) -> torch.optim.Optimizer:
    # No weight decay on batch-norm affine terms and biases (as in the official training recipe).
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    # foreach: one multi-tensor kernel per update instead of ~1,000 small ones (B0 has 213 tensors).
    if config.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=config.base_lr, betas=(config.momentum, 0.999), foreach=True)
    return torch.optim.SGD(groups, lr=config.base_lr, momentum=config.momentum, nesterov=config.momentum > 0, foreach=True)


def _autocast(device: torch.device, config: ProxyConfig) -> tuple[contextlib.AbstractContextManager, torch.amp.GradScaler | None]:
    """Autocast on CUDA only: on CPUs without AMX, bf16 convolutions measured slower than fp32."""
    if device.type != "cuda" or not config.amp:
        return contextlib.nullcontext(), None
    if torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16), None
    return torch.autocast("cuda", dtype=torch.float16), torch.amp.GradScaler("cuda")


def _check_loss(loss: torch.Tensor, progress: _Progress) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingFailed(f"loss became {value} by step {progress.steps + 1}; the run diverged (lower --lr)")
    progress.train_loss = value


class _Trainer:
    """The training loop of one proxy run (state that the small step functions share)."""

    def __init__(self, model: torch.nn.Module, data: Dataset, config: ProxyConfig, device: torch.device, gen: torch.Generator):
        self.model, self.data, self.config, self.device, self.gen = model, data, config, device, gen
        self.opt = _optimizer(model, config)
        self.autocast, self.scaler = _autocast(device, config)
        self.augment = config.augment if config.augment is not None else data.augment
        self.channels_last = config.channels_last and device.type != "mps"
        self.planned = _planned_steps(config, len(data.train_y))
        self.per_epoch = max(1, len(data.train_y) // config.batch_size)
        self.progress = _Progress()
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
            losses.append(self.step(idx).detach())
            p.steps += 1
            p.images += len(idx)
            p.seconds += time.perf_counter() - start
            start = time.perf_counter()
        if not losses:
            return False
        mean = float(torch.stack(losses).mean())
        if not math.isfinite(mean):
            raise TrainingFailed(f"loss became {mean} by step {p.steps}; the run diverged (lower --lr)")
        chance = math.log(max(2, self.data.num_classes))
        if mean > DIVERGED_FACTOR * chance:
            raise TrainingFailed(f"mean training loss {mean:.4g} in epoch {len(p.loss_curve) + 1} is over "
                                 f"{DIVERGED_FACTOR:g}x chance level ({chance:.3g}); the run diverged (lower --lr)")
        p.train_loss = float(losses[-1])
        p.epochs += len(losses) / self.per_epoch
        p.loss_curve.append(round(mean, 5))
        return self.used() < 1.0


def _backward_step(loss: torch.Tensor, model: torch.nn.Module, opt: torch.optim.Optimizer,
                   scaler: torch.amp.GradScaler | None, config: ProxyConfig) -> None:
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
    else:
        loss.backward()
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
    autocast, _ = _autocast(device, config)
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


# --------------------------------------------------------------------------- the entry point


def prepare_model(spec: NetSpec, config: ProxyConfig, device: torch.device) -> torch.nn.Module:
    """Build the proxy network on ``device`` with the proxy's training-time settings applied."""
    from effsearch.builder import build_model

    changes = {k: getattr(config, k) for k in ("dropout", "drop_connect") if getattr(config, k) is not None}
    model = build_model(spec.replace(**changes) if changes else spec)
    if config.zero_init_residual:
        _zero_init_residual(model)
    if config.bn_momentum is not None:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.momentum = config.bn_momentum
    for m in model.modules():
        if isinstance(m, torch.nn.SiLU):
            # An in-place SiLU makes autograd clone its input (the backward needs it): one extra copy
            # of every activation map per step. Out of place writes the same bytes without the clone.
            m.inplace = False
    if config.fast_convs and device.type == "cpu":
        from effsearch.fastbn import use_fast_bn_act
        from effsearch.fastconv import use_fast_depthwise, use_fast_pointwise
        from effsearch.fastse import use_fast_se

        use_fast_depthwise(model)
        use_fast_se(model)
        if config.channels_last:  # the GEMM form and the fused batch norm need the NHWC layout
            use_fast_pointwise(model)
            if config.fused_bn:
                use_fast_bn_act(model)
    model = model.to(device)
    return model.to(memory_format=torch.channels_last) if config.channels_last and device.type != "mps" else model


def _zero_init_residual(model: torch.nn.Module) -> None:
    # Each residual block then starts as the identity, which makes short runs of deep nets train much
    # faster (Goyal et al. 2017); it changes the starting point only, not the architecture.
    for m in model.modules():
        if getattr(m, "has_residual", False) and hasattr(m, "conv_pwl"):
            torch.nn.init.zeros_(m.conv_pwl.bn.weight)
        elif getattr(m, "has_residual", False) and hasattr(m, "conv"):
            torch.nn.init.zeros_(m.conv.bn.weight)


def _describe(spec: NetSpec, proxy_spec: NetSpec, data: Dataset, config: ProxyConfig, seed: int) -> dict[str, Any]:
    deploy, proxy = count(spec), count(proxy_spec)
    return {
        "status": "ok", "reason": None, "accuracy": 0.0, "loss": None, "train_loss": None,
        "train_seconds": 0.0, "eval_seconds": 0.0, "images_per_s": 0.0, "epochs": 0.0, "steps": 0, "images": 0,
        "proxy_resolution": proxy_spec.resolution, "proxy_params": proxy.params, "proxy_macs": proxy.macs,
        "proxy_strides": [proxy_spec.stem_stride] + [b.stride for b in proxy_spec.blocks],
        "params": deploy.params, "macs": deploy.macs, "resolution": deploy.resolution,
        "dataset": data.name, "seed": seed, "batch_size": config.batch_size, "lr": config.base_lr,
        "device": None, "threads": None, "loss_curve": [], "accuracy_curve": [],
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
         on_epoch: OnEpoch | None) -> _Progress:
    trainer = _Trainer(model, data, config, device, gen)
    more = True
    while more:
        more = trainer.epoch()
        if on_epoch is not None and trainer.progress.loss_curve:
            accuracy, loss = evaluate(model, data, config, device)
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
    result = _describe(spec, proxy_spec, data, config, seed)
    device = None
    try:
        device = resolve_device(config.device)
        threads = config.threads or default_threads()
        result.update(device=str(device), threads=threads if device.type == "cpu" else None)
        proxy_data = data.resized(resolution)
        cuda = [device.index or 0] if device.type == "cuda" else []
        with thread_scope(threads), torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seed)
            gen = torch.Generator().manual_seed(seed)
            model = prepare_model(proxy_spec, config, device)
            progress = _run(model, proxy_data, config, device, gen, on_epoch)
            _record_progress(result, progress)
            start = time.perf_counter()
            result["accuracy"], result["loss"] = evaluate(model, proxy_data, config, device)
            result["eval_seconds"] = round(time.perf_counter() - start, 4)
        if not math.isfinite(result["loss"]):
            raise TrainingFailed(f"validation loss is {result['loss']}; the run diverged (lower --lr)")
    except _CallbackError as exc:
        raise exc.__cause__ from None
    except Exception as exc:  # a bad candidate must never take the search down with it
        result.update(status="failed", reason=_failure_reason(exc), accuracy=0.0, loss=None)
    finally:
        if device is not None and device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def _record_progress(result: dict[str, Any], progress: _Progress) -> None:
    result.update(
        steps=progress.steps, images=progress.images, epochs=round(progress.epochs, 4),
        train_seconds=round(progress.seconds, 4), train_loss=progress.train_loss,
        images_per_s=round(progress.images / progress.seconds, 2) if progress.seconds > 0 else 0.0,
        loss_curve=progress.loss_curve, accuracy_curve=progress.accuracy_curve,
    )
