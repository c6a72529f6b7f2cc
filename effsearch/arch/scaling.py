"""Compound scaling: the only place in effsearch that multiplies channels, repeats or resolution.

The rules are the official EfficientNet ones:

* channels: ``max(divisor, int(c * w + divisor / 2) // divisor * divisor)``, bumped up one divisor
  when rounding lost more than 10% (never below 90% of the unrounded value);
* repeats: ``ceil(r * d)``;
* resolution: ``base * gamma ** phi`` rounded to the nearest multiple of a stated ``multiple``;
  the small proxy input is grown the same way but rounded to the pixel (:func:`proxy_resolution`).
"""

from __future__ import annotations

import dataclasses
import math

from effsearch.arch.spec import NetSpec
from effsearch.errors import SpecError

CHANNEL_DIVISOR = 8
RESOLUTION_MULTIPLE = 8


def round_channels(chs: float, multiplier: float = 1.0, divisor: int = CHANNEL_DIVISOR) -> int:
    """Channels scaled by ``multiplier``, rounded to ``divisor`` and never below 90% of the exact value."""
    exact = chs * multiplier
    rounded = max(divisor, int(exact + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * exact:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, multiplier: float = 1.0) -> int:
    """Layers per stage scaled by ``multiplier``, rounded up (official ``ceil``)."""
    # The epsilon keeps float noise (1.1 * 10 = 11.000000000000002) from adding a whole layer.
    return max(1, math.ceil(repeats * multiplier - 1e-9))


def round_resolution(resolution: float, multiple: int = RESOLUTION_MULTIPLE) -> int:
    """Input size rounded to the nearest ``multiple`` (at least one multiple)."""
    if multiple < 1:
        raise SpecError(f"resolution multiple {multiple!r} is invalid (expected an integer >= 1)")
    return max(multiple, round(resolution / multiple) * multiple)


def _check_multiplier(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise SpecError(f"{name} multiplier {value!r} is invalid (expected a positive number)")


def scale(
    spec: NetSpec,
    *,
    width: float = 1.0,
    depth: float = 1.0,
    resolution: int | None = None,
    divisor: int | None = None,
    name: str | None = None,
) -> NetSpec:
    """``spec`` with every width multiplied by ``width``, every stage's repeats by ``depth``, at ``resolution``.

    Stem and head channels scale with width too, as in the official models (a spec without a head
    conv, ``head_chs`` 0, keeps none). Every block's ``in_chs``/``out_chs`` scale, whatever its op: a
    bottleneck's inner width (``out_chs / exp_ratio``) follows, as MobileNet's width multiplier
    does, not Wide-ResNet's rule (which widens only the inner convs). Repeats never drop below one.
    Channels round to ``divisor``, by default the spec's own ``channel_divisor``; the result keeps
    the divisor it was rounded to, so a stand-in made with ``divisor=2`` goes on scaling with 2.
    """
    _check_multiplier("width", width)
    _check_multiplier("depth", depth)
    divisor = spec.channel_divisor if divisor is None else divisor
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 1:
        raise SpecError(f"channel divisor {divisor!r} is invalid (expected an integer >= 1)")
    blocks = tuple(
        dataclasses.replace(
            block,
            in_chs=round_channels(block.in_chs, width, divisor),
            out_chs=round_channels(block.out_chs, width, divisor),
            repeats=round_repeats(block.repeats, depth),
        )
        for block in spec.blocks
    )
    return dataclasses.replace(
        spec,
        blocks=blocks,
        stem_chs=round_channels(spec.stem_chs, width, divisor),
        head_chs=round_channels(spec.head_chs, width, divisor) if spec.head_chs else 0,
        resolution=spec.resolution if resolution is None else int(resolution),
        channel_divisor=divisor,
        name=spec.name if name is None else name,
    )


def compound_multipliers(alpha: float, beta: float, gamma: float, phi: float) -> tuple[float, float, float]:
    """(depth, width, resolution) multipliers for compound coefficient ``phi``: alpha^phi, beta^phi, gamma^phi."""
    return alpha**phi, beta**phi, gamma**phi


def compound_scale(
    spec: NetSpec,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    phi: float,
    resolution_multiple: int = RESOLUTION_MULTIPLE,
    name: str | None = None,
) -> NetSpec:
    """The family member at ``phi``: depth alpha^phi, width beta^phi, resolution base * gamma^phi."""
    depth, width, res = compound_multipliers(alpha, beta, gamma, phi)
    resolution = round_resolution(spec.resolution * res, resolution_multiple)
    return scale(spec, width=width, depth=depth, resolution=resolution, name=name)


def proxy_resolution(resolution: int, gamma: float, phi: float = 1) -> int:
    """The proxy input side of a compound-scaled network: ``round(resolution * gamma^phi)``.

    Unlike the deployment resolution it is not snapped to a multiple: proxy inputs are a few dozen
    pixels, where a multiple of 8 would erase the difference between neighbouring gammas.
    """
    _check_multiplier("gamma", gamma)
    return max(1, round(resolution * gamma**phi))


def flops_ratio(alpha: float, beta: float, gamma: float) -> float:
    """How much one step of phi multiplies compute: alpha * beta^2 * gamma^2 (ideally 2)."""
    return alpha * beta**2 * gamma**2
