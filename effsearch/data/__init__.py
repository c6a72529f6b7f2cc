"""Data sets for proxy evaluation, held in memory as compact tensors.

``load_dataset("digits")`` (the default) is scikit-learn's bundled 8x8 handwritten digits: real data
that installs with the dependencies and works offline. Other sets are named ``NAME:PATH``:

=====================  =====================================================================
``cifar10[:PATH]``     CIFAR-10 python batches (``data_batch_1`` .. ``data_batch_5``)
``cifar100[:PATH]``    CIFAR-100 python batches (``train``, ``fine_labels``)
``mnist[:PATH]``       MNIST IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``)
``fashion-mnist[:PATH]``  Fashion-MNIST, same IDX layout
``folder:PATH``        one sub-folder of images per class, read with Pillow
``npz:PATH``           NumPy arrays ``x_train``/``y_train`` (optionally ``x_val``/``y_val``)
=====================  =====================================================================

Without a PATH the standard sets are looked up in the cache folder and downloaded there when
online (checksum-verified); see :mod:`effsearch.data.download`. Images are stored as uint8 N,C,H,W
where possible and normalised per batch on the fly; the validation split is a seeded, stratified
hold-out from the training data (the official test split is never read).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from effsearch.data.split import channel_stats, stratified_split, stratified_subset
from effsearch.errors import DataError

AUGMENTS = ("none", "flip", "crop", "crop-flip")
DEFAULT_DATASET = "digits"
DEFAULT_VAL_FRACTION = 0.2


@dataclass(frozen=True)
class RawData:
    """What a format loader returns: the training images and labels, before any split."""

    x: torch.Tensor  # uint8 (or float32) N,C,H,W
    y: torch.Tensor  # int64 class indices
    classes: tuple[str, ...]
    augment: str = "none"
    source: str = ""
    val: tuple[torch.Tensor, torch.Tensor] | None = None  # an explicit validation split, if the file has one
    proxy_resolution: int | None = None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/validation split in memory. ``x`` tensors are N,C,H,W (uint8 unless the source was float)."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: str = "none"
    classes: tuple[str, ...] = ()
    source: str = ""
    proxy_resolution: int | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    @property
    def scale(self) -> float:
        """Factor that maps stored values to [0, 1] before normalisation (1/255 for uint8)."""
        return 1.0 / 255.0 if self.train_x.dtype == torch.uint8 else 1.0

    @property
    def default_resolution(self) -> int:
        """The proxy resolution used when a config names none (see docs/proxy.md for the choice)."""
        return self.proxy_resolution or self.image_size

    def __getstate__(self) -> dict[str, Any]:
        # Resized copies are a per-process cache: never ship them to Ray workers or into pickles.
        return {**self.__dict__, "_cache": {}}

    def resized(self, size: int) -> Dataset:
        """The same split at ``size`` x ``size`` pixels (bilinear, antialiased); cached per size."""
        if size == self.image_size:
            return self
        if size not in self._cache:
            self._cache[size] = dataclasses.replace(
                self, train_x=resize_images(self.train_x, size), val_x=resize_images(self.val_x, size), _cache={},
            )
        return self._cache[size]

    def subset(self, *, train: int | None = None, val: int | None = None, seed: int = 0) -> Dataset:
        """A stratified subset with at most ``train`` / ``val`` examples (for cheaper proxies)."""
        ti = stratified_subset(self.train_y, train, seed=seed) if train else slice(None)
        vi = stratified_subset(self.val_y, val, seed=seed) if val else slice(None)
        return dataclasses.replace(
            self, train_x=self.train_x[ti], train_y=self.train_y[ti], val_x=self.val_x[vi], val_y=self.val_y[vi], _cache={},
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for run.json and the CLI)."""
        return {
            "name": self.name, "source": self.source, "train": len(self.train_y), "val": len(self.val_y),
            "num_classes": self.num_classes, "in_chans": self.in_chans, "image_size": self.image_size,
            "default_resolution": self.default_resolution, "augment": self.augment, "dtype": str(self.train_x.dtype),
        }


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize N,C,H,W images to ``size`` x ``size``, keeping the dtype (uint8 is rounded back)."""
    out = []
    for chunk in torch.split(x, 4096):
        img = F.interpolate(chunk.float(), size=(size, size), mode="bilinear", align_corners=False,
                            antialias=size < chunk.shape[-1])
        out.append(img.round().clamp(0, 255).to(torch.uint8) if x.dtype == torch.uint8 else img)
    return torch.cat(out) if out else x.new_empty((0, x.shape[1], size, size))


def _check_raw(raw: RawData, source: str) -> int:
    x, y = raw.x, raw.y
    if x.ndim != 4 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise DataError(f"{source}: expected N images (N,C,H,W) and N labels, got images {tuple(x.shape)} and labels {tuple(y.shape)}")
    if x.shape[-1] != x.shape[-2]:
        raise DataError(f"{source}: images are {x.shape[-2]}x{x.shape[-1]}; effsearch expects square images")
    num_classes = len(raw.classes) or int(y.max()) + 1
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise DataError(f"{source}: labels must be class indices 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    return num_classes


def make_dataset(name: str, raw: RawData, *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION) -> Dataset:
    """Split ``raw`` (unless it carries its own validation set) and compute training-set statistics."""
    source = raw.source or name
    num_classes = _check_raw(raw, source)
    if raw.val is not None:
        train_x, train_y = raw.x, raw.y
        val_x, val_y = raw.val
    else:
        ti, vi = stratified_split(raw.y, val_fraction, seed=seed)
        train_x, train_y, val_x, val_y = raw.x[ti], raw.y[ti], raw.x[vi], raw.y[vi]
    if len(val_y) == 0:
        raise DataError(f"{source}: too few images for a validation split ({len(raw.y)}); add images or raise val_fraction")
    scale = 1.0 / 255.0 if train_x.dtype == torch.uint8 else 1.0
    mean, std = channel_stats(train_x, scale)  # statistics of the training part only
    classes = raw.classes or tuple(str(i) for i in range(num_classes))
    return Dataset(
        name=name, train_x=train_x.contiguous(), train_y=train_y.contiguous(), val_x=val_x.contiguous(),
        val_y=val_y.contiguous(), num_classes=num_classes, mean=mean, std=std, augment=raw.augment,
        classes=classes, source=source, proxy_resolution=raw.proxy_resolution,
    )


def parse_dataset_arg(arg: str | None) -> tuple[str, str | None]:
    """``"cifar10:/data/c10"`` -> ``("cifar10", "/data/c10")``; a bare existing path is recognised too."""
    from effsearch.data.formats import ALIASES, FORMATS

    text = (arg or DEFAULT_DATASET).strip()
    name, sep, path = text.partition(":")
    key = name.lower().replace("_", "-")
    key = ALIASES.get(key, key)
    if key in FORMATS:
        return key, (path.strip() or None) if sep else None
    guessed = _guess_format(Path(text))
    if guessed:
        return guessed, text
    names = ", ".join(sorted(FORMATS))
    raise DataError(f"unknown data set {text!r}; use one of {names}, optionally as NAME:PATH (e.g. cifar10:/data/cifar10)")


def _guess_format(path: Path) -> str | None:
    if path.suffix == ".npz" and path.is_file():
        return "npz"
    if path.is_dir():
        return "folder"
    return None


def load_dataset(
    arg: str | None = None, *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
    cache_dir: str | Path | None = None, download: bool = True,
) -> Dataset:
    """Load a data set named ``NAME[:PATH]`` (default ``digits``) with a seeded stratified validation split."""
    from effsearch.data.formats import FORMATS

    name, path = parse_dataset_arg(arg)
    raw = FORMATS[name](path, cache_dir=cache_dir, download=download)
    return make_dataset(name, raw, seed=seed, val_fraction=val_fraction)


__all__ = ["AUGMENTS", "DEFAULT_DATASET", "Dataset", "RawData", "load_dataset", "make_dataset", "parse_dataset_arg", "resize_images"]
