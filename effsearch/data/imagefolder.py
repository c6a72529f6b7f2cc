"""An image folder: one sub-folder per class, each holding images that Pillow can read.

``PATH/cat/001.png``, ``PATH/dog/xyz.jpg``, ... (or the same under ``PATH/train/``). Images are
converted to RGB (or kept grayscale when every image is), centre-cropped to a square and resized to
``IMAGE_SIZE`` unless they already share one square size of at most 64 px. Natural images get
crop-and-flip augmentation.

When PATH has both ``train/`` and ``test/`` sub-folders, ``PATH/test/<class>/...`` is the test split:
its class folders must have the same names as ``train/``'s, and its images are converted to the
training images' mode and size. Without it a test split is held out of the training images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from effsearch.data.raw import RawData
from effsearch.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGE_SIZE = 32
MAX_NATIVE = 64
LAYOUT = "one sub-folder per class with .png/.jpg images (PATH/<class>/<image>)"


def _subfolders(base: Path) -> list[Path]:
    return sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"folder: {root} does not exist or is not a folder; expected {LAYOUT}")
    base = root / "train" if (root / "train").is_dir() else root
    classes = _subfolders(base)
    if len(classes) < 2:
        raise DataError(f"folder: {base} has {len(classes)} class sub-folder(s); expected {LAYOUT} with at least 2 classes")
    return classes


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DataError(f"folder: {path} is not a readable image ({exc}); remove or replace it") from None


def _target_size(images: list) -> int:
    sizes = {img.size for img in images}
    if len(sizes) == 1:
        w, h = next(iter(sizes))
        if w == h and w <= MAX_NATIVE:
            return w
    return IMAGE_SIZE


def _to_array(img, mode: str, size: int) -> np.ndarray:
    from PIL import Image

    img = img.convert(mode)
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _read_classes(folders: list[Path]) -> tuple[list, list[int]]:
    images, labels = [], []
    for index, folder in enumerate(folders):
        files = _files(folder)
        if not files:
            raise DataError(f"folder: class folder {folder} has no images ({', '.join(EXTENSIONS)}); expected {LAYOUT}")
        images += [_open(f) for f in files]
        labels += [index] * len(files)
    return images, labels


def _test_folders(root: Path, classes: list[str]) -> list[Path] | None:
    """``PATH/test``'s class folders in the training classes' order, or ``None`` without train/ and test/."""
    test = root / "test"
    if not ((root / "train").is_dir() and test.is_dir()):
        return None
    folders = {p.name: p for p in _subfolders(test)}
    missing, extra = sorted(set(classes) - set(folders)), sorted(set(folders) - set(classes))
    if missing or extra:
        diff = "; ".join(part for part in (missing and f"missing in test/: {', '.join(missing)}",
                                           extra and f"only in test/: {', '.join(extra)}") if part)
        raise DataError(f"folder: {test} must have the same class folders as {root / 'train'} ({diff})")
    return [folders[c] for c in classes]


def load(path: str | None = None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    del cache_dir, download
    if not path:
        raise DataError(f"folder needs a path: name the data set folder:PATH, where PATH has {LAYOUT}")
    root = Path(path).expanduser()
    folders = _class_folders(root)
    classes = [f.name for f in folders]
    test_folders = _test_folders(root, classes)  # checked before any image is read
    images, labels = _read_classes(folders)
    gray = all(img.mode in ("1", "L", "LA", "I", "I;16", "F") for img in images)
    mode, size = "L" if gray else "RGB", _target_size(images)
    x = np.stack([_to_array(img, mode, size) for img in images])
    test, test_source = None, f"no test/ folder next to train/ in {root}" if (root / "train").is_dir() else ""
    if test_folders is not None:
        test_images, test_labels = _read_classes(test_folders)
        test_x = np.stack([_to_array(img, mode, size) for img in test_images])
        test = (torch.from_numpy(test_x), torch.tensor(test_labels, dtype=torch.long))
        test_source = str(root / "test")
    return RawData(
        x=torch.from_numpy(x), y=torch.tensor(labels, dtype=torch.long), classes=tuple(classes),
        augment="crop-flip", source=str(root), test=test, test_source=test_source,
    )
