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
DESCRIPTIONS = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits, 10 classes (default; offline; accuracy saturates near 98%)",
    "cifar10": "CIFAR-10, 32x32 colour, 10 classes (downloaded, or NAME:PATH to its python batches)",
    "cifar100": "CIFAR-100, 32x32 colour, 100 classes (downloaded, or NAME:PATH)",
    "mnist": "MNIST, 28x28 grey digits, gzipped IDX (downloaded, or NAME:PATH)",
    "fashion-mnist": "Fashion-MNIST, 28x28 grey clothing, 10 classes (Debian's dataset-fashion-mnist, downloaded, or NAME:PATH)",
    "folder": "folder:PATH, one sub-folder of images per class",
    "npz": "npz:FILE with arrays x (N,H,W[,C]) and y (N,)",
}
ALIASES = {
    "cifar-10": "cifar10", "cifar-100": "cifar100", "fashion": "fashion-mnist", "fmnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist", "imagefolder": "folder", "image-folder": "folder",
}
