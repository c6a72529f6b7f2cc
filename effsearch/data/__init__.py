"""Data sets for proxy evaluation, held in memory as compact tensors.

``load_dataset("digits")`` (the default) is scikit-learn's bundled 8x8 handwritten digits: real data
that installs with the dependencies and works offline. Other sets are named ``NAME:PATH``:

=====================  =====================================================================
``cifar10[:PATH]``     CIFAR-10 python batches (``data_batch_1`` .. ``data_batch_5``; test: ``test_batch``)
``cifar100[:PATH]``    CIFAR-100 python batches (``train``, ``fine_labels``; test: ``test``)
``mnist[:PATH]``       MNIST IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``;
                       test: ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``)
``fashion-mnist[:PATH]``  Fashion-MNIST, same IDX layout
``folder:PATH``        one sub-folder of images per class, read with Pillow (test: ``PATH/test/<class>``)
``npz:PATH``           NumPy arrays ``x_train``/``y_train`` (optionally ``x_val``/``y_val``, ``x_test``/``y_test``)
=====================  =====================================================================

More names come from :func:`effsearch.data.formats.register_format` (a plugin's formats, say).
Without a PATH the standard sets are looked up in the cache folder and downloaded there when
online (checksum-verified); see :mod:`effsearch.data.download`. Images are stored as uint8 N,C,H,W
where possible and normalised per batch on the fly.

Every :class:`Dataset` has three disjoint parts. The *test* split is the official one where the
files have it, else a stratified ``TEST_FRACTION`` of the images held out with the fixed
``TEST_SEED`` (the same for every run seed); it is read but kept apart: no search ever sees it and
only ``effsearch train`` evaluates on it, once, at the end. The *validation* split is a seeded,
stratified hold-out from the rest (unless the file has its own), and the remainder is *train*.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from effsearch.data.raw import AUGMENTS, RawData
from effsearch.data.split import (
    TEST_FRACTION,
    TEST_SEED,
    carve_test,
    channel_stats,
    stratified_split,
    stratified_subset,
)
from effsearch.errors import DataError

DEFAULT_DATASET = "digits"
DEFAULT_VAL_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class Dataset:
    """Train, validation and test splits in memory. ``x`` tensors are N,C,H,W (uint8 unless the source was float).

    Searches use train and val only; the test split is for ``effsearch train``'s final report.
    """

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
    test_x: torch.Tensor | None = field(default=None, repr=False)
    test_y: torch.Tensor | None = field(default=None, repr=False)
    test_source: str = ""
    val_fraction: float | None = None  # the split's share (None: the files carried their own validation set)
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
        """The same train/val split at ``size`` x ``size`` pixels (bilinear, antialiased); cached per size.

        The test images are left as stored (searches never need them): see :meth:`test_at`.
        """
        if size == self.image_size:
            return self
        if size not in self._cache:
            self._cache[size] = dataclasses.replace(
                self, train_x=resize_images(self.train_x, size), val_x=resize_images(self.val_x, size), _cache={},
            )
        return self._cache[size]

    def on(self, device: Any) -> Dataset:
        """The train and validation splits resident on ``device`` (cached per device; itself on the CPU).

        On a GPU every batch is then gathered, augmented and normalised there: no host-to-device copy
        per step. The stored uint8 images take 1/4 of the float memory they become per batch.
        """

        device = torch.device(device)
        if device.type == "cpu":
            return self
        key = ("device", str(device))
        if key not in self._cache:
            self._cache[key] = dataclasses.replace(
                self, train_x=self.train_x.to(device), train_y=self.train_y.to(device), val_x=self.val_x.to(device),
                val_y=self.val_y.to(device), _cache={},
            )
        return self._cache[key]

    def test_at(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The test images at ``size`` x ``size`` pixels and their labels; resized copies are cached per size."""
        if self.test_x is None or self.test_y is None:
            raise DataError(f"{self.name}: this data set has no test split")
        if size == self.test_x.shape[-1]:
            return self.test_x, self.test_y
        key = ("test", size)
        if key not in self._cache:
            self._cache[key] = resize_images(self.test_x, size)
        return self._cache[key], self.test_y

    def subset(self, *, train: int | None = None, val: int | None = None, test: int | None = None, seed: int = 0) -> Dataset:
        """A stratified subset with at most ``train`` / ``val`` / ``test`` examples (for cheaper proxies)."""
        ti = stratified_subset(self.train_y, train, seed=seed) if train else slice(None)
        vi = stratified_subset(self.val_y, val, seed=seed) if val else slice(None)
        tests = {}
        if test and self.test_x is not None and self.test_y is not None:
            si = stratified_subset(self.test_y, test, seed=seed)
            tests = {"test_x": self.test_x[si], "test_y": self.test_y[si]}
        return dataclasses.replace(
            self, train_x=self.train_x[ti], train_y=self.train_y[ti], val_x=self.val_x[vi], val_y=self.val_y[vi],
            **tests, _cache={},
        )

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (for run.json and the CLI)."""
        return {
            "name": self.name, "source": self.source, "train": len(self.train_y), "val": len(self.val_y),
            "num_classes": self.num_classes, "in_chans": self.in_chans, "image_size": self.image_size,
            "default_resolution": self.default_resolution, "augment": self.augment, "dtype": str(self.train_x.dtype),
            "test": 0 if self.test_y is None else len(self.test_y), "test_source": self.test_source,
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


def _check_test(test: tuple[torch.Tensor, torch.Tensor], raw: RawData, source: str, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = test
    where = f"{source}: test split ({raw.test_source or 'official'})"
    if x.ndim != 4 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise DataError(f"{where}: expected N images (N,C,H,W) and N labels, got images {tuple(x.shape)} and labels {tuple(y.shape)}")
    if x.shape[1:] != raw.x.shape[1:] or x.dtype != raw.x.dtype:
        raise DataError(f"{where}: images {tuple(x.shape)} {x.dtype} do not match training images {tuple(raw.x.shape)} {raw.x.dtype}")
    if int(y.min()) < 0 or int(y.max()) >= num_classes:
        raise DataError(f"{where}: labels must be class indices 0..{num_classes - 1}, found {int(y.min())}..{int(y.max())}")
    return x, y.long()


def make_dataset(name: str, raw: RawData, *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION) -> Dataset:
    """Split ``raw`` into train, validation and test and compute training-set statistics.

    The test split is ``raw.test`` when the files have one; otherwise it is carved out first
    (:func:`~effsearch.data.split.carve_test`, independent of ``seed``), so the seeded train/validation
    split (unless ``raw`` carries its own validation set) never contains a test image.
    """
    source = raw.source or name
    num_classes = _check_raw(raw, source)
    if raw.test is not None:
        x, y = raw.x, raw.y
        test_x, test_y = _check_test(raw.test, raw, source, num_classes)
        test_source = raw.test_source or "official test split"
    else:
        rest, held = carve_test(raw.y)
        if len(held) == 0:
            raise DataError(f"{source}: too few images to hold out a test split ({len(raw.y)}); add images or a test split")
        x, y, test_x, test_y = raw.x[rest], raw.y[rest], raw.x[held], raw.y[held]
        why = raw.test_source or "the data set has no official test split"
        test_source = f"held out: {TEST_FRACTION:.0%} of the images, stratified, seed {TEST_SEED} ({why})"
    if raw.val is not None:
        train_x, train_y = x, y
        val_x, val_y = raw.val
    else:
        ti, vi = stratified_split(y, val_fraction, seed=seed)
        train_x, train_y, val_x, val_y = x[ti], y[ti], x[vi], y[vi]
    if len(val_y) == 0:
        raise DataError(f"{source}: too few images for a validation split ({len(raw.y)}); add images or raise val_fraction")
    scale = 1.0 / 255.0 if train_x.dtype == torch.uint8 else 1.0
    mean, std = channel_stats(train_x, scale)  # statistics of the training part only
    classes = raw.classes or tuple(str(i) for i in range(num_classes))
    return Dataset(
        name=name, train_x=train_x.contiguous(), train_y=train_y.contiguous(), val_x=val_x.contiguous(),
        val_y=val_y.contiguous(), num_classes=num_classes, mean=mean, std=std, augment=raw.augment,
        classes=classes, source=source, proxy_resolution=raw.proxy_resolution,
        test_x=test_x.contiguous(), test_y=test_y.contiguous(), test_source=test_source,
        val_fraction=None if raw.val is not None else val_fraction,
    )


def parse_dataset_arg(arg: str | None) -> tuple[str, str | None]:
    """``"cifar10:/data/c10"`` -> ``("cifar10", "/data/c10")``; a bare existing path is recognised too."""
    from effsearch.data.formats import FORMATS, find_format, guess_format

    text = (arg or DEFAULT_DATASET).strip()
    name, sep, path = text.partition(":")
    fmt = find_format(name)
    if fmt is not None:
        return fmt.name, (path.strip() or None) if sep else None
    guessed = guess_format(Path(text))
    if guessed:
        return guessed, text
    names = ", ".join(sorted(FORMATS.names()))
    raise DataError(f"unknown data set {text!r}; use one of {names}, optionally as NAME:PATH (e.g. cifar10:/data/cifar10)")


def load_dataset(
    arg: str | None = None, *, seed: int = 0, val_fraction: float = DEFAULT_VAL_FRACTION,
    cache_dir: str | Path | None = None, download: bool = True,
) -> Dataset:
    """Load a data set named ``NAME[:PATH]`` (default ``digits``): its test split and a seeded stratified validation split."""
    from effsearch.data.formats import FORMATS

    name, path = parse_dataset_arg(arg)
    raw = FORMATS.get(name).load(path, cache_dir=cache_dir, download=download)
    return make_dataset(name, raw, seed=seed, val_fraction=val_fraction)


__all__ = [
    "AUGMENTS", "DEFAULT_DATASET", "TEST_FRACTION", "TEST_SEED", "Dataset", "RawData", "load_dataset", "make_dataset",
    "parse_dataset_arg", "resize_images",
]
