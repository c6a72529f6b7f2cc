"""Which network a training trains: the spec as given, fitted to the data, or adapted like the proxy's.

Pure arithmetic on specs (no torch).
"""

from __future__ import annotations

from typing import Any

from effsearch.arch.spec import NetSpec
from effsearch.engine.adapt import adapt_for_proxy
from effsearch.train.folder import TrainError

MODES = ("as-is", "fit", "adapt")


def network_for(spec: NetSpec, data: Any, *, resolution: int | None = None, mode: str = "as-is",
                drop: int | None = None) -> NetSpec:
    """The network to train on ``data``.

    * ``as-is``: ``spec`` itself at ``resolution`` (default its deployment resolution); its classes and
      input channels must be the data's;
    * ``fit``: the same with a classifier for the data's classes and a stem for its channels;
    * ``adapt``: what the search's proxy trains, :func:`~effsearch.engine.adapt.adapt_for_proxy` at
      ``resolution`` (default the data set's proxy resolution): fitted, and the earliest strides
      dropped so small images keep a feature map to the end (``drop``: exactly that many, the
      baseline's, for a network scaled from it; see :func:`~effsearch.engine.adapt.strides_for_proxy`).
    """
    if mode not in MODES:
        raise TrainError(f"network mode {mode!r} is unknown; use one of {', '.join(MODES)}")
    if mode == "adapt":
        return adapt_for_proxy(spec, resolution or data.default_resolution, num_classes=data.num_classes, in_chans=data.in_chans,
                               drop=drop)
    net = spec.replace(resolution=int(resolution or spec.resolution))
    if mode == "fit":
        return net.replace(num_classes=data.num_classes, in_chans=data.in_chans)
    check_fits(net, data)
    return net


def mismatch(spec: NetSpec, data: Any) -> str | None:
    """What about ``spec`` does not fit ``data`` (classes, input channels), or None."""
    parts = []
    if spec.num_classes != data.num_classes:
        parts.append(f"{spec.num_classes} classes where {data.name} has {data.num_classes}")
    if spec.in_chans != data.in_chans:
        parts.append(f"{spec.in_chans} input channel(s) where {data.name} has {data.in_chans}")
    return None if not parts else f"{spec.name or 'the spec'} has {' and '.join(parts)}"


def check_fits(spec: NetSpec, data: Any) -> None:
    problem = mismatch(spec, data)
    if problem:
        raise TrainError(f"{problem}; train it fitted to the data (mode fit) or adapted like the proxy (mode adapt)")
