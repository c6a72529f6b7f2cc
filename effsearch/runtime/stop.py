"""One stop mechanism for every stage: a stop event, checked where work can stop cleanly.

The first Ctrl-C or SIGTERM only *requests* a stop: the handler sets an event and returns. The
training loop checks it before every step, the search loop before every trial and while it waits
for workers, and the grid through a Ray Tune callback; each raises :class:`Stopped` there, the
stage saves what it completed (trials in flight are queued again), and the CLI exits 130 saying how
to resume. A second signal forces: it raises ``KeyboardInterrupt`` wherever the main thread is.

Because the first signal raises nothing, it cannot be lost: Python ignores an exception raised in a
finalizer or weakref callback, which is where a handler that raised ``KeyboardInterrupt`` used to
land when garbage collection ran at the wrong moment. Library code never installs the handlers
itself; the CLI does (:func:`stop_on_signals`), and a Python user's Ctrl-C stays the plain
``KeyboardInterrupt``, which every stage also saves on. :func:`request_stop` asks from code.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """A requested stop, raised at a point where the work can be saved (a ``KeyboardInterrupt``)."""


class _State:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.hooks: list[Callable[[], None]] = []
        self.signal: int | None = None


_state = _State()


def requested() -> bool:
    """Whether a stop was requested (and not yet cleared)."""
    return _state.event.is_set()


def check() -> None:
    """Raise :class:`Stopped` if a stop was requested; call it where the work can stop cleanly."""
    if _state.event.is_set():
        raise Stopped(f"stopped on request ({_signal_name()})")


def request_stop(signum: int | None = None) -> None:
    """Ask every running stage to stop at its next check (what the first signal does)."""
    _state.signal = signum
    _state.event.set()
    for hook in list(_state.hooks):
        with contextlib.suppress(Exception):  # a hook must never break the handler
            hook()


def clear() -> None:
    """Forget a request (a new command in the same process starts unstopped)."""
    _state.event.clear()
    _state.signal = None


@contextlib.contextmanager
def on_request(hook: Callable[[], None]) -> Iterator[None]:
    """Within the block, also call ``hook()`` when a stop is requested (e.g. to tell Ray Tune)."""
    _state.hooks.append(hook)
    try:
        if _state.event.is_set():
            hook()
        yield
    finally:
        _state.hooks.remove(hook)


def handling_signals() -> bool:
    """Whether :func:`stop_on_signals` handles Ctrl-C in this process right now."""
    return signal.getsignal(signal.SIGINT) is _handler


def _signal_name() -> str:
    return signal.Signals(_state.signal).name if _state.signal is not None else "requested"


def _handler(signum: int, frame: Any) -> None:
    if _state.event.is_set():
        raise KeyboardInterrupt  # the second signal forces
    request_stop(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM request a stop (the first) or force one (the second)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    clear()
    previous = {s: signal.signal(s, _handler) for s in _SIGNALS}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        clear()
