"""The layer paths for training proxies on CPU, behind one setting: ``ProxyConfig.kernels``.

Each path is a :class:`~effsearch.arch.blocks.Layers` the builder receives, so a model is built for
its path rather than patched afterwards; all paths have PyTorch's state-dict layout.

* ``torch`` - PyTorch's own layers (activations out of place: an in-place SiLU makes autograd clone
  its input for the backward, one extra copy of every activation map per step);
* ``fast`` - exact rewrites of the depthwise and 1x1 convolutions (:mod:`~effsearch.engine.kernels.conv`)
  and of the squeeze-excitation backward (:mod:`~effsearch.engine.kernels.se`);
* ``fused`` - ``fast`` plus batch norm fused with its activation in a small compiled C kernel
  (:mod:`~effsearch.engine.kernels.bn_act`; needs a C compiler).

``auto`` (the default) takes the fastest path on the processor it meets: it is measured once per
processor, torch version and thread count (:mod:`~effsearch.engine.kernels.choice`, a few seconds)
and remembered in the cache folder. The paths agree to float rounding, not bit for bit, so the path
that trained each candidate is recorded in its metrics and a study refuses to mix paths. Off the
CPU (CUDA) every path is ``torch``.
"""

from __future__ import annotations

from effsearch.engine.kernels.choice import resolve_kernels
from effsearch.engine.kernels.paths import PATHS, available_paths, kernel_layers

__all__ = ["PATHS", "available_paths", "kernel_layers", "resolve_kernels"]
