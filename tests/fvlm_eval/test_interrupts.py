"""SIGTERM as Ctrl-C: raised once, then, while the stop is carried out, a repeated SIGTERM changes nothing;
Ctrl-C by the same handler: never lost in a finalizer, and nothing once the command has ended."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fvlm_eval.interrupts import Terminated, now_stopping, sigterm_received, stops_as_interrupts, stops_held


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
    with stops_as_interrupts():
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
    with stops_as_interrupts():
        for _ in range(2):
            with pytest.raises(Terminated):
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(1000):
                    pass
    with stops_as_interrupts():  # a new command starts afresh
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

    with stops_as_interrupts():
        with pytest.raises(Terminated):
            Finalized()  # collected at once: its __del__ gets the signal
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)


def test_a_ctrl_c_that_lands_in_a_finalizer_is_raised_after_it_not_printed_and_lost(capfd):
    """Python's own handler raised it inside the __del__: "Exception ignored ... KeyboardInterrupt" on
    stderr, and the command ran on to exit 0."""
    import time

    class Finalized:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass

    with stops_as_interrupts():
        with pytest.raises(KeyboardInterrupt) as stopped:
            Finalized()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                time.sleep(0.01)
        assert not isinstance(stopped.value, Terminated) and not sigterm_received()
    assert "Exception ignored" not in capfd.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_ctrl_c_in_a_held_section_is_raised_on_the_way_out():
    with stops_as_interrupts():
        with pytest.raises(KeyboardInterrupt) as stopped:
            with stops_held():
                os.kill(os.getpid(), signal.SIGINT)
                for _ in range(1000):  # not raised here
                    pass
                reached = True
        assert reached and not isinstance(stopped.value, Terminated)


def test_a_programs_own_ctrl_c_handler_is_kept():
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with stops_as_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


def test_after_the_command_has_ended_a_signal_changes_nothing():
    """Python puts back SIGINT's default action late in its shutdown: one that came then killed the process
    (exit -2) after a command that had succeeded."""
    import subprocess
    import sys

    code = (
        "import os, signal, time\n"
        "from fvlm_eval.__main__ import _settled\n"
        "_settled()\n"
        "os.kill(os.getpid(), signal.SIGINT); os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(0.2); print('ended as the command said')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ended as the command said" and not done.stderr


def test_a_ctrl_c_caught_inside_exec_does_not_kill_python_m_at_exit(tmp_path):
    """A KeyboardInterrupt that left code ``exec`` ran from a string (dataclasses makes every ``__init__``
    so) marks the interpreter; under ``python -m`` CPython then killed itself with SIGINT at exit (-2),
    though the command had caught the Ctrl-C and said so."""
    import subprocess
    import sys

    (tmp_path / "caught_in_exec.py").write_text(
        "import sys\n"
        "from fvlm_eval.__main__ import _settled\n"
        "try:\n"
        "    exec('raise KeyboardInterrupt')\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted; said so')\n"
        "_settled()\n"
        "sys.exit(130)\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "caught_in_exec"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 130 and done.stdout.strip() == "interrupted; said so", done.stderr[-2000:]
