"""Batch norm fused with its activation, for training proxy networks on CPU.

In an EfficientNet-B0 proxy step at 16 px, batch norm and SiLU were a third of the time, nearly
all of it spent streaming the large expanded feature maps through memory (benchmarks/README.md).
:class:`FusedConvBnAct` runs a ``ConvBnAct``'s batch norm and activation as one small C kernel
(``effsearch/engine/kernels/bn_act.c``) over the channels_last layout: two passes over the map forward
instead of five, and four instead of eight backward. It is the same computation - batch statistics,
biased variance to normalise, unbiased variance for the running estimate, PyTorch's momentum
convention - with float rounding in other places, so results match PyTorch's to about 1e-6, not
bit for bit; a given thread count is deterministic run to run.

The kernel is compiled on first use with the system C compiler (``cc -O3 -march=native -fopenmp``,
about half a second) into ``~/.cache/effsearch/kernels`` (``$EFFSEARCH_CACHE``), keyed by the
source, the compiler and the processor's instruction sets, so a shared home directory across
different machines stays safe. Without a compiler the ``fused`` path is unavailable and ``auto``
chooses among the others. The kernel's OpenMP regions run in torch's own thread pool (see
:func:`kernel_threads`), so ``torch.set_num_threads`` governs them too.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
from pathlib import Path

import torch
from torch import nn

from effsearch.arch.blocks import ConvBnAct
from effsearch.engine.memo import cache_dir, cpu_flags
from effsearch.runtime.files import atomic_path

_SOURCE = Path(__file__).with_name("bn_act.c")
_FLAGS = ("-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-fno-trapping-math", "-shared", "-fPIC")
_F = ctypes.POINTER(ctypes.c_float)
_I = ctypes.c_int64


def _compile(cc: str, target: Path) -> None:
    # A name of its own, then an atomic rename: processes that build at once never load half a library.
    with atomic_path(target) as out:
        subprocess.run([cc, *_FLAGS, "-o", str(out), str(_SOURCE)], check=True, capture_output=True, timeout=120)


@functools.lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled kernel, or None when it cannot be built here (PyTorch's path is used)."""
    if platform.system() != "Linux":  # the build flags and the shared OpenMP runtime are Linux's
        return None
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        return None
    try:
        version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
        key = hashlib.sha256("\n".join([_SOURCE.read_text(), " ".join(_FLAGS), version, cpu_flags(),
                                        platform.machine()]).encode()).hexdigest()[:16]
        target = cache_dir() / f"bn_act-{key}.so"
        if not target.exists():
            _compile(cc, target)
        lib = ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
    lib.bn_act_train_forward.argtypes = [_F, _F, _I, _I, _F, _F, ctypes.c_double, ctypes.c_double, _F, _F, _F, _F, _F,
                                         ctypes.c_int]
    lib.bn_act_train_backward.argtypes = [_F, _F, _F, _I, _I, _F, _F, _F, _F, ctypes.c_int, _F, _F]
    lib.bn_act_threads.restype = ctypes.c_int
    return lib


def _f(t: torch.Tensor | None):
    return None if t is None else ctypes.cast(t.data_ptr(), _F)


def _rows(x: torch.Tensor) -> tuple[int, int]:
    n, c, h, w = x.shape
    return n * h * w, c


def _momentum(bn: nn.BatchNorm2d) -> float:
    """PyTorch's convention: ``momentum`` weights the new batch; None means a cumulative average."""
    bn.num_batches_tracked.add_(1)
    return bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)


class _BnActFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, bn: nn.BatchNorm2d, relu: bool):
        m, c = _rows(x)
        running = bn.track_running_stats and bn.running_mean is not None
        momentum = _momentum(bn) if running else 0.0
        y = torch.empty_like(x)
        mu, a, invstd = torch.empty(3, c).unbind(0)
        if library().bn_act_train_forward(_f(x), _f(y), m, c, _f(weight), _f(bias), bn.eps, momentum,
                                          _f(bn.running_mean if running else None), _f(bn.running_var if running else None),
                                          _f(mu), _f(a), _f(invstd), int(relu)):
            raise MemoryError("fused batch norm: out of memory for its partial sums")
        ctx.save_for_backward(x, bias, mu, a, invstd)
        ctx.relu = relu
        return y

    @staticmethod
    def backward(ctx, g):
        x, bias, mu, a, invstd = ctx.saved_tensors
        g = g.contiguous(memory_format=torch.channels_last)
        m, c = _rows(x)
        dx = torch.empty_like(x)
        dweight, dbias = torch.empty(2, c).unbind(0)
        if library().bn_act_train_backward(_f(g), _f(x), _f(dx), m, c, _f(mu), _f(a), _f(bias), _f(invstd),
                                           int(ctx.relu), _f(dweight), _f(dbias)):
            raise MemoryError("fused batch norm: out of memory for its partial sums")
        return dx, dweight, dbias, None, None


def _fusable(x: torch.Tensor, bn: nn.BatchNorm2d) -> bool:
    return (bn.training and x.device.type == "cpu" and x.dtype == bn.weight.dtype == torch.float32 and x.dim() == 4
            and x.is_contiguous(memory_format=torch.channels_last) and bn.affine and torch.is_grad_enabled()
            and library() is not None)


class FusedConvBnAct(ConvBnAct):
    """:class:`ConvBnAct` (same state dict) whose batch norm and activation run fused in training.

    The kernel fuses ReLU and SiLU; other activations (ReLU6) and a missing one take PyTorch's path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = getattr(self, "act", None)
        if not isinstance(act, (nn.SiLU, nn.ReLU)):
            return super().forward(x)
        x = self.conv(x)
        if not _fusable(x, self.bn):
            return act(self.bn(x))
        return _BnActFn.apply(x, self.bn.weight, self.bn.bias, self.bn, isinstance(act, nn.ReLU))


def kernel_threads() -> int | None:
    """Threads the compiled kernel's parallel regions use now (None without the kernel).

    The kernel links ``libgomp.so.1``; torch's wheel ships its own OpenMP runtime under the same
    name, loaded first, so the kernel runs in torch's thread pool and follows ``torch.set_num_threads``.
    """
    lib = library()
    return None if lib is None else int(lib.bn_act_threads())
