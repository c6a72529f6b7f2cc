"""The one place a candidate is changed for the proxy: its earliest strides, at small inputs.

Pure arithmetic on the spec (no torch).
"""

from __future__ import annotations

import dataclasses
import math

from effsearch.arch.spec import NetSpec

MIN_FEATURE = 2


def _deployment_strides(spec: NetSpec) -> list[int]:
    return [spec.stem_stride] + ([2] if spec.stem_pool else []) + [b.stride for b in spec.blocks]


def strides_for_proxy(spec: NetSpec, resolution: int, min_feature: int = MIN_FEATURE, *,
                      drop: int | None = None) -> list[int]:
    """Stem stride, the stem pool's (only for a spec with one: 2, or 1 once dropped), each stage's stride,
    after dropping the earliest ones as needed.

    The deployment network reduces 224 px by 32 to a 7x7 map. At 8 to 64 px the same strides would
    leave a 1x1 map (or less) several stages before the end, so those stages would see no spatial
    structure at all. The earliest strides (stem first, then ResNet's stem max pool, then stage by
    stage) are set to 1 until the final map is at least ``min_feature`` pixels; the later stages keep
    the deployment's relative downsampling. At 64 px and above nothing changes.

    ``drop`` instead drops exactly that many of the earliest downsampling steps, whatever the side: a
    family of networks scaled from one baseline (a comparison, a family's members) trains with the
    baseline's count, so that a network with a larger input keeps the larger final map it has at
    deployment and its MACs as trained stay in the deployment's proportion to the baseline's (with
    the rule above, 28 px drops the stem's stride and 40 px keeps it, so a resolution-scaled network
    would train with fewer MACs than the baseline it was matched to).
    """
    strides = _deployment_strides(spec)
    if drop is not None:
        for i in [i for i, s in enumerate(strides) if s > 1][:max(0, int(drop))]:
            strides[i] = 1
        return strides
    for i in range(len(strides)):
        if math.ceil(resolution / math.prod(strides)) >= min_feature:
            break
        strides[i] = 1
    return strides


def dropped_strides(spec: NetSpec, resolution: int, min_feature: int = MIN_FEATURE) -> int:
    """How many of ``spec``'s downsampling steps the proxy drops at ``resolution`` (the ``drop`` that repeats it)."""
    adapted = strides_for_proxy(spec, resolution, min_feature)
    return sum(1 for full, now in zip(_deployment_strides(spec), adapted, strict=True) if full > 1 and now == 1)


def adapt_for_proxy(
    spec: NetSpec, resolution: int, *, num_classes: int | None = None, in_chans: int | None = None,
    min_feature: int = MIN_FEATURE, drop: int | None = None,
) -> NetSpec:
    """The network that the proxy trains: ``spec`` at ``resolution`` with early strides dropped.

    This is the one place where a candidate is changed for the proxy. Everything else (channels,
    kernels, expansion, SE, depth, activations) is the candidate's own; the classifier gets the data
    set's class count and the stem its channel count. A stem max pool whose stride is dropped is
    dropped with it. ``drop``: as :func:`strides_for_proxy`'s.
    """
    strides = strides_for_proxy(spec, resolution, min_feature, drop=drop)
    pool = spec.stem_pool and strides.pop(1) == 2
    blocks = tuple(dataclasses.replace(b, stride=s) for b, s in zip(spec.blocks, strides[1:], strict=True))
    return spec.replace(
        blocks=blocks, stem_stride=strides[0], stem_pool=pool, resolution=int(resolution),
        num_classes=int(num_classes or spec.num_classes), in_chans=int(in_chans or spec.in_chans),
    )


