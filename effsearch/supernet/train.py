"""Training a supernet: several sub-networks per step, a checkpoint every epoch, resume after a kill.

Two rules (``SupernetConfig.rule``):

* ``sandwich`` (BigNAS, Yu et al. 2020): every step trains the largest sub-network on the labels,
  the smallest and ``random_subnets`` uniformly sampled ones on the largest's softened predictions
  (in-place distillation), and takes one optimizer step on the summed gradients. The extremes
  bound the space, so every shared weight is trained at every width it is used at.
* ``uniform`` (single-path one-shot, Guo et al. 2019): one uniformly sampled sub-network per step,
  on the labels: four to five times more steps for the same time.

``uniform`` is the default, from measurement: on digits, ``small`` space, the same 176 sub-network
passes (8 uniform epochs against 2 sandwich epochs) gave random sub-networks 0.97-0.99 against
0.91-0.96; sandwich spends half its passes on the two extremes. More in ``benchmarks/README.md``
("Weight sharing"). The
optimizer, schedule and augmentation are the standalone proxy's (:class:`effsearch.proxy.ProxyConfig`),
so the supernet trains with the recipe its candidates would. A requested stop ends the run between
two steps; the same call resumes from the last finished epoch (the sampling generator is saved too,
so a resumed run draws the same sub-networks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from effsearch.data.batches import augment, epoch_indices, to_input
from effsearch.engine.adapt import adapt_for_proxy
from effsearch.engine.device import default_threads, resolve_device, thread_scope
from effsearch.engine.loop import autocast_for, lr_factor, make_optimizer, optimizer_step
from effsearch.errors import EffsearchError
from effsearch.runtime import stop
from effsearch.runtime.results import check_writable
from effsearch.search.space import extreme_params
from effsearch.supernet import folder as files
from effsearch.supernet.layout import SupernetError, layout_for
from effsearch.supernet.model import Supernet
from effsearch.supernet.score import ScoreConfig, Scorer

RULES = ("sandwich", "uniform")
RECIPE = ("batch_size", "optimizer", "lr", "momentum", "weight_decay", "warmup", "schedule", "grad_clip", "bn_momentum",
          "augment", "min_feature")


@dataclass(frozen=True, kw_only=True)
class SupernetConfig:
    """How a supernet is trained (the optimizer and schedule are the proxy's)."""

    epochs: float = 3.0
    rule: str = "uniform"
    random_subnets: int = 2  # sandwich: sampled sub-networks per step besides the largest and the smallest
    distill: bool = True  # sandwich: the sub-networks learn the largest's predictions, not the labels
    train_images: int | None = None  # a stratified subset of the training split (None: all of it)
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, (int, float)) or isinstance(self.epochs, bool) or not 0 < self.epochs <= 1000:
            raise SupernetError(f"supernet epochs {self.epochs!r} is invalid (a number in (0, 1000])")
        if self.rule not in RULES:
            raise SupernetError(f"supernet rule {self.rule!r} is invalid (one of {', '.join(RULES)})")
        if not isinstance(self.random_subnets, int) or self.random_subnets < 0:
            raise SupernetError(f"supernet random_subnets {self.random_subnets!r} is invalid (an integer >= 0)")
        if self.train_images is not None and (not isinstance(self.train_images, int) or self.train_images < 1):
            raise SupernetError(f"supernet train_images {self.train_images!r} is invalid (a positive integer or None)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def identity(space: Any, data: Any, proxy: Any, config: SupernetConfig) -> dict[str, Any]:
    """What a supernet was trained on and how: resuming or scoring with anything else is refused."""
    resolution = proxy.resolution or data.default_resolution
    decisions = json.dumps(space.decisions, sort_keys=True, default=str)
    return json.loads(json.dumps({  # as it reads back from supernet.json
        "space": space.name, "layout": layout_for(space).fingerprint(),
        "decisions": hashlib.sha256(decisions.encode()).hexdigest()[:16],
        "data": files.data_identity(data, resolution), **config.to_dict(),
        "recipe": {k: getattr(proxy, k) for k in RECIPE},
    }))


class _Sampler:
    """Sub-networks to train, drawn from one torch generator (saved with the checkpoint)."""

    def __init__(self, space: Any, data: Any, resolution: int, min_feature: int, gen: torch.Generator):
        self.space, self.gen = space, gen
        self.adapt = lambda spec: adapt_for_proxy(spec, resolution, num_classes=data.num_classes,
                                                  in_chans=data.in_chans, min_feature=min_feature)
        self.largest = self.adapt(space.to_spec(extreme_params(space, largest=True)))
        self.smallest = self.adapt(space.to_spec(extreme_params(space, largest=False)))

    def random(self) -> Any:
        params = {name: values[int(torch.randint(len(values), (1,), generator=self.gen))]
                  for name, values in self.space.decisions}
        return self.adapt(self.space.to_spec(params))


def _soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * F.log_softmax(logits.float(), 1)).sum(1).mean()


class SupernetTrainer:
    """One training run of a supernet into ``out`` (see :func:`train_supernet`)."""

    def __init__(self, space: Any, data: Any, proxy: Any, config: SupernetConfig, out: Path):
        self.space, self.proxy, self.config, self.out = space, proxy, config, Path(out)
        self.identity = identity(space, data, proxy, config)
        check_writable(self.out, what="supernet folder")
        resolve_device(proxy.device)  # a device the machine lacks is refused before anything is written
        meta = files.read_meta(self.out)
        if meta is not None:
            files.same_identity(meta.get("identity", {}), self.identity, folder=self.out, what="this training")
        elif self.out.is_dir() and any(self.out.iterdir()):
            raise SupernetError(f"{self.out} is not empty and holds no supernet; choose a new folder for the supernet")
        self.meta = meta or {"identity": self.identity, "epochs_done": 0, "history": [], "finished": False}
        self.resolution = proxy.resolution or data.default_resolution
        full = data.resized(self.resolution)
        self.data = full.subset(train=config.train_images, seed=config.seed) if config.train_images else full
        self.scoring_data = data
        self.on_step: Callable[[int, int, float], None] | None = None

    @property
    def finished(self) -> bool:
        return bool(self.meta.get("finished")) and (self.out / files.WEIGHTS).is_file()

    def run(self, *, on_epoch: Callable[[dict[str, Any]], None] | None = None,
            on_step: Callable[[int, int, float], None] | None = None) -> dict[str, Any]:
        """Train the remaining epochs; ``on_epoch(record)`` after each, ``on_step(step, total, loss)`` after every step."""
        self.on_step = on_step
        if self.finished:
            return self.meta
        self.out.mkdir(parents=True, exist_ok=True)
        device = resolve_device(self.proxy.device)
        threads = self.proxy.threads or default_threads()
        with thread_scope(threads), torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else []):
            torch.manual_seed(self.config.seed)
            return self._run(device, threads, on_epoch)

    def _run(self, device: torch.device, threads: int, on_epoch: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
        p, c, data = self.proxy, self.config, self.data.on(device)  # on a GPU: resident there, no copy per step
        model = Supernet(layout_for(self.space), num_classes=data.num_classes, in_chans=data.in_chans,
                         bn_momentum=p.bn_momentum or 0.1).to(device)
        opt = make_optimizer(model, p)
        gen = torch.Generator().manual_seed(c.seed)
        checkpoint = self.out / files.CHECKPOINT
        scaler_state = self._restore(checkpoint, model, opt, gen) if checkpoint.is_file() else None
        sampler = _Sampler(self.space, data, self.resolution, p.min_feature, gen)
        autocast, scaler = autocast_for(device, p)
        if scaler is not None and scaler_state:
            scaler.load_state_dict(scaler_state)
        channels_last = p.channels_last and device.type != "mps"
        per_epoch = max(1, len(data.train_y) // p.batch_size)
        total = math.ceil(c.epochs * per_epoch)
        augment_kind = p.augment if p.augment is not None else data.augment
        self.meta.update(device=str(device), threads=threads if device.type == "cpu" else None, steps_planned=total)
        scorer = Scorer(model, self.scoring_data, p, resolution=self.resolution, config=ScoreConfig(), device=device)
        for epoch in range(int(self.meta["epochs_done"]), math.ceil(c.epochs)):
            start, losses, step = time.perf_counter(), [], epoch * per_epoch
            model.train()
            for idx in epoch_indices(len(data.train_y), p.batch_size, generator=gen, drop_last=True):
                if step >= total:
                    break
                stop.check()
                for group in opt.param_groups:
                    group["lr"] = p.base_lr * lr_factor(p, step / total)
                x = to_input(augment(data.train_x[idx], augment_kind, gen), mean=data.mean, std=data.std,
                             scale=data.scale, device=device, channels_last=channels_last)
                y = data.train_y[idx].to(device)
                losses.append(self._step(model, opt, sampler, x, y, autocast, scaler))
                step += 1
                if self.on_step is not None:
                    self.on_step(step, total, losses[-1])
            record = {"epoch": epoch + 1, "steps": step, "train_loss": round(sum(losses) / max(1, len(losses)), 5),
                      "seconds": round(time.perf_counter() - start, 2)}
            for name in ("largest", "smallest"):
                record[f"{name}_accuracy"] = scorer.score(getattr(sampler, name))["accuracy"]
            self.meta["history"].append(record)
            self.meta["epochs_done"] = epoch + 1
            files.save_tensors(checkpoint, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                            "generator": gen.get_state(), "epoch": epoch + 1,
                                            "scaler": scaler.state_dict() if scaler is not None else {}})
            files.write_json(self.out / files.META, self.meta)
            if on_epoch is not None:
                on_epoch(record)
        files.save_tensors(self.out / files.WEIGHTS, model.state_dict())
        self.meta["finished"] = True
        files.write_json(self.out / files.META, self.meta)
        return self.meta

    @staticmethod
    def _restore(checkpoint: Path, model: Supernet, opt: torch.optim.Optimizer, gen: torch.Generator) -> dict | None:
        """Load the last epoch's checkpoint (weights only); the loss scaler's state, if it had one."""
        state = files.load_tensors(checkpoint)
        try:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            gen.set_state(state["generator"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise SupernetError(f"{checkpoint} does not fit this supernet ({type(exc).__name__}); "
                                "delete it to start again") from None
        return state.get("scaler") or None

    def _step(self, model: Supernet, opt: torch.optim.Optimizer, sampler: _Sampler, x: torch.Tensor, y: torch.Tensor,
              autocast: Any, scaler: Any) -> float:
        c, p = self.config, self.proxy
        opt.zero_grad(set_to_none=True)
        if c.rule == "uniform":
            subnets = [(sampler.random(), False)]
        else:
            subnets = [(sampler.largest, False), (sampler.smallest, c.distill)]
            subnets += [(sampler.random(), c.distill) for _ in range(c.random_subnets)]
        teacher, first = None, None
        for spec, distil in subnets:
            with autocast:
                logits = model(x, spec)
            if distil and teacher is not None:
                loss = _soft_cross_entropy(logits, teacher)
            else:
                loss = F.cross_entropy(logits.float(), y, label_smoothing=p.label_smoothing)
            if teacher is None:
                teacher = logits.detach().float().softmax(1)
                first = float(loss.detach())
                if not math.isfinite(first):
                    raise SupernetError(f"the supernet's loss became {first}; it diverged (lower the learning rate)")
            (scaler.scale(loss) if scaler is not None else loss).backward()
        optimizer_step(model, opt, scaler, p)
        return first


def train_supernet(space: Any, data: Any, proxy: Any, config: SupernetConfig, out: str | Path, *,
                   on_epoch: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Train (or resume, or find finished) the supernet of ``space`` on ``data`` into ``out``; its metadata.

    ``space`` is a :class:`~effsearch.search.space.SearchSpace` (or its name), ``proxy`` a
    :class:`~effsearch.proxy.ProxyConfig` (recipe, resolution, device). Checked before anything is
    written: the space can share weights, and a supernet already in ``out`` was trained the same way.
    """
    from effsearch.search.space import load_space

    if isinstance(space, str):
        space = load_space(space)
    if not isinstance(config, SupernetConfig):
        raise EffsearchError("config must be a SupernetConfig")
    return SupernetTrainer(space, data, proxy, config, Path(out)).run(on_epoch=on_epoch)
