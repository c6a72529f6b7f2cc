"""Random valid specs for property tests: every op, kernel, expansion, SE, skip, width, depth, resolution."""

from __future__ import annotations

import random

from effsearch.arch.ops import op_names
from effsearch.arch.spec import ACTS, BlockSpec, NetSpec


def random_block(rng: random.Random, in_chs: int, max_chs: int) -> BlockSpec:
    op = rng.choice(op_names()[:3])
    return BlockSpec(
        op=op,
        repeats=rng.randint(1, 3),
        kernel_size=rng.choice([1, 3, 5, 7]),
        stride=rng.choice([1, 2]),
        exp_ratio=rng.choice([1, 2, 3, 4.5, 6]) if op == "mbconv" else 1,
        in_chs=in_chs,
        out_chs=rng.choice([in_chs, rng.randint(1, max_chs)]),
        se_ratio=rng.choice([0, 0, 0.25, 0.5]),
        skip=rng.random() < 0.7,
        act=rng.choice(ACTS),
    )


def random_spec(rng: random.Random, *, max_chs: int = 40, max_blocks: int = 4) -> NetSpec:
    stem = rng.randint(1, max_chs)
    blocks, chs = [], stem
    for _ in range(rng.randint(1, max_blocks)):
        blocks.append(random_block(rng, chs, max_chs))
        chs = blocks[-1].out_chs
    return NetSpec(
        blocks=tuple(blocks),
        stem_chs=stem,
        head_chs=rng.randint(1, 4 * max_chs),
        resolution=rng.randint(32, 600),
        num_classes=rng.randint(2, 100),
        stem_stride=rng.choice([1, 2]),
        in_chans=rng.choice([1, 3]),
        act=rng.choice(ACTS),
        dropout=rng.choice([0.0, 0.2]),
        drop_connect=rng.choice([0.0, 0.2]),
    )
