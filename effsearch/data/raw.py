"""What a format loader returns (:class:`RawData`) and the augmentations a data set may ask for.

Its own module, below the loaders and their registry, so a loader never imports the package that
looks it up.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

AUGMENTS = ("none", "flip", "crop", "crop-flip")


@dataclass(frozen=True)
class RawData:
    """What a format loader returns: the training images and labels, before any split.

    ``test`` is the official test split when the files have one (else ``None``: :func:`make_dataset`
    holds one out); ``test_source`` says where it came from, or why there is none.
    """

    x: torch.Tensor  # uint8 (or float32) N,C,H,W
    y: torch.Tensor  # int64 class indices
    classes: tuple[str, ...]
    augment: str = "none"
    source: str = ""
    val: tuple[torch.Tensor, torch.Tensor] | None = None  # an explicit validation split, if the file has one
    proxy_resolution: int | None = None
    test: tuple[torch.Tensor, torch.Tensor] | None = None  # the official test split (images, labels), if any
    test_source: str = ""
