"""NumPy ``.npz`` arrays: images and integer labels, with optional validation and test splits.

Key pairs tried in order: ``x_train``/``y_train`` (Keras style), ``train_x``/``train_y``, ``x``/``y``,
``images``/``labels``; ``x_val``/``y_val`` (or ``val_x``/``val_y``) are used as the validation split
and ``x_test``/``y_test`` (or ``test_x``/``test_y``) as the test split when present (without a test
pair a test split is held out of the training arrays); both must match the training images. Images
may be N,H,W (grayscale), N,H,W,C or N,C,H,W with C in 1, 3 or 4. uint8 stays uint8; other dtypes
are stored as float32 and normalised with their own statistics.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from effsearch.data.raw import RawData
from effsearch.errors import DataError

TRAIN_KEYS = (("x_train", "y_train"), ("train_x", "train_y"), ("x", "y"), ("images", "labels"))
VAL_KEYS = (("x_val", "y_val"), ("val_x", "val_y"))
TEST_KEYS = (("x_test", "y_test"), ("test_x", "test_y"))
LAYOUT = "an .npz with x_train and y_train (or x/y, images/labels), images N,H,W[,C] or N,C,H,W, integer labels"


def _images(arr: np.ndarray, source: str) -> torch.Tensor:
    if arr.ndim == 3:
        arr = arr[:, None]
    elif arr.ndim == 4 and arr.shape[-1] in (1, 3, 4) and arr.shape[1] not in (1, 3, 4):
        arr = arr.transpose(0, 3, 1, 2)  # N,H,W,C -> N,C,H,W
    elif not (arr.ndim == 4 and arr.shape[1] in (1, 3, 4)):
        raise DataError(f"{source}: images have shape {arr.shape}; expected {LAYOUT}")
    h, w = arr.shape[-2:]
    if h != w:  # centre-crop to a square; the networks assume square inputs
        side = min(h, w)
        arr = arr[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
    dtype = np.uint8 if arr.dtype == np.uint8 else np.float32
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype))


def _labels(arr: np.ndarray, source: str) -> torch.Tensor:
    arr = np.asarray(arr).reshape(-1) if np.asarray(arr).ndim == 2 and np.asarray(arr).shape[1] == 1 else np.asarray(arr)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"{source}: labels have shape {arr.shape} and dtype {arr.dtype}; expected N integer class indices")
    return torch.from_numpy(arr.astype(np.int64))


def _pair(npz: np.lib.npyio.NpzFile, options: tuple[tuple[str, str], ...]) -> tuple[np.ndarray, np.ndarray] | None:
    for xk, yk in options:
        if xk in npz.files and yk in npz.files:
            return npz[xk], npz[yk]
    return None


def load(path: str | None = None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    del cache_dir, download
    if not path:
        raise DataError(f"npz needs a path: name the data set npz:FILE, where FILE is {LAYOUT}")
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"npz: {file} does not exist; expected {LAYOUT}")
    try:
        with np.load(file, allow_pickle=False) as npz:
            train, val, test = _pair(npz, TRAIN_KEYS), _pair(npz, VAL_KEYS), _pair(npz, TEST_KEYS)
            test_keys = next((f"{xk}/{yk}" for xk, yk in TEST_KEYS if xk in npz.files and yk in npz.files), "")
            keys = ", ".join(npz.files) or "none"
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"npz: {file} is not a readable .npz ({exc}); expected {LAYOUT}") from None
    if train is None:
        raise DataError(f"npz: {file} has keys {keys}; expected {LAYOUT}")
    src = str(file)
    x, y = _images(train[0], src), _labels(train[1], src)
    val_pair = _checked(val, x, file, "validation")
    test_pair = _checked(test, x, file, "test")
    return RawData(
        x=x, y=y, classes=(), augment="none", source=src, val=val_pair, test=test_pair,
        test_source=test_keys or f"no x_test/y_test in {file}",
    )


def _checked(pair: tuple[np.ndarray, np.ndarray] | None, x: torch.Tensor, file: Path, what: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """A validation or test pair as tensors, with images shaped like the training images and one label each."""
    if pair is None:
        return None
    src = str(file)
    images, labels = _images(pair[0], src), _labels(pair[1], src)
    if images.shape[1:] != x.shape[1:] or images.dtype != x.dtype:
        raise DataError(f"npz: {file}: {what} images {tuple(images.shape)} do not match training images {tuple(x.shape)}")
    if len(images) != len(labels):
        raise DataError(f"npz: {file}: {len(images)} {what} images but {len(labels)} {what} labels; expected one label per image")
    return images, labels
