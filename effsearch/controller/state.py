"""The controller's learning state, kept in the study's own storage (the single source of truth).

The state (policy weights, optimizer moments, reward baseline, update counter, seed and which
trials were learned from) is serialised with ``torch.save``, compressed, base64-encoded and written
as study *system attributes* through the public storage API, so it lives wherever the study lives:
an SQLite file, PostgreSQL, MySQL or a journal file. Two rules make that safe:

* **Chunks.** RDB storages keep an attribute in a TEXT column (64 KiB on MySQL), so the text is
  split into chunks of :data:`CHUNK_CHARS` characters, each its own attribute.
* **Two slots.** Version ``v`` is written to slot ``v % 2``: the chunks first, then a small header
  with the version, the chunk count and a SHA-256 of the text. A process killed mid-write leaves a
  slot whose checksum fails; :func:`load` then takes the other slot, one update older, which is
  intact. Old versions never accumulate in the database.

The encoding is a JSON header plus raw tensor bytes, never pickle: a shared database must not be
able to run code in the process that reads it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
from typing import Any

import torch

KEY = "effsearch:mnas"
FORMAT = 1
CHUNK_CHARS = 60_000
"""Under MySQL's 65,535-byte TEXT limit once Optuna has JSON-quoted the string."""

_DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}
_logger = logging.getLogger(__name__)


def _flatten(obj: Any, tensors: list[torch.Tensor]) -> Any:
    """A JSON tree with tensors replaced by references into ``tensors`` (non-string keys and tuples tagged)."""
    if isinstance(obj, torch.Tensor):
        tensors.append(obj.detach().cpu().contiguous())
        return {"__tensor__": len(tensors) - 1}
    if isinstance(obj, dict):
        return {"__items__": [[_flatten(k, tensors), _flatten(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"controller state cannot hold a {type(obj).__name__}")


def _unflatten(obj: Any, tensors: list[torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        return {_unflatten(k, tensors): _unflatten(v, tensors) for k, v in obj["__items__"]}
    return obj


def encode(payload: dict[str, Any]) -> str:
    """``payload`` (plain data and tensors) as ASCII: a JSON header, then the raw tensor bytes.

    No pickle: whoever can write to a shared study database must not be able to run code here.
    """
    tensors: list[torch.Tensor] = []
    tree = _flatten(payload, tensors)
    specs = [[str(t.dtype).removeprefix("torch."), list(t.shape)] for t in tensors]
    header = json.dumps({"tree": tree, "tensors": specs}).encode()
    blob = b"".join(t.numpy().tobytes() for t in tensors)
    raw = len(header).to_bytes(8, "little") + header + blob
    return base64.b64encode(raw).decode("ascii")


def decode(text: str) -> dict[str, Any]:
    raw = base64.b64decode(text.encode("ascii"))
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    tensors, offset = [], 8 + size
    for dtype, shape in header["tensors"]:
        if dtype not in _DTYPES:
            raise ValueError(f"unexpected tensor type {dtype!r}")
        kind = _DTYPES[dtype]
        numel = math.prod(shape)
        nbytes = numel * torch.tensor([], dtype=kind).element_size()
        flat = torch.frombuffer(bytearray(raw[offset : offset + nbytes]), dtype=kind) if nbytes else torch.empty(0, dtype=kind)
        tensors.append(flat.reshape(shape))
        offset += nbytes
    return _unflatten(header["tree"], tensors)


def _slot_key(slot: int) -> str:
    return f"{KEY}:{slot}"


def save(storage: Any, study_id: int, payload: dict[str, Any], version: int, chunk_chars: int | None = None) -> int:
    """Write ``payload`` as ``version``; returns the number of chunks written."""
    text = encode(payload)
    chunk_chars = chunk_chars or CHUNK_CHARS
    slot = version % 2
    chunks = [text[i : i + chunk_chars] for i in range(0, len(text), chunk_chars)] or [""]
    for i, chunk in enumerate(chunks):
        storage.set_study_system_attr(study_id, f"{_slot_key(slot)}:{i}", chunk)
    header = {"format": FORMAT, "version": version, "chunks": len(chunks),
              "sha256": hashlib.sha256(text.encode("ascii")).hexdigest()}
    # The header goes last: until it is written, readers still trust the slot's previous content.
    storage.set_study_system_attr(study_id, _slot_key(slot), header)
    return len(chunks)


def _read_slot(attrs: dict[str, Any], slot: int) -> tuple[int, dict[str, Any]] | None:
    header = attrs.get(_slot_key(slot))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        return None
    parts = [attrs.get(f"{_slot_key(slot)}:{i}") for i in range(int(header.get("chunks", 0)))]
    if any(not isinstance(part, str) for part in parts):
        return None
    text = "".join(parts)
    if hashlib.sha256(text.encode("ascii")).hexdigest() != header.get("sha256"):
        return None
    try:
        return int(header["version"]), decode(text)
    except Exception as exc:  # a checksummed blob that still fails to load: report, fall back
        _logger.warning("controller state slot %d does not load (%s); trying the other slot", slot, exc)
        return None


def load(storage: Any, study_id: int) -> dict[str, Any] | None:
    """The newest intact state saved in the study, or ``None`` when there is none."""
    attrs = storage.get_study_system_attrs(study_id)
    found = [entry for entry in (_read_slot(attrs, slot) for slot in (0, 1)) if entry is not None]
    if not found:
        if _slot_key(0) in attrs or _slot_key(1) in attrs:
            _logger.warning("the study holds controller state that is damaged in both slots; starting a fresh policy")
        return None
    return max(found, key=lambda entry: entry[0])[1]
