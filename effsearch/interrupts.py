"""Ctrl-C and SIGTERM as ``KeyboardInterrupt``, delivered again until the code that saves sees it.

Python raises a signal handler's exception in whatever Python code runs when the signal arrives.
When that code is a finalizer or a weakref callback (garbage collection runs them at arbitrary
points, often while a new trial allocates its model), Python prints "Exception ignored" and carries
on: the interrupt is lost and the search runs to its end. So once a stop is requested, a helper
thread signals the main thread again every ``RETRY_S`` seconds until :func:`acknowledge` is called
by whoever catches the interrupt and starts saving. Redeliveries that cross the acknowledgement are
dropped, so they never interrupt the saving itself.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

RETRY_S = 0.25
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _State:
    def __init__(self) -> None:
        self.acknowledged = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = 0  # redeliveries sent and not yet seen by the handler
        self.thread: threading.Thread | None = None

    def redeliver(self, signum: int) -> None:
        main = threading.main_thread().ident
        while not self.acknowledged.wait(RETRY_S):
            with self.lock:
                self.in_flight += 1
            signal.pthread_kill(main, signum)


_state = _State()


def _request_stop(signum: int, frame: Any) -> None:
    with _state.lock:
        echo = _state.in_flight > 0
        _state.in_flight = max(0, _state.in_flight - 1)
    if echo and _state.acknowledged.is_set():
        return  # our own redelivery, arriving after the interrupt was caught
    if _state.thread is None:
        _state.acknowledged.clear()
        _state.thread = threading.Thread(target=_state.redeliver, args=(signum,), name="effsearch-interrupt", daemon=True)
        _state.thread.start()
    raise KeyboardInterrupt


def acknowledge() -> None:
    """The interrupt was caught and is being handled: stop delivering it."""
    _state.acknowledged.set()


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, Ctrl-C and SIGTERM (a scheduler, ``kill``) raise ``KeyboardInterrupt`` reliably."""
    global _state
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return
    _state = _State()
    previous = {s: signal.signal(s, _request_stop) for s in _SIGNALS}
    try:
        yield
    finally:
        acknowledge()
        if _state.thread is not None:
            _state.thread.join()
        for s, handler in previous.items():
            signal.signal(s, handler)
