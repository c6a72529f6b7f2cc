"""The registry of data-set names: each maps to a loader ``(path, *, cache_dir, download) -> RawData``."""

from __future__ import annotations

from collections.abc import Callable

from effsearch.data import RawData, cifar, digits, idx, imagefolder, npz

FORMATS: dict[str, Callable[..., RawData]] = {
    "digits": digits.load,
    "cifar10": cifar.load_cifar10,
    "cifar100": cifar.load_cifar100,
    "mnist": idx.load_mnist,
    "fashion-mnist": idx.load_fashion_mnist,
    "folder": imagefolder.load,
    "npz": npz.load,
}
ALIASES = {
    "cifar-10": "cifar10", "cifar-100": "cifar100", "fashion": "fashion-mnist", "fmnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist", "imagefolder": "folder", "image-folder": "folder",
}
