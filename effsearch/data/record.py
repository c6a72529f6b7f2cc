"""How a run records the data set it trained on, so the next stage can load the same data again.

``run.json`` keeps ``data: {arg, val_fraction, name, train, val, ...}``: ``arg`` is what
:func:`effsearch.data.load_dataset` takes (``fashion-mnist``, ``folder:/data/pets``), ``val_fraction``
the validation share, and the sizes let a later stage check it split the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from effsearch.errors import DataError

# Formats that find their own files (bundled, Debian's package, the download cache) load by name alone.
_SELF_LOCATING = ("digits", "cifar10", "cifar100", "mnist", "fashion-mnist")


def data_record(data: Any) -> dict[str, Any]:
    """``run.json``'s ``data`` entry for a loaded :class:`~effsearch.data.Dataset` (or any object with a name)."""
    name = getattr(data, "name", None)
    if name is None:
        return {}
    source = getattr(data, "source", None)
    arg = f"{name}:{source}" if source and Path(str(source)).exists() else str(name)
    out: dict[str, Any] = {"arg": arg, "val_fraction": getattr(data, "val_fraction", None)}
    describe = getattr(data, "describe", None)
    if callable(describe):
        out.update({k: v for k, v in describe().items() if k in ("name", "train", "val", "test", "num_classes", "image_size")})
    return out


def reload_arg(record: dict[str, Any], where: str) -> str:
    """The ``load_dataset`` argument of a recorded data set, or a one-line error when it is gone."""
    arg = str(record.get("arg") or record.get("name") or "")
    if not arg:
        raise DataError(f"{where} does not record its data set; name one")
    name, sep, path = arg.partition(":")
    if sep and not Path(path).exists():
        if name in _SELF_LOCATING:
            return name  # moved to another machine: the set finds its own files there
        raise DataError(f"{where} trained on {arg}, which no longer exists; name the data set again")
    return arg
