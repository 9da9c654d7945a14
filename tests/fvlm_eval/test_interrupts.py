"""SIGTERM as Ctrl-C: raised once, then, while the stop is carried out, a repeated SIGTERM changes nothing."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fvlm_eval.interrupts import Terminated, now_stopping, sigterm_as_interrupt, sigterm_received


@pytest.fixture(autouse=True)
def main_thread_only():
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        pytest.skip("signals are handled in the main thread of a process that leaves SIGTERM to us")


def test_a_second_sigterm_while_stopping_is_not_raised_again():
    """torchrun sends its own SIGTERM to every rank it stops: one that lands in a clean-up (a __del__) once
    printed "Exception ignored" and a traceback."""
    with sigterm_as_interrupt():
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs between bytecodes
                pass
        assert sigterm_received()
        now_stopping()
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):
            pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_before_the_stop_is_caught_every_sigterm_is_raised():
    with sigterm_as_interrupt():
        for _ in range(2):
            with pytest.raises(Terminated):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
    with sigterm_as_interrupt():  # a new command starts afresh
        assert not sigterm_received()


def test_a_sigterm_that_lands_in_a_finalizer_is_raised_after_it():
    """The garbage collector runs __del__ anywhere; an exception raised there is printed and lost (a rank once
    carried on after its SIGTERM so). The stop comes a moment later, outside the finalizer."""
    import time

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGTERM)
            for _ in range(1000):  # the handler runs here, inside __del__
                pass

    with sigterm_as_interrupt():
        with pytest.raises(Terminated):
            Finalized()  # collected at once: its __del__ gets the signal
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)
