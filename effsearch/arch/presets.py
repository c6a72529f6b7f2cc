"""Named architectures: EfficientNet-B0..B7 (the official width/depth/resolution table), MnasNet-A1, and the
classic baselines ResNet-18/50 and MobileNetV1/V2 (:mod:`effsearch.arch.classic_presets`)."""

from __future__ import annotations

from effsearch.arch.blockstring import parse_block
from effsearch.arch.classic_presets import CLASSIC_PRESETS
from effsearch.arch.scaling import scale
from effsearch.arch.spec import NetSpec
from effsearch.errors import SpecError

B0_BLOCKS = (
    "r1_k3_s11_e1_i32_o16_se0.25",
    "r2_k3_s22_e6_i16_o24_se0.25",
    "r2_k5_s22_e6_i24_o40_se0.25",
    "r3_k3_s22_e6_i40_o80_se0.25",
    "r3_k5_s11_e6_i80_o112_se0.25",
    "r4_k5_s22_e6_i112_o192_se0.25",
    "r1_k3_s11_e6_i192_o320_se0.25",
)

MNASNET_A1_BLOCKS = (
    "ds_r1_k3_s11_e1_i32_o16_noskip_relu",
    "r2_k3_s22_e6_i16_o24_relu",
    "r3_k5_s22_e3_i24_o40_se0.25_relu",
    "r4_k3_s22_e6_i40_o80_relu",
    "r2_k3_s11_e6_i80_o112_se0.25_relu",
    "r3_k5_s22_e6_i112_o160_se0.25_relu",
    "r1_k3_s11_e6_i160_o320_relu",
)

# Official (width, depth, resolution, dropout) per model, from the EfficientNet release.
EFFICIENTNET_TABLE: dict[str, tuple[float, float, int, float]] = {
    "efficientnet-b0": (1.0, 1.0, 224, 0.2),
    "efficientnet-b1": (1.0, 1.1, 240, 0.2),
    "efficientnet-b2": (1.1, 1.2, 260, 0.3),
    "efficientnet-b3": (1.2, 1.4, 300, 0.3),
    "efficientnet-b4": (1.4, 1.8, 380, 0.4),
    "efficientnet-b5": (1.6, 2.2, 456, 0.4),
    "efficientnet-b6": (1.8, 2.6, 528, 0.5),
    "efficientnet-b7": (2.0, 3.1, 600, 0.5),
}


def efficientnet_b0() -> NetSpec:
    blocks = tuple(parse_block(s) for s in B0_BLOCKS)
    return NetSpec(blocks=blocks, stem_chs=32, head_chs=1280, resolution=224, name="efficientnet-b0")


def efficientnet(name: str) -> NetSpec:
    width, depth, resolution, dropout = EFFICIENTNET_TABLE[name]
    spec = scale(efficientnet_b0(), width=width, depth=depth, resolution=resolution, name=name)
    return spec.replace(dropout=dropout)


def mnasnet_a1() -> NetSpec:
    blocks = tuple(parse_block(s) for s in MNASNET_A1_BLOCKS)
    return NetSpec(
        blocks=blocks, stem_chs=32, head_chs=1280, resolution=224, act="relu", dropout=0.2,
        drop_connect=0.0, name="mnasnet-a1",
    )


def preset_names() -> list[str]:
    return [*EFFICIENTNET_TABLE, "mnasnet-a1", *CLASSIC_PRESETS]


def get_preset(name: str) -> NetSpec:
    """A preset by name (case-insensitive, ``_`` or ``-``)."""
    key = name.lower().replace("_", "-")
    if key in EFFICIENTNET_TABLE:
        return efficientnet(key)
    if key == "mnasnet-a1":
        return mnasnet_a1()
    if key in CLASSIC_PRESETS:
        return CLASSIC_PRESETS[key]()
    raise SpecError(f"unknown preset {name!r}; choose one of {', '.join(preset_names())} or give a spec file")


def is_preset(name: str) -> bool:
    return name.lower().replace("_", "-") in preset_names()
