"""The stop mechanism: the first signal requests a stop (it cannot be lost), the second forces one."""

from __future__ import annotations

import gc
import os
import signal
import time

import pytest

from effsearch.runtime import stop


class _SignalledWhileFinalised:
    """Receives the signal inside ``__del__``, where Python ignores any exception a handler raises."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10_000):  # bytecode for the handler to run in
            pass


def _wait_until_requested(seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if stop.requested():
            return True
        time.sleep(0.01)
    return False


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_signal_that_arrives_in_a_finalizer_still_stops_the_run():
    with stop.stop_on_signals():
        obj = _SignalledWhileFinalised()
        del obj
        gc.collect()
        assert _wait_until_requested(5.0)
        with pytest.raises(stop.Stopped):
            stop.check()  # the next check point raises, where the run can save


def test_the_first_signal_requests_the_second_forces_and_handlers_are_restored():
    previous = signal.getsignal(signal.SIGTERM)
    with stop.stop_on_signals():
        assert stop.handling_signals() and not stop.requested()
        stop.check()  # nothing requested: a no-op
        os.kill(os.getpid(), signal.SIGTERM)
        assert _wait_until_requested(2.0)  # no exception: the run goes on to its next check
        with pytest.raises(KeyboardInterrupt) as info:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        assert not isinstance(info.value, stop.Stopped)  # forced, not a checked stop
    assert signal.getsignal(signal.SIGTERM) is previous and not stop.requested() and not stop.handling_signals()


def test_hooks_hear_a_request_made_from_code():
    heard = []
    with stop.on_request(lambda: heard.append(1)):
        stop.request_stop()
    try:
        assert heard == [1] and stop.requested()
        with pytest.raises(stop.Stopped, match="requested"):
            stop.check()
    finally:
        stop.clear()
    assert not stop.requested()
