"""Training one network to keep: the full recipe, a checkpoint every epoch, resume after a kill, a test score.

:func:`train_model` trains ``spec`` on ``data`` into a folder (see :mod:`effsearch.train.folder`).
The loop is the proxy's (:class:`~effsearch.engine.loop.Trainer`: schedule, optimizer, AMP on CUDA,
channels_last, the fast CPU layers, divergence checks) with an EMA of the weights updated after
every step. After each epoch both the live weights and the EMA are validated, and everything needed
to continue (weights, EMA, optimizer, loss scaler, data-order generator, the global random state
that dropout and stochastic depth draw from) is saved atomically; the same call resumes there, and on
CPU a resumed training ends with the same weights as one never interrupted. At the end the weights
with the better validation top-1 (EMA or live) are kept and scored once on the data set's test split,
which no search reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from effsearch.arch.builder import build_model
from effsearch.arch.cost import count
from effsearch.arch.spec import NetSpec
from effsearch.arch.specio import save_spec, spec_to_dict
from effsearch.arch.timmcompat import TimmExportWarning
from effsearch.engine.device import default_threads, resolve_device, thread_scope
from effsearch.engine.kernels import resolve_kernels
from effsearch.engine.loop import Progress, Trainer, TrainingFailed, evaluate
from effsearch.engine.model import prepare_model
from effsearch.runtime.files import atomic_path, atomic_torch_save, atomic_write_json
from effsearch.runtime.fingerprint import check_same
from effsearch.runtime.results import check_writable
from effsearch.train import folder as files
from effsearch.train.config import TrainConfig
from effsearch.train.ema import ModelEma
from effsearch.train.folder import TrainError
from effsearch.train.network import check_fits

OnEpoch = Callable[[dict[str, Any]], None]
OnStep = Callable[[int, int, float], None]


def identity(spec: NetSpec, data: Any, config: TrainConfig, *, seed: int, device: torch.device, threads: int,
             kernels: str) -> dict[str, Any]:
    """Everything that changes a training's numbers; resuming with anything else is refused."""
    d = data.describe()
    # The labels' digest tells two subsets (or splits) of equal size apart, at the cost of hashing a few hundred kB.
    labels = hashlib.sha256(data.train_y.numpy().tobytes() + data.val_y.numpy().tobytes()).hexdigest()[:16]
    return {
        "spec": spec_to_dict(spec), "seed": seed, "resolution": spec.resolution,
        "data": {k: d.get(k) for k in ("name", "train", "val", "test", "num_classes", "in_chans", "image_size")} | {"labels": labels},
        "config": {k: v for k, v in config.to_dict().items() if k not in ("device", "threads", "kernels")},
        "augment": config.augment_for(data), "device": device.type, "threads": threads if device.type == "cpu" else None,
        "kernels": kernels,
    }


def _digest(value: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _EmaTrainer(Trainer):
    """The proxy's loop with an EMA update and a progress callback after every optimizer step."""

    ema: ModelEma | None = None
    on_step: OnStep | None = None

    def step(self, idx: torch.Tensor) -> torch.Tensor:
        loss = super().step(idx)
        if self.ema is not None:
            self.ema.update(self.model)
        if self.on_step is not None:  # the loss the loop last read: reading this one would sync a GPU every step
            self.on_step(self.progress.steps + 1, self.planned or 0, self.progress.train_loss)
        return loss


class Training:
    """One training of ``spec`` on ``data`` into ``out``; :meth:`run` trains, resumes or finds it finished."""

    def __init__(self, spec: NetSpec, data: Any, config: TrainConfig | None = None, out: str | Path = "results/trained", *,
                 seed: int = 0, source: str | None = None):
        self.config = config or TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise TrainError("config must be a TrainConfig (effsearch.train.TrainConfig)")
        self.spec = spec.replace(resolution=int(self.config.resolution or spec.resolution))
        check_fits(self.spec, data)
        self.data, self.out, self.seed, self.source = data, Path(out), int(seed), source
        check_writable(self.out, what="training folder")
        self.device = resolve_device(self.config.device)
        self.threads = self.config.threads or default_threads()
        self.kernels = resolve_kernels(self.config.kernels, self.device, self.threads)
        self.identity = identity(self.spec, data, self.config, seed=self.seed, device=self.device, threads=self.threads,
                                 kernels=self.kernels)
        meta = files.read_meta(self.out)
        if meta is not None:
            check_same(meta.get("settings"), self.identity, what=f"the training in {self.out}")
        elif self.out.is_dir() and any(self.out.iterdir()):
            raise TrainError(f"{self.out} is not empty and holds no training; choose a new folder")
        self.meta = meta or {"kind": "train", "name": self.spec.name, "source": source, "status": "new",
                             "settings": self.identity, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}

    @property
    def finished(self) -> bool:
        return self.meta.get("status") == "done" and (self.out / files.METRICS).is_file() and (self.out / files.WEIGHTS).is_file()

    def epochs_done(self) -> int:
        return int(self.meta.get("epochs_done", 0))

    def run(self, *, on_epoch: OnEpoch | None = None, on_step: OnStep | None = None) -> dict[str, Any]:
        """Train the remaining epochs and finish; the metrics of ``metrics.json``."""
        if self.finished:
            return json.loads((self.out / files.METRICS).read_text())
        self.out.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # whether timm rebuilds it is export's business (export.json says)
            warnings.simplefilter("ignore", TimmExportWarning)
            save_spec(self.spec, self.out / files.SPEC)
        self._write_meta(status="running")
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with thread_scope(self.threads), torch.random.fork_rng(devices=cuda):
            torch.manual_seed(self.seed)
            return self._run(on_epoch, on_step)

    def _write_meta(self, **changes: Any) -> None:
        from effsearch import __version__

        self.meta.update(changes, effsearch=__version__, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        atomic_write_json(self.out / files.META, self.meta)

    def _run(self, on_epoch: OnEpoch | None, on_step: OnStep | None) -> dict[str, Any]:
        c = self.config
        data = self.data.resized(self.spec.resolution).on(self.device)  # on a GPU: resident there
        model = prepare_model(self.spec, c, self.device, self.kernels)
        gen = torch.Generator().manual_seed(self.seed)
        trainer = _EmaTrainer(model, data, c.replace(augment=c.augment_for(self.data)), self.device, gen)
        trainer.ema = ModelEma(model, c.ema_decay) if c.ema_decay else None
        trainer.on_step = on_step
        history: list[dict[str, Any]] = []
        checkpoint = self.out / files.CHECKPOINT
        if checkpoint.is_file():
            history = self._restore(checkpoint, trainer)
        try:
            more = trainer.progress.loss_curve == [] or trainer.used() < 1.0
            while more:
                before, start = trainer.progress.seconds, trainer.progress.images
                more = trainer.epoch()
                if len(trainer.progress.loss_curve) > len(history):
                    history.append(self._epoch_record(trainer, data, before, start))
                    self._save(checkpoint, trainer, history)
                    if on_epoch is not None:
                        on_epoch(history[-1])
        except TrainingFailed as exc:
            raise TrainError(f"the training diverged: {exc}; the last good epoch's checkpoint is kept") from None
        return self._finish(trainer, data, history)

    def _epoch_record(self, trainer: _EmaTrainer, data: Any, seconds_before: float, images_before: int) -> dict[str, Any]:
        p, c = trainer.progress, self.config
        accuracy, loss = evaluate(trainer.model, data, c, self.device)
        ema_accuracy = ema_loss = None
        if trainer.ema is not None:
            ema_accuracy, ema_loss = evaluate(trainer.ema.module, data, c, self.device)
        seconds = p.seconds - seconds_before
        return {
            "epoch": len(p.loss_curve), "steps": p.steps, "lr": trainer.opt.param_groups[0]["lr"],
            "train_loss": p.loss_curve[-1], "val_accuracy": accuracy, "val_loss": loss,
            "ema_val_accuracy": ema_accuracy, "ema_val_loss": ema_loss, "seconds": round(seconds, 3),
            "images_per_s": round((p.images - images_before) / seconds, 1) if seconds > 0 else 0.0,
        }

    def _save(self, checkpoint: Path, trainer: _EmaTrainer, history: list[dict[str, Any]]) -> None:
        state = {
            "identity": _digest(self.identity), "model": trainer.model.state_dict(), "optimizer": trainer.opt.state_dict(),
            "ema": trainer.ema.state_dict() if trainer.ema is not None else {},
            "scaler": trainer.scaler.state_dict() if trainer.scaler is not None else {},
            "generator": trainer.gen.get_state(), "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else torch.empty(0),
            "progress": dataclasses.asdict(trainer.progress), "history": history,
        }
        atomic_torch_save(checkpoint, state)
        files.write_history(self.out, history)
        self._write_meta(status="running", epochs_done=len(history))

    def _restore(self, checkpoint: Path, trainer: _EmaTrainer) -> list[dict[str, Any]]:
        state = files.load_checkpoint(checkpoint)
        if state["identity"] != _digest(self.identity):
            raise TrainError(f"{checkpoint} belongs to another training (another spec, data or recipe); "
                             "delete it to train from the start, or use another folder")
        try:
            trainer.model.load_state_dict(state["model"])
            trainer.opt.load_state_dict(state["optimizer"])
            if trainer.ema is not None:
                trainer.ema.load_state_dict(state["ema"])
            if trainer.scaler is not None and state.get("scaler"):
                trainer.scaler.load_state_dict(state["scaler"])
            trainer.gen.set_state(state["generator"])
            torch.set_rng_state(state["rng"])
            if self.device.type == "cuda" and state["cuda_rng"].numel():
                torch.cuda.set_rng_state(state["cuda_rng"], self.device)
            progress = dict(state["progress"])
            progress["last_eval"] = tuple(progress["last_eval"]) if progress.get("last_eval") else None
            trainer.progress = Progress(**progress)
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            text = " ".join(str(exc).split())[:160]
            raise TrainError(f"{checkpoint} does not fit this network ({type(exc).__name__}: {text}); "
                             "delete it to train from the start") from None
        return list(state["history"])

    def _finish(self, trainer: _EmaTrainer, data: Any, history: list[dict[str, Any]]) -> dict[str, Any]:
        from safetensors.torch import save_file

        last = history[-1]
        use_ema = trainer.ema is not None and last["ema_val_accuracy"] >= last["val_accuracy"]
        weights = (trainer.ema.module if use_ema else trainer.model).state_dict()
        model = build_model(self.spec)  # PyTorch's own layers: what is exported and loaded back
        model.load_state_dict(weights)
        model = model.to(self.device)
        test_x, test_y = self.data.test_at(self.spec.resolution)
        test = dataclasses.replace(data, val_x=test_x, val_y=test_y, _cache={})
        test_accuracy, test_loss = evaluate(model, test, self.config, self.device)
        with atomic_path(self.out / files.WEIGHTS) as tmp:
            save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))
        metrics = self._metrics(trainer, history, use_ema, test_accuracy, test_loss, len(test_y))
        atomic_write_json(self.out / files.METRICS, metrics)
        self._write_meta(status="done", epochs_done=len(history))
        return metrics

    def _metrics(self, trainer: _EmaTrainer, history: list[dict[str, Any]], use_ema: bool, test_accuracy: float,
                 test_loss: float, test_images: int) -> dict[str, Any]:
        from effsearch.engine.latency import measure_latency

        cost, last, d = count(self.spec), history[-1], self.data
        latency = measure_latency(self.spec, threads=self.threads, min_run_time=0.2, max_run_time=2.0)
        return {
            "name": self.spec.name, "dataset": d.name, "test_accuracy": test_accuracy, "test_loss": test_loss,
            "test_images": test_images, "test_split": d.test_source,
            "val_accuracy": last["ema_val_accuracy"] if use_ema else last["val_accuracy"],
            "weights": "ema" if use_ema else "raw", "params": cost.params, "macs": cost.macs,
            "resolution": self.spec.resolution, "latency_ms": latency["latency_ms"], "latency": latency,
            "epochs": len(history), "steps": trainer.progress.steps,
            "train_seconds": round(sum(r["seconds"] for r in history), 2), "seed": self.seed,
            "device": str(self.device), "threads": self.identity["threads"], "kernels": self.kernels,
            "augment": self.identity["augment"], "source": self.source,
            "preprocess": {"resolution": self.spec.resolution, "scale": d.scale, "mean": list(d.mean), "std": list(d.std),
                           "classes": list(d.classes)},
        }


def train_model(spec: NetSpec, data: Any, config: TrainConfig | None = None, out: str | Path = "results/trained", *,
                seed: int = 0, on_epoch: OnEpoch | None = None, on_step: OnStep | None = None) -> dict[str, Any]:
    """Train ``spec`` on ``data`` into ``out`` (or resume, or find it finished); the final metrics.

    ``spec`` must have the data's classes and input channels (see :func:`effsearch.train.network_for`
    to fit or adapt one). Refused in one line before anything is written: an unwritable or foreign
    folder, a folder trained with other settings, a device the machine lacks.
    """
    return Training(spec, data, config, out, seed=seed).run(on_epoch=on_epoch, on_step=on_step)
