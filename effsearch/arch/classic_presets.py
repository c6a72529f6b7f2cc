"""Classic baselines as presets: ResNet-18/50 and MobileNetV1/V2, as torchvision and timm build them.

Each is a plain spec, so every command takes it (show, scale, train, export). Published figures at
224 px with 1000 classes, which count convolutions and the classifier only (effsearch adds batch
norm and the global pool, see :mod:`effsearch.arch.cost`): ResNet-18 11,689,512 params, 1.82G MACs;
ResNet-50 25,557,032, 4.09G (v1.5, stride on the 3x3); MobileNetV1 4,231,976, 569M; MobileNetV2
3,504,872, 300M. ``tests/test_classic.py`` checks the parameters exactly, the MACs, and the layouts
against timm's ``resnet18``, ``resnet50``, ``mobilenetv1_100`` and ``mobilenetv2_100``.
"""

from __future__ import annotations

from effsearch.arch.blockstring import parse_block
from effsearch.arch.spec import NetSpec

RESNET18_BLOCKS = (
    "basic_r2_k3_s11_e1_i64_o64_relu",
    "basic_r2_k3_s22_e1_i64_o128_relu",
    "basic_r2_k3_s22_e1_i128_o256_relu",
    "basic_r2_k3_s22_e1_i256_o512_relu",
)

RESNET50_BLOCKS = (
    "bottleneck_r3_k3_s11_e4_i64_o256_relu",
    "bottleneck_r4_k3_s22_e4_i256_o512_relu",
    "bottleneck_r6_k3_s22_e4_i512_o1024_relu",
    "bottleneck_r3_k3_s22_e4_i1024_o2048_relu",
)

# MobileNetV1's 13 separable layers: 64, 128 s2, 128, 256 s2, 256, 512 s2, 5 x 512, 1024 s2, 1024.
MOBILENET_V1_BLOCKS = (
    "sep_r1_k3_s11_e1_i32_o64_relu",
    "sep_r2_k3_s22_e1_i64_o128_relu",
    "sep_r2_k3_s22_e1_i128_o256_relu",
    "sep_r6_k3_s22_e1_i256_o512_relu",
    "sep_r2_k3_s22_e1_i512_o1024_relu",
)

# MobileNetV2's inverted residuals (t, c, n, s): MBConv with ReLU6 and no SE; t = 1 has no expansion conv.
MOBILENET_V2_BLOCKS = (
    "r1_k3_s11_e1_i32_o16_relu6",
    "r2_k3_s22_e6_i16_o24_relu6",
    "r3_k3_s22_e6_i24_o32_relu6",
    "r4_k3_s22_e6_i32_o64_relu6",
    "r3_k3_s11_e6_i64_o96_relu6",
    "r3_k3_s22_e6_i96_o160_relu6",
    "r1_k3_s11_e6_i160_o320_relu6",
)


def _resnet(name: str, blocks: tuple[str, ...]) -> NetSpec:
    # 7x7 stride-2 stem and 3x3 max pool; no head conv: the classifier reads the last stage.
    return NetSpec(blocks=tuple(parse_block(b) for b in blocks), stem_chs=64, stem_kernel=7, stem_pool=True,
                   head_chs=0, resolution=224, act="relu", dropout=0.0, drop_connect=0.0, name=name)


CLASSIC_PRESETS = {
    "resnet-18": lambda: _resnet("resnet-18", RESNET18_BLOCKS),
    "resnet-50": lambda: _resnet("resnet-50", RESNET50_BLOCKS),
    "mobilenet-v1": lambda: NetSpec(
        blocks=tuple(parse_block(b) for b in MOBILENET_V1_BLOCKS), stem_chs=32, head_chs=0, resolution=224,
        act="relu", dropout=0.0, drop_connect=0.0, name="mobilenet-v1"),
    "mobilenet-v2": lambda: NetSpec(
        blocks=tuple(parse_block(b) for b in MOBILENET_V2_BLOCKS), stem_chs=32, head_chs=1280, resolution=224,
        act="relu6", dropout=0.2, drop_connect=0.0, name="mobilenet-v2"),
}
