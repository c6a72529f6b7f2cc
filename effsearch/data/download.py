"""Download-when-online for the standard data sets, into a cache folder, verified by checksum.

The cache folder is ``cache_dir`` if given, else ``$EFFSEARCH_DATA``, else
``$XDG_CACHE_HOME/effsearch/data`` (``~/.cache/effsearch/data``). Each set lives in its own
sub-folder (``cifar10/``, ``mnist/``, ...). A file already there is used as-is once its checksum
matches; offline (or with ``EFFSEARCH_OFFLINE=1``) the error names the folder, the files and the
URLs, so the files can be copied there by hand. Only the training files are required and
fetched; an official test split is read when its files are in the same folder (the CIFAR archives
include it; MNIST's ``t10k-*`` files can be copied in, and Debian's package ships them) and is
kept apart from every search. Without one, a test split is held out of the training files.

After the cache folder and before any download, a set is looked up where a system package installs
it (:data:`SYSTEM_FOLDERS`; Debian's ``dataset-fashion-mnist`` puts Fashion-MNIST in
``/usr/share/datasets/fashion-mnist``). Such a copy is recompressed by the packager, so the gzip
checksums differ from the published ones; the IDX reader still checks its magic numbers and sizes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from effsearch.errors import DataError

TIMEOUT_S = 30


@dataclass(frozen=True)
class Resource:
    """One file of a standard data set: where to get it and how to recognise a good copy."""

    filename: str
    urls: tuple[str, ...]
    md5: str = ""
    sha256: str = ""
    extract: bool = False  # a .tar.gz unpacked into the data set's folder

    def __post_init__(self) -> None:
        if not (self.md5 or self.sha256):
            raise ValueError(f"resource {self.filename} needs an md5 or sha256 checksum")


_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

# Official archives and their published md5 sums (the same ones torchvision checks).
STANDARD: dict[str, tuple[Resource, ...]] = {
    "cifar10": (Resource("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                         md5="c58f30108f718f92721af3b95e74349a", extract=True),),
    "cifar100": (Resource("cifar-100-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",),
                          md5="eb9058c3a382ffc7106e4002c42a8d85", extract=True),),
    "mnist": (
        Resource("train-images-idx3-ubyte.gz", tuple(m + "train-images-idx3-ubyte.gz" for m in _MNIST), md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
        Resource("train-labels-idx1-ubyte.gz", tuple(m + "train-labels-idx1-ubyte.gz" for m in _MNIST), md5="d53e105ee54ea40749a09fcbcd1e9432"),
    ),
    "fashion-mnist": (
        Resource("train-images-idx3-ubyte.gz", tuple(m + "train-images-idx3-ubyte.gz" for m in _FASHION), md5="8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
        Resource("train-labels-idx1-ubyte.gz", tuple(m + "train-labels-idx1-ubyte.gz" for m in _FASHION), md5="25c81989df183df01b3e8a0aad5dffbe"),
    ),
}


SYSTEM_FOLDERS: dict[str, tuple[Path, ...]] = {
    "fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),),
    "mnist": (Path("/usr/share/datasets/mnist"),),
}
"""Where system packages install a standard set (searched after the cache folder, before downloading)."""


def system_folder(name: str) -> Path | None:
    """A system package's copy of ``name`` that has every training file, if there is one."""
    for folder in SYSTEM_FOLDERS.get(name, ()):
        if all((folder / r.filename).is_file() for r in STANDARD[name]) and not any(r.extract for r in STANDARD[name]):
            return folder
    return None


def cache_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("EFFSEARCH_DATA"):
        return Path(os.environ["EFFSEARCH_DATA"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "effsearch" / "data"


def file_matches(path: Path, resource: Resource) -> bool:
    """Whether ``path`` has the resource's checksum (sha256 preferred when both are known)."""
    algo, expected = ("sha256", resource.sha256) if resource.sha256 else ("md5", resource.md5)
    digest = hashlib.new(algo)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest() == expected


def _download(url: str, dest: Path) -> None:
    from effsearch.runtime.files import atomic_path

    with atomic_path(dest) as tmp, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out, 1 << 20)


def fetch(resource: Resource, folder: Path, *, name: str, download: bool = True) -> Path:
    """``folder/resource.filename``, downloading and verifying it first if needed."""
    dest = folder / resource.filename
    if dest.is_file() and file_matches(dest, resource):
        return dest
    if dest.is_file():
        reason = f"{dest} has the wrong checksum (incomplete or a different file)"
    else:
        reason = "offline mode (EFFSEARCH_OFFLINE=1 or download=False)"
    online = download and os.environ.get("EFFSEARCH_OFFLINE", "") in ("", "0")
    for url in resource.urls if online else ():
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _download(url, dest)
        except OSError as exc:  # URLError and socket timeouts are OSErrors
            reason = f"download from {url} failed: {getattr(exc, 'reason', None) or exc}"
            continue
        if file_matches(dest, resource):
            return dest
        dest.unlink(missing_ok=True)
        reason = f"{url} gave a file with the wrong checksum"
    checksum = f"sha256 {resource.sha256}" if resource.sha256 else f"md5 {resource.md5}"
    raise DataError(
        f"{name}: {resource.filename} is not in {folder} ({reason}); download {resource.urls[0]} ({checksum}) "
        f"into {folder}, or name the data set {name}:PATH with a folder that has the files"
    )


def _extract(archive: Path, folder: Path) -> None:
    marker = folder / f".{archive.name}.extracted"
    if marker.exists():
        return
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(folder, filter="data")  # refuses absolute paths and links out of folder
        else:  # pragma: no cover - Python without PEP 706
            root = folder.resolve()
            for member in tar.getmembers():
                if not (folder / member.name).resolve().is_relative_to(root) or member.issym() or member.islnk():
                    raise DataError(f"{archive} contains an unsafe path {member.name!r}; delete it and download again")
            tar.extractall(folder)
    marker.touch()


def ensure_standard(name: str, *, cache_dir: str | Path | None = None, download: bool = True) -> Path:
    """The cache folder of a standard data set, with its training files present and verified."""
    folder = cache_root(cache_dir) / name
    cached = all((folder / r.filename).is_file() and file_matches(folder / r.filename, r) for r in STANDARD[name])
    system = None if cached else system_folder(name)
    if system is not None:
        return system
    for resource in STANDARD[name]:
        path = fetch(resource, folder, name=name, download=download)
        if resource.extract:
            _extract(path, folder)
    return folder
