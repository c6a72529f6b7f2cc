"""The one architecture spec every stage of effsearch consumes.

A :class:`NetSpec` is a stem, a tuple of :class:`BlockSpec` stages and a head. A stage repeats one
block ``repeats`` times; only its first layer strides and changes channels (official EfficientNet
behaviour). Both types are frozen and validated on construction, so a spec that exists is buildable,
countable and scalable. Serialisation to block strings lives in :mod:`effsearch.arch.blockstring`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field

from effsearch.arch import ops
from effsearch.errors import SpecError

ACTS = ("swish", "relu", "relu6")
MAX_KERNEL = 11


def _fail(what: str, name: str, value: object, expected: str) -> None:
    raise SpecError(f"{what}: {name} {value!r} is invalid ({expected})")


def _check_int(what: str, name: str, value: object, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        _fail(what, name, value, f"expected an integer >= {lo}")


def mid_channels(op: str, in_chs: int, out_chs: int, exp_ratio: float) -> int:
    """Channels inside a layer, as its op declares (expanded width for MBConv, input for ds and sep, output for
    conv and basic, output / exp_ratio for a ResNet bottleneck)."""
    return ops.get_op(op).mid_channels(in_chs, out_chs, exp_ratio)


se_channels = ops.se_width


@dataclass(frozen=True)
class BlockSpec:
    """One stage: ``repeats`` layers of the same block; the first has ``stride`` and ``in_chs``."""

    op: str = "mbconv"
    repeats: int = 1
    kernel_size: int = 3
    stride: int = 1
    exp_ratio: float = 1.0
    in_chs: int = 16
    out_chs: int = 16
    se_ratio: float = 0.0
    skip: bool = True
    act: str = "swish"

    def __post_init__(self) -> None:
        what = "block"
        if self.op not in ops.OPS:
            _fail(what, "op", self.op, f"expected one of {', '.join(ops.op_names())}")
        _check_int(what, "repeats", self.repeats, 1)
        _check_int(what, "kernel_size", self.kernel_size, 1)
        if self.kernel_size % 2 == 0 or self.kernel_size > MAX_KERNEL:
            _fail(what, "kernel_size", self.kernel_size, f"expected an odd size from 1 to {MAX_KERNEL}")
        if self.stride not in (1, 2) or isinstance(self.stride, bool):
            _fail(what, "stride", self.stride, "expected 1 or 2")
        _check_int(what, "in_chs", self.in_chs, 1)
        _check_int(what, "out_chs", self.out_chs, 1)
        if not isinstance(self.exp_ratio, (int, float)) or not 0 < self.exp_ratio <= 16:
            _fail(what, "exp_ratio", self.exp_ratio, "expected a number in (0, 16]")
        if not ops.get_op(self.op).expands and self.exp_ratio != 1:
            _fail(what, "exp_ratio", self.exp_ratio, f"op {self.op} has no expansion; use 1")
        if not isinstance(self.se_ratio, (int, float)) or not 0 <= self.se_ratio <= 1:
            _fail(what, "se_ratio", self.se_ratio, "expected a number in [0, 1]")
        if not isinstance(self.skip, bool):
            _fail(what, "skip", self.skip, "expected true or false")
        if self.act not in ACTS:
            _fail(what, "act", self.act, f"expected one of {', '.join(ACTS)}")
        problem = ops.get_op(self.op).check(self)
        if problem:
            _fail(what, *problem)

    @property
    def mid_chs(self) -> int:
        """Channels inside the block, as its op declares (:func:`mid_channels`)."""
        return mid_channels(self.op, self.in_chs, self.out_chs, self.exp_ratio)

    @property
    def has_expansion(self) -> bool:
        """An expanding op (MBConv) has a 1x1 expansion conv unless its ratio is exactly 1."""
        return ops.get_op(self.op).expands and self.exp_ratio != 1

    @property
    def se_chs(self) -> int:
        """SE bottleneck width, reduced from the block's *input* channels (official behaviour)."""
        return se_channels(self.in_chs, self.se_ratio)

    def layers(self) -> Iterator[BlockSpec]:
        """The ``repeats`` single layers of this stage: later layers keep width and stride 1."""
        first = dataclasses.replace(self, repeats=1)
        yield first
        rest = dataclasses.replace(first, stride=1, in_chs=self.out_chs)
        for _ in range(self.repeats - 1):
            yield rest

    @property
    def has_residual(self) -> bool:
        """Whether the first layer adds a shortcut, as its op declares (:data:`effsearch.arch.ops.SHORTCUTS`).

        An identity shortcut needs ``skip``, stride 1 and equal widths (later layers always qualify when
        skip is allowed); a projection shortcut (ResNet) only needs ``skip``; some ops have none.
        """
        shortcut = ops.get_op(self.op).shortcut
        if shortcut == "identity":
            return self.skip and self.stride == 1 and self.in_chs == self.out_chs
        return self.skip and shortcut == "projection"

    @property
    def has_projection(self) -> bool:
        """Whether the first layer's shortcut is a 1x1 conv + BN (a ResNet layer that strides or changes width)."""
        return self.has_residual and ops.get_op(self.op).shortcut == "projection" and (
            self.stride != 1 or self.in_chs != self.out_chs)


@dataclass(frozen=True)
class NetSpec:
    """A whole network: stem conv [+ max pool], stages, [1x1 head conv], global pool, dropout, classifier.

    ``stem_kernel`` is the stem conv's size (ResNet's is 7); ``stem_pool`` adds ResNet's 3x3 stride-2
    max pool after it; ``head_chs`` 0 means no head conv, so the classifier reads the last stage
    (ResNet, MobileNetV1). ``channel_divisor`` is the multiple its channels round to when it is
    scaled: 8 for the published networks; a stand-in at a quarter of their width rounds to 2, so
    that its scaled widths step as finely, relative to its size, as the full network's do.
    """

    blocks: tuple[BlockSpec, ...]
    stem_chs: int = 32
    head_chs: int = 1280
    resolution: int = 224
    num_classes: int = 1000
    dropout: float = 0.2
    drop_connect: float = 0.2
    act: str = "swish"
    stem_stride: int = 2
    in_chans: int = 3
    stem_kernel: int = 3
    stem_pool: bool = False
    channel_divisor: int = 8
    name: str = ""
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))
        what = f"spec {self.name!r}" if self.name else "spec"
        if not self.blocks:
            _fail(what, "blocks", [], "expected at least one block")
        for name in ("stem_chs", "num_classes", "in_chans"):
            _check_int(what, name, getattr(self, name), 1)
        _check_int(what, "head_chs", self.head_chs, 0)
        _check_int(what, "resolution", self.resolution, 8)
        if self.stem_stride not in (1, 2):
            _fail(what, "stem_stride", self.stem_stride, "expected 1 or 2")
        _check_int(what, "stem_kernel", self.stem_kernel, 1)
        _check_int(what, "channel_divisor", self.channel_divisor, 1)
        if self.stem_kernel % 2 == 0 or self.stem_kernel > MAX_KERNEL:
            _fail(what, "stem_kernel", self.stem_kernel, f"expected an odd size from 1 to {MAX_KERNEL}")
        if not isinstance(self.stem_pool, bool):
            _fail(what, "stem_pool", self.stem_pool, "expected true or false")
        for name in ("dropout", "drop_connect"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                _fail(what, name, value, "expected a number in [0, 1)")
        if self.act not in ACTS:
            _fail(what, "act", self.act, f"expected one of {', '.join(ACTS)}")
        prev = self.stem_chs
        for i, block in enumerate(self.blocks):
            if not isinstance(block, BlockSpec):
                _fail(what, f"blocks[{i}]", block, "expected a BlockSpec")
            if block.in_chs != prev:
                _fail(what, f"blocks[{i}].in_chs", block.in_chs, f"expected {prev}, the previous out_chs")
            prev = block.out_chs

    @property
    def num_layers(self) -> int:
        return sum(b.repeats for b in self.blocks)

    @property
    def num_features(self) -> int:
        """Channels the classifier reads: the head conv's, or the last stage's where there is none."""
        return self.head_chs or self.blocks[-1].out_chs

    def replace(self, **changes: object) -> NetSpec:
        return dataclasses.replace(self, **changes)
