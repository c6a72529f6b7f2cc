"""MNIST and Fashion-MNIST from the IDX files, gzipped or not.

IDX header: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions, then each
dimension as a big-endian int32; images are magic 0x00000803 (N x rows x cols), labels 0x00000801.
PATH is a folder with ``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]``
(the ``train-images.idx3-ubyte`` spelling of some mirrors is accepted too, as is a ``raw/``
sub-folder). The official test split, ``t10k-images-idx3-ubyte[.gz]`` and
``t10k-labels-idx1-ubyte[.gz]`` in the same places, is read when both files are there and kept
apart as the test split; without them a test split is held out of the training files instead.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import torch

from effsearch.data.raw import RawData
from effsearch.errors import DataError

IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
_NAMES = {
    "images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
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


def _lookup(folder: Path, kind: str) -> Path | None:
    for base in _NAMES[kind]:
        for candidate in (folder / base, folder / f"{base}.gz", folder / "raw" / base, folder / "raw" / f"{base}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _find(folder: Path, kind: str, name: str) -> Path:
    found = _lookup(folder, kind)
    if found is not None:
        return found
    if not folder.exists():
        raise DataError(f"{name}: {folder} does not exist; expected {LAYOUT}")
    raise DataError(f"{name}: {folder} has no {_NAMES[kind][0]}[.gz]; expected {LAYOUT}")


def _read_pair(name: str, folder: Path, images_path: Path, labels_path: Path, classes: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name}: {images_path.name} and {labels_path.name} in {folder} hold images {images.shape} "
                        f"and labels {labels.shape}; expected N x H x W and N")
    if len(labels) and labels.max() >= len(classes):
        raise DataError(f"{name}: {labels_path} has label {labels.max()}, expected 0..{len(classes) - 1}")
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def _test_pair(name: str, folder: Path, classes: tuple[str, ...]) -> tuple[tuple[torch.Tensor, torch.Tensor] | None, str]:
    """The official t10k split and its description, or ``None`` and why there is none."""
    images, labels = _lookup(folder, "test images"), _lookup(folder, "test labels")
    if images is None and labels is None:
        return None, f"no t10k files in {folder}"
    if images is None or labels is None:
        have, lacking = (images or labels), _NAMES["test labels" if labels is None else "test images"][0]
        raise DataError(f"{name}: {folder} has {have.name} but no {lacking}[.gz]; add it, or remove both t10k files")
    return _read_pair(name, folder, images, labels, classes), "official test split (t10k files)"


def load_idx(name: str, path: str | None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    from effsearch.data.download import ensure_standard

    folder = Path(path).expanduser() if path else ensure_standard(name, cache_dir=cache_dir, download=download)
    classes = FASHION_CLASSES if name == "fashion-mnist" else tuple(str(i) for i in range(10))
    x, y = _read_pair(name, folder, _find(folder, "images", name), _find(folder, "labels", name), classes)
    test, test_source = _test_pair(name, folder, classes)
    return RawData(x=x, y=y, classes=classes, augment="none", source=str(folder), test=test, test_source=test_source)


def load_mnist(path: str | None = None, **kwargs: object) -> RawData:
    return load_idx("mnist", path, **kwargs)  # type: ignore[arg-type]


def load_fashion_mnist(path: str | None = None, **kwargs: object) -> RawData:
    return load_idx("fashion-mnist", path, **kwargs)  # type: ignore[arg-type]
