"""Parameters and MACs of one layer of each built-in op, in plain integers (no torch).

Each function has the registry's cost signature, ``(in_chs, out_chs, kernel, stride, exp_ratio,
se_ratio, in_size) -> (params, MACs)``, and follows :mod:`effsearch.arch.cost`'s convention: a
convolution costs its weights times its output pixels, batch norm 2 parameters per channel and 2
MACs per element; biases, activations, the SE gate multiply and residual adds cost no MACs. They
run for every candidate of a search, so the sums are unrolled (``tests/test_cost.py`` and
``tests/test_classic.py`` check them against the readable helpers of :mod:`effsearch.arch.cost`).
"""

from __future__ import annotations


def se_width(in_chs: int, se_ratio: float) -> int:
    """SE bottleneck width, reduced from the layer's *input* channels (official behaviour); 0 without SE."""
    return max(1, int(in_chs * se_ratio)) if se_ratio > 0 else 0


def _se_cost(mid: int, rd: int) -> tuple[int, int]:
    # SE: reduce and expand 1x1 convs with biases, on a 1x1 map.
    return (2 * rd * mid + rd + mid, 2 * rd * mid) if rd else (0, 0)


def _out(in_size: int, stride: int) -> int:
    return -(-in_size // stride)  # ceil(in_size / stride): same-style padding


def inverted_residual_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float,
                           se_ratio: float, in_size: int) -> tuple[int, int]:
    """Optional 1x1 expansion at the input size, depthwise kxk, SE, 1x1 projection; BN after each conv.

    Also the cost of a depthwise-separable layer (``ds``, ``sep``: exp_ratio 1, an activation more or
    less costs nothing).
    """
    size = _out(in_size, stride)
    area = size * size
    mid = max(1, round(in_chs * exp_ratio))
    params, macs = _se_cost(mid, se_width(in_chs, se_ratio))
    if exp_ratio != 1:
        w = mid * in_chs
        params += w + 2 * mid
        macs += (w + 2 * mid) * in_size * in_size
    w_dw, w_pw = mid * kernel * kernel, out_chs * mid
    params += w_dw + 2 * mid + w_pw + 2 * out_chs
    return params, macs + (w_dw + 2 * mid + w_pw + 2 * out_chs) * area


def conv_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float, se_ratio: float,
              in_size: int) -> tuple[int, int]:
    """A plain kxk conv + BN + activation, with SE on its output."""
    size = _out(in_size, stride)
    params, macs = _se_cost(out_chs, se_width(in_chs, se_ratio))
    w = out_chs * in_chs * kernel * kernel
    return params + w + 2 * out_chs, macs + (w + 2 * out_chs) * size * size


def projection_cost(in_chs: int, out_chs: int, stride: int, in_size: int) -> tuple[int, int]:
    """A ResNet shortcut: nothing where it is the identity, else a 1x1 conv (stride) + BN."""
    if stride == 1 and in_chs == out_chs:
        return 0, 0
    size = _out(in_size, stride)
    w = in_chs * out_chs
    return w + 2 * out_chs, (w + 2 * out_chs) * size * size


def basic_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float, se_ratio: float,
               in_size: int) -> tuple[int, int]:
    """ResNet's basic block without its shortcut (:func:`projection_cost`): kxk conv (stride) + BN, kxk conv + BN."""
    size = _out(in_size, stride)
    w = (in_chs + out_chs) * out_chs * kernel * kernel
    return w + 4 * out_chs, (w + 4 * out_chs) * size * size


def bottleneck_mid(out_chs: int, exp_ratio: float) -> int:
    """A bottleneck's inner width: its output over the expansion (ResNet-50: 256 / 4 = 64)."""
    return max(1, round(out_chs / exp_ratio))


def bottleneck_cost(in_chs: int, out_chs: int, kernel: int, stride: int, exp_ratio: float, se_ratio: float,
                    in_size: int) -> tuple[int, int]:
    """ResNet v1.5 bottleneck without its shortcut: 1x1 + BN at the input size, kxk (stride) + BN, 1x1 + BN."""
    size = _out(in_size, stride)
    mid = bottleneck_mid(out_chs, exp_ratio)
    w_in = in_chs * mid
    w_rest = mid * mid * kernel * kernel + mid * out_chs
    params = w_in + w_rest + 4 * mid + 2 * out_chs
    return params, (w_in + 2 * mid) * in_size * in_size + (w_rest + 2 * mid + 2 * out_chs) * size * size
