"""SIGTERM / Ctrl-C become a KeyboardInterrupt that cannot be lost in a finalizer."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from effsearch import interrupts


class _SignalledWhileFinalised:
    """Receives the signal inside ``__del__``, where Python ignores the handler's exception."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # bytecode for the handler to run in
            pass


def _wait_for_interrupt(seconds: float) -> bool:
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            time.sleep(0.01)
    except KeyboardInterrupt:
        interrupts.acknowledge()
        return True
    return False


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_swallowed_by_a_finalizer_is_delivered_again():
    with interrupts.stop_on_signals():
        obj = _SignalledWhileFinalised()
        del obj  # the first KeyboardInterrupt is raised, and ignored, inside __del__
        gc.collect()
        assert _wait_for_interrupt(5.0)
        assert not _wait_for_interrupt(3 * interrupts.RETRY_S)  # acknowledged: no more


def test_sigterm_is_an_interrupt_only_inside_the_block():
    previous = signal.getsignal(signal.SIGTERM)
    with interrupts.stop_on_signals(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)
    assert signal.getsignal(signal.SIGTERM) is previous
