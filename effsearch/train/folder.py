"""A training's folder: what it holds and how it is read and written.

========================  ====================================================================
``train.json``            ``kind: train``, the settings that make its numbers (its identity), status
``spec.yaml``             the network as trained (classes, channels and resolution included)
``checkpoint.pt``         everything to resume, written atomically after every epoch
``history.csv``           one row per epoch: learning rate, training loss, validation top-1 (raw, EMA)
``metrics.json``          the finished model: test-split top-1, params, MACs, latency, which weights
``model.safetensors``     the finished weights (effsearch names; ``effsearch.load_trained`` reads them)
``export/``               deployment files: ``model.pt2`` (torch.export), ``model.onnx``, ``timm/``
========================  ====================================================================

Checkpoints load with ``torch.load(weights_only=True)``: data, never code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from effsearch.errors import EffsearchError
from effsearch.runtime.results import atomic_write_text

META, SPEC, CHECKPOINT, HISTORY, METRICS, WEIGHTS, EXPORT = (
    "train.json", "spec.yaml", "checkpoint.pt", "history.csv", "metrics.json", "model.safetensors", "export")
HISTORY_COLUMNS = ("epoch", "steps", "lr", "train_loss", "val_accuracy", "val_loss", "ema_val_accuracy", "ema_val_loss",
                   "seconds", "images_per_s")


class TrainError(EffsearchError):
    """A training cannot start, resume or finish (bad folder, checkpoint, data or spec)."""


def read_meta(folder: str | Path) -> dict[str, Any] | None:
    """``train.json`` of ``folder``; None when there is none; a one-line refusal when it is not ours."""
    path = Path(folder) / META
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise TrainError(f"{path} cannot be read ({exc}); it is not a training folder effsearch wrote") from None
    if not isinstance(meta, dict) or meta.get("kind") != "train":
        raise TrainError(f"{path} is not an effsearch training record (no kind: train); use another folder")
    return meta


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, foreign or not a checkpoint at all: one line, not the unpickler's traceback
        text = " ".join(str(exc).split())[:160]
        raise TrainError(f"{path} is not a readable checkpoint ({type(exc).__name__}: {text}); delete it to train "
                         "from the start") from None
    if not isinstance(state, dict) or "model" not in state or "identity" not in state:
        raise TrainError(f"{path} is not an effsearch training checkpoint; delete it to train from the start")
    return state


def write_history(folder: Path, rows: list[dict[str, Any]]) -> None:
    def cell(value: Any) -> str:
        return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)

    lines = [",".join(HISTORY_COLUMNS)] + [",".join(cell(r.get(c)) for c in HISTORY_COLUMNS) for r in rows]
    atomic_write_text(folder / HISTORY, "\n".join(lines) + "\n")
