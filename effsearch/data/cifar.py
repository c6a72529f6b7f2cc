"""CIFAR-10 and CIFAR-100 from the official python pickled batches.

CIFAR-10: ``data_batch_1`` .. ``data_batch_5`` (keys ``data``: N x 3072 uint8, ``labels``) and
``batches.meta`` (``label_names``). CIFAR-100: ``train`` (``data``, ``fine_labels``) and ``meta``
(``fine_label_names``). PATH may be the extracted ``cifar-10-batches-py`` / ``cifar-100-python``
folder or its parent. The official test batch (``test_batch`` / ``test``, same format) is read
when it is there and kept apart as the test split; without it a test split is held out of the
training batches instead.

The pickles are read with an unpickler that accepts nothing but NumPy arrays and plain containers,
so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from effsearch.data.raw import RawData
from effsearch.errors import DataError

_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), "labels", "batches.meta", "label_names", 10),
    "cifar100": ("cifar-100-python", ("train",), "fine_labels", "meta", "fine_label_names", 100),
}
TEST_FILES = {"cifar10": "test_batch", "cifar100": "test"}
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"), ("builtins", "bytearray"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name}")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            data = _ArrayUnpickler(f, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise DataError(f"{path} is not a readable CIFAR python batch ({exc}); re-extract the official archive") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} is not a CIFAR python batch (expected a dict, got {type(data).__name__})")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def layout(name: str) -> str:
    folder, files, label_key, *_ = _LAYOUT[name]
    return f"a folder {folder}/ with {', '.join(files[:2])}{' ...' if len(files) > 2 else ''} (python pickles with 'data' and '{label_key}')"


def _find_folder(root: Path, name: str) -> Path:
    folder, files, *_ = _LAYOUT[name]
    for candidate in (root, root / folder):
        if all((candidate / f).is_file() for f in files):
            return candidate
    if not root.exists():
        raise DataError(f"{name}: {root} does not exist; expected {layout(name)}")
    raise DataError(f"{name}: {root} does not hold the training batches; expected {layout(name)}")


def _read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(path)
    if "data" not in batch or label_key not in batch:
        raise DataError(f"{path} lacks the keys 'data' and '{label_key}' of a CIFAR python batch; re-extract the official archive")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch[label_key], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: 'data' is {data.shape} with {len(labels)} labels; expected N x 3072 uint8 (32x32 RGB) and N labels")
    return data, labels


def _class_names(folder: Path, meta_file: str, meta_key: str, count: int) -> tuple[str, ...]:
    path = folder / meta_file
    if path.is_file():
        names = _unpickle(path).get(meta_key)
        if isinstance(names, list) and len(names) == count:
            return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return tuple(str(i) for i in range(count))


def load_cifar(name: str, path: str | None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    from effsearch.data.download import ensure_standard

    root = Path(path).expanduser() if path else ensure_standard(name, cache_dir=cache_dir, download=download)
    folder = _find_folder(root, name)
    _, files, label_key, meta_file, meta_key, count = _LAYOUT[name]
    x, y = _tensors(name, folder, [_read_batch(folder / f, label_key) for f in files], count)
    test_file = folder / TEST_FILES[name]
    test, test_source = None, f"no {test_file.name} in {folder}"
    if test_file.is_file():
        test = _tensors(name, test_file, [_read_batch(test_file, label_key)], count)
        test_source = f"official test split ({test_file.name})"
    return RawData(
        x=x, y=y, classes=_class_names(folder, meta_file, meta_key, count), augment="crop-flip", source=str(folder),
        test=test, test_source=test_source,
    )


def _tensors(name: str, where: Path, parts: list[tuple[np.ndarray, np.ndarray]], count: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)  # rows are R, G, B planes
    labels = np.concatenate([p[1] for p in parts])
    if len(labels) and (labels.min() < 0 or labels.max() >= count):
        raise DataError(f"{where}: labels range {labels.min()}..{labels.max()}, expected 0..{count - 1} for {name}")
    return torch.from_numpy(np.ascontiguousarray(data)), torch.from_numpy(labels)


def load_cifar10(path: str | None = None, **kwargs: object) -> RawData:
    return load_cifar("cifar10", path, **kwargs)  # type: ignore[arg-type]


def load_cifar100(path: str | None = None, **kwargs: object) -> RawData:
    return load_cifar("cifar100", path, **kwargs)  # type: ignore[arg-type]
