"""The registry of data formats: what ``load_dataset("NAME[:PATH]")`` accepts as NAME.

A :class:`DataFormat` is a loader ``load(path, *, cache_dir, download) -> RawData`` (``path`` is what
follows the colon, ``None`` without one) with its description, its aliases, and what the format's
data should be trained with: the loader's :class:`~effsearch.data.RawData` carries the augmentation
chosen for the proxy, ``train_augment`` the one for a full training (``effsearch train``), where
they differ. ``recognise(path)`` says whether a bare path, given without a NAME, is in this format.
Adding one (a plugin's, say) is one :func:`register_format` call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from effsearch.data import cifar, digits, idx, imagefolder, npz
from effsearch.data.raw import AUGMENTS, RawData
from effsearch.errors import DataError
from effsearch.runtime.registry import Registry

_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]*$")  # no colon (NAME:PATH) and no underscore (read as a hyphen)


@dataclass(frozen=True, kw_only=True)
class DataFormat:
    name: str
    load: Callable[..., RawData]
    description: str = ""
    aliases: tuple[str, ...] = ()
    train_augment: str | None = None  # None: train with the loader's augmentation
    recognise: Callable[[Path], bool] | None = None

    def __post_init__(self) -> None:
        for name in (self.name, *self.aliases):
            if not _NAME.match(name):
                raise DataError(f"data format name {name!r} is invalid (lower-case letters, digits, '.' and '-')")
        if self.train_augment is not None and self.train_augment not in AUGMENTS:
            raise DataError(f"data format {self.name!r}: train_augment {self.train_augment!r} is not one of "
                            f"{', '.join(AUGMENTS)}")


FORMATS: Registry[DataFormat] = Registry("data set", DataError)


def register_format(name: str, load: Callable[..., RawData], *, description: str = "", aliases: tuple[str, ...] = (),
                    train_augment: str | None = None, recognise: Callable[[Path], bool] | None = None,
                    replace: bool = False) -> DataFormat:
    """Register ``load(path, *, cache_dir, download) -> RawData`` as data set ``name`` (see the module docstring)."""
    entry = DataFormat(name=name, load=load, description=description, aliases=tuple(aliases),
                       train_augment=train_augment, recognise=recognise)
    return FORMATS.register(name, entry, aliases=entry.aliases, replace=replace)


unregister_format = FORMATS.unregister
format_names = FORMATS.names


def find_format(name: str) -> DataFormat | None:
    """The format ``name`` or an alias names (case-insensitive, ``_`` read as ``-``), or ``None``."""
    return FORMATS.find(name.strip().lower().replace("_", "-"))


def guess_format(path: Path) -> str | None:
    """The format that reads a bare ``path`` (an ``.npz`` file, a folder of class folders), or ``None``."""
    return next((fmt.name for fmt in FORMATS.values() if fmt.recognise is not None and fmt.recognise(path)), None)


def train_augment(name: str, default: str) -> str:
    """The augmentation data set ``name`` is trained with: its format's choice, else ``default``."""
    fmt = FORMATS.find(name)
    return fmt.train_augment if fmt is not None and fmt.train_augment else default


class TrainAugments(Mapping[str, str]):
    """The formats that train with their own augmentation, read live from the registry (name -> augment)."""

    def _table(self) -> dict[str, str]:
        return {f.name: f.train_augment for f in FORMATS.values() if f.train_augment}

    def __getitem__(self, name: str) -> str:
        return self._table()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())


# --------------------------------------------------------------------------- the built-in formats

register_format("digits", digits.load, description="scikit-learn's bundled 8x8 handwritten digits, 10 classes "
                "(default; offline; accuracy saturates near 98%)")
register_format("cifar10", cifar.load_cifar10, aliases=("cifar-10",),
                description="CIFAR-10, 32x32 colour, 10 classes (downloaded, or NAME:PATH to its python batches)")
register_format("cifar100", cifar.load_cifar100, aliases=("cifar-100",),
                description="CIFAR-100, 32x32 colour, 100 classes (downloaded, or NAME:PATH)")
# A full training augments where the loader's choice (made for the proxy) is not the one to train
# with: handwritten digits survive a small shift but not a mirror; clothing survives both.
register_format("mnist", idx.load_mnist, train_augment="crop",
                description="MNIST, 28x28 grey digits, gzipped IDX (downloaded, or NAME:PATH)")
register_format("fashion-mnist", idx.load_fashion_mnist, aliases=("fashion", "fmnist", "fashionmnist"),
                train_augment="crop-flip", description="Fashion-MNIST, 28x28 grey clothing, 10 classes "
                "(Debian's dataset-fashion-mnist, downloaded, or NAME:PATH)")
register_format("folder", imagefolder.load, aliases=("imagefolder", "image-folder"), recognise=Path.is_dir,
                description="folder:PATH, one sub-folder of images per class")
register_format("npz", npz.load, recognise=lambda p: p.suffix == ".npz" and p.is_file(),
                description="npz:FILE with arrays x (N,H,W[,C]) and y (N,)")
