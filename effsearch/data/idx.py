"""MNIST and Fashion-MNIST from the IDX files, gzipped or not.

IDX header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian int32; images are magic 0x00000803 (N x rows x cols), labels 0x00000801.
PATH is a folder with ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]``
(the ``train-images.idx3-ubyte`` spelling of some mirrors is accepted too).
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from effsearch.data import RawData
from effsearch.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_NAMES = {
    "images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
}
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
LAYOUT = "a folder with train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz] (IDX format)"


def read_idx(path: Path, magic: int) -> np.ndarray:
    """The array stored in an IDX file (transparently gunzipped), checking magic number and size."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} cannot be read ({exc}); expected an IDX file, re-download it") from None
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != magic:
        found = raw[:4].hex() or "empty file"
        raise DataError(f"{path} is not an IDX file with magic 0x{magic:08x} (found {found}); expected {LAYOUT}")
    ndim = raw[3]
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    start, count = 4 + 4 * ndim, int(np.prod(dims))
    if len(raw) - start != count:
        raise DataError(f"{path} is truncated or corrupt: header says {dims} = {count} bytes, file has {len(raw) - start}")
    return np.frombuffer(raw, dtype=np.uint8, offset=start).reshape(dims)


def _find(folder: Path, kind: str, name: str) -> Path:
    for base in _NAMES[kind]:
        for candidate in (folder / base, folder / f"{base}.gz", folder / "raw" / base, folder / "raw" / f"{base}.gz"):
            if candidate.is_file():
                return candidate
    if not folder.exists():
        raise DataError(f"{name}: {folder} does not exist; expected {LAYOUT}")
    raise DataError(f"{name}: {folder} has no {_NAMES[kind][0]}[.gz]; expected {LAYOUT}")


def load_idx(name: str, path: str | None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    from effsearch.data.download import ensure_standard

    folder = Path(path).expanduser() if path else ensure_standard(name, cache_dir=cache_dir, download=download)
    images = read_idx(_find(folder, "images", name), IMAGES_MAGIC)
    labels = read_idx(_find(folder, "labels", name), LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name}: {folder} holds images {images.shape} and labels {labels.shape}; expected N x H x W and N")
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(i) for i in range(10))
    if labels.max() >= len(classes):
        raise DataError(f"{name}: {folder} has label {labels.max()}, expected 0..{len(classes) - 1}")
    return RawData(
        x=torch.from_numpy(images.copy()).unsqueeze(1), y=torch.from_numpy(labels.astype(np.int64)),
        classes=classes, augment="none", source=str(folder),
    )


def load_mnist(path: str | None = None, **kwargs: object) -> RawData:
    return load_idx("mnist", path, **kwargs)  # type: ignore[arg-type]


def load_fashion_mnist(path: str | None = None, **kwargs: object) -> RawData:
    return load_idx("fashion-mnist", path, **kwargs)  # type: ignore[arg-type]
