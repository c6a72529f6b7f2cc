"""What a supernet holds for a search space: the largest choice of every dimension, per layer and op.

Every candidate of the space is a sub-network of the supernet and inherits its weights: a kernel
takes the centre of the largest kernel, expansion and width take the leading channels, depth takes
the first layers of a stage, SE and skip are switched on or off. A depthwise-separable layer is an
MBConv without expansion and shares its weights; a plain conv has shapes no other op has, so it
gets its own layers (see :func:`effsearch.supernet.model.module_key` for the measurement). Pure
arithmetic on the space (no torch).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from effsearch.arch.scaling import round_channels
from effsearch.arch.spec import BlockSpec, NetSpec
from effsearch.errors import EffsearchError

SHAREABLE = ("mbconv", "ds", "conv")
"""Ops with a weight-sharing layer. A registered op of one's own is refused by name."""


class SupernetError(EffsearchError):
    """A supernet cannot be built, trained or used as asked."""


@dataclass(frozen=True)
class BlockLayout:
    """The largest choice of one block: what its shared weights are sized for."""

    index: int
    ops: tuple[str, ...]
    in_chs: int  # widest input of the first layer (the previous block's widest output)
    out_chs: int
    layers: int
    kernel: int
    exp_ratio: float  # largest MBConv expansion (1 when the block has no mbconv choice)
    se_ratio: float
    stride: int
    first_residual: bool = False  # whether some candidate's first layer has a shortcut (stride 1, same width)


@dataclass(frozen=True)
class SupernetLayout:
    """The shapes of a supernet for one space; :meth:`check` says whether a candidate fits."""

    space: str
    stem: int
    head: int
    act: str
    blocks: tuple[BlockLayout, ...]

    def layer_in_chs(self, block: int, layer: int) -> int:
        b = self.blocks[block]
        return b.in_chs if layer == 0 else b.out_chs

    def check(self, spec: NetSpec) -> None:
        """Raise :class:`SupernetError` naming the first field of ``spec`` the supernet cannot hold."""
        where = f"the supernet of space {self.space!r}"
        for name, have, want in (("stem", spec.stem_chs, self.stem), ("head", spec.head_chs, self.head),
                                 ("act", spec.act, self.act), ("blocks", len(spec.blocks), len(self.blocks))):
            if have != want:
                raise SupernetError(f"{where} has {name} {want!r}, the candidate {have!r}")
        for i, (block, lay) in enumerate(zip(spec.blocks, self.blocks, strict=True), 1):
            problems = [
                ("op", block.op, block.op in lay.ops, f"one of {', '.join(lay.ops)}"),
                ("out_chs", block.out_chs, block.out_chs <= lay.out_chs, f"at most {lay.out_chs}"),
                ("repeats", block.repeats, block.repeats <= lay.layers, f"at most {lay.layers}"),
                ("kernel_size", block.kernel_size, block.kernel_size <= lay.kernel, f"at most {lay.kernel}"),
                ("exp_ratio", block.exp_ratio, block.exp_ratio <= lay.exp_ratio, f"at most {lay.exp_ratio:g}"),
                ("se_ratio", block.se_ratio, block.se_ratio <= lay.se_ratio, f"at most {lay.se_ratio:g}"),
            ]
            for name, value, ok, limit in problems:
                if not ok:
                    raise SupernetError(f"{where}: block {i} {name} {value!r} does not fit ({limit})")

    def fingerprint(self) -> str:
        """A short hash of the shapes: two supernets with the same one hold interchangeable weights."""
        text = json.dumps([self.stem, self.head, self.act, [b.__dict__ for b in self.blocks]], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _op_names(space_name: str, block: Any) -> tuple[str, ...]:
    from effsearch.search.space import _op

    names = []
    for value in block.choice_map()["op"]:
        op = _op(value)["op"]
        if op not in SHAREABLE:
            raise SupernetError(
                f"search space {space_name}: block {block.index} op {op!r} cannot share weights in a supernet "
                f"(weight-sharing layers exist for {', '.join(SHAREABLE)}); use the proxy evaluator for this space")
        if op not in names:
            names.append(op)
    return tuple(names)


def layout_for(space: Any) -> SupernetLayout:
    """The supernet layout of a :class:`~effsearch.search.space.SearchSpace`, or a one-line refusal."""
    from effsearch.search.space import _op, _se

    blocks, prev, prev_widths = [], space.stem, {space.stem}
    for block in space.blocks:
        choices = block.choice_map()
        ops = _op_names(space.name, block)
        widths = {round_channels(block.filters, float(m)) for m in choices["filters"]}
        widest = max(widths)
        ratios = [_op(v)["exp_ratio"] for v in choices["op"] if _op(v)["op"] == "mbconv"]
        blocks.append(BlockLayout(
            index=block.index, ops=ops, in_chs=prev, out_chs=widest,
            layers=max(1, block.layers + max(int(d) for d in choices["layers"])),
            kernel=max(int(k) for k in choices["kernel"]), exp_ratio=float(max(ratios, default=1)),
            se_ratio=max(_se(v)["se_ratio"] for v in choices["se"]), stride=block.stride,
            first_residual=block.stride == 1 and bool(widths & prev_widths),
        ))
        prev, prev_widths = widest, widths
    return SupernetLayout(space=space.name, stem=space.stem, head=space.head, act=space.act, blocks=tuple(blocks))


def layer_specs(spec: NetSpec) -> list[list[BlockSpec]]:
    """The single layers of every stage of ``spec``, as the supernet runs them."""
    return [list(block.layers()) for block in spec.blocks]
