"""A supernet's results folder: ``supernet.json`` (what it was trained on and how), ``checkpoint.pt``
(everything to resume, written atomically every epoch) and ``supernet.pt`` (the finished weights).

Files are loaded with ``torch.load(weights_only=True)``: a checkpoint is data, never code. What a
supernet was trained on (space, data, resolution, recipe) is its *identity*; resuming, extending or
using it with anything else is refused with one line naming the first difference.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from effsearch.runtime.files import atomic_torch_save, atomic_write_json
from effsearch.supernet.layout import SupernetError

META = "supernet.json"
CHECKPOINT = "checkpoint.pt"
WEIGHTS = "supernet.pt"


def data_identity(data: Any, resolution: int) -> dict[str, Any]:
    """What about the data changes a supernet's weights (the split and the proxy resolution)."""
    d = data.describe()
    return {k: d[k] for k in ("name", "train", "val", "num_classes", "in_chans", "image_size")} | {"resolution": resolution}


def read_meta(folder: Path) -> dict[str, Any] | None:
    path = Path(folder) / META
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SupernetError(f"{path} cannot be read ({exc}); it is not a supernet folder effsearch wrote") from None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_json(path, payload)


def save_tensors(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save``, atomically: a kill never leaves half a file."""
    atomic_torch_save(path, payload)


def load_tensors(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file: say which, do not show the unpickler's traceback
        text = " ".join(str(exc).split())[:200]
        raise SupernetError(f"{path} is not a readable supernet file ({type(exc).__name__}: {text}); "
                            "delete it to start that supernet again") from None


def _difference(have: dict[str, Any], want: dict[str, Any], prefix: str = "") -> tuple[str, Any, Any] | None:
    """The first setting of ``want`` that ``have`` differs in, by its dotted name (``data.resolution``)."""
    for key, value in want.items():
        other = have.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            found = _difference(other, value, f"{prefix}{key}.")
            if found is not None:
                return found
        elif other != value:
            return f"{prefix}{key}", other, value
    return None


def same_identity(have: dict[str, Any], want: dict[str, Any], *, folder: Path, what: str) -> None:
    """Refuse, in one line, a supernet whose identity differs from ``want``; name the first difference."""
    def shown(value: Any) -> str:
        return repr(int(value)) if isinstance(value, float) and value.is_integer() else repr(value)

    found = _difference(have, want)
    if found is not None:
        key, old, new = found
        raise SupernetError(f"the supernet in {folder} was trained with {key} {shown(old)}, {what} uses {shown(new)}; "
                            "use another folder (or the same settings)")


def finished_weights(folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The metadata and weights of a finished supernet in ``folder``, or a one-line refusal."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta is None:
        raise SupernetError(f"{folder} holds no supernet ({META} is missing); train one there first")
    done, planned = meta.get("epochs_done", 0), meta.get("identity", {}).get("epochs")
    if not (folder / WEIGHTS).is_file():
        raise SupernetError(f"the supernet in {folder} is not finished ({done} of {planned} epochs); "
                            "run its training again to finish it")
    return meta, load_tensors(folder / WEIGHTS)
