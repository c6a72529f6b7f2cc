"""scikit-learn's bundled 8x8 handwritten digits: 1,797 real images in 10 classes, always offline.

Pixels are integers 0..16; they are stored as uint8 scaled to 0..255 so every data set shares one
normalisation path. No augmentation: flips and crops change what a digit means at 8 px.
"""

from __future__ import annotations

from pathlib import Path

import torch

from effsearch.data.raw import RawData
from effsearch.errors import DataError

# The proxy upsamples the 8 px digits to 16 px by default: see docs/proxy.md for the measurements.
DEFAULT_PROXY_RESOLUTION = 16


def load(path: str | None = None, *, cache_dir: str | Path | None = None, download: bool = True) -> RawData:
    del cache_dir, download  # bundled with scikit-learn
    if path:
        raise DataError(f"digits is bundled with scikit-learn and takes no path (got {path!r}); name it just digits")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images).mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
    y = torch.from_numpy(bunch.target).long()
    return RawData(
        x=x, y=y, classes=tuple(str(c) for c in bunch.target_names), augment="none",
        source="sklearn.datasets.load_digits", proxy_resolution=DEFAULT_PROXY_RESOLUTION,
    )
