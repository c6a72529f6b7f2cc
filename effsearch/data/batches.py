"""In-memory batching and augmentation on whole batches: no per-sample Python, no collation.

An epoch is one random permutation; a batch is a single index-gather from the stored uint8 tensor,
augmented as a batch (random crops as one gather, flips as one ``where``), moved to the device while
still uint8 (4x less traffic) and only then normalised to float. This is what keeps data handling
out of the profile of a proxy step.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from effsearch.data.split import normalise


def epoch_indices(n: int, batch_size: int, *, generator: torch.Generator | None, drop_last: bool) -> Iterator[torch.Tensor]:
    """Index tensors of one epoch (on the CPU): shuffled when a generator is given, else in order."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def random_crop(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``pad`` and crop back at a random offset per image, as one gather."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    # Offsets drawn on the CPU generator whatever the device, so a GPU run sees the same crops.
    dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator).to(x.device)
    rows = (dy + torch.arange(h, device=x.device)).view(n, 1, h, 1)
    cols = (dx + torch.arange(w, device=x.device)).view(n, 1, 1, w)
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    chans = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[batch, chans, rows, cols]


def random_flip(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror a random half of the images left-right."""
    mask = (torch.rand(x.shape[0], generator=generator) < 0.5).to(x.device)
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def augment(x: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """``none``, ``flip``, ``crop`` or ``crop-flip`` (crop pads by 1/8 of the size, 4 px at 32 px)."""
    if "crop" in kind:
        x = random_crop(x, max(1, x.shape[-1] // 8), generator)
    if "flip" in kind:
        x = random_flip(x, generator)
    return x


def to_input(
    x: torch.Tensor, *, mean: tuple[float, ...], std: tuple[float, ...], scale: float, device: torch.device,
    channels_last: bool = False,
) -> torch.Tensor:
    """Move a stored batch to ``device`` and normalise it to float32 (channels_last if asked)."""
    x = normalise(x.to(device, non_blocking=True), mean, std, scale)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x
