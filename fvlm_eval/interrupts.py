"""Stops from outside: Ctrl-C (SIGINT) and SIGTERM end a run alike, records kept, one line on how to resume.

SIGTERM is what ``timeout``, Kubernetes, SLURM and CI cancellation send first. While the CLI or a
run is in progress it is raised in the main thread as ``Terminated``, a ``KeyboardInterrupt``, so
every path that keeps the records on Ctrl-C keeps them on SIGTERM too. The exit code says which:
130 (128 + SIGINT) for Ctrl-C, 143 (128 + SIGTERM) for SIGTERM. Both are raised by one handler that
never raises inside a ``__del__`` (there Python would print "Exception ignored" with a traceback and
drop the stop: the command would run on to exit 0), nor inside a held section, nor twice. A program
that installed its own handler for either (a training loop under SLURM, a notebook) keeps it.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from fvlm_eval.errors import ExitCode


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's ``KeyboardInterrupt`` would be."""


def exit_code_of(interrupt: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (also when click re-raised it as its ``Abort``)."""
    while interrupt is not None:
        if isinstance(interrupt, Terminated):
            return ExitCode.TERMINATED
        interrupt = interrupt.__cause__ or interrupt.__context__
    return ExitCode.INTERRUPTED


_SIGCHLD_SAVED: list = []  # torch's SIGCHLD handler, set aside while a SIGTERM or Ctrl-C stops this process
_HELD = {"depth": 0, "pending": 0}  # pending: the signal number that came inside a held section
_RECEIVED: list = []  # a SIGTERM came: typer turns any KeyboardInterrupt into its own exit code 130


_STOPPING: list = []  # the stop has been caught and is being carried out: a repeated SIGTERM changes nothing


def sigterm_received() -> bool:
    """Whether a SIGTERM reached ``stops_as_interrupts`` in this process."""
    return bool(_RECEIVED)


def now_stopping() -> None:
    """Called where a Ctrl-C or SIGTERM is caught and the stop carried out (records kept, one line said).
    A SIGTERM after this (torchrun sends its own to every rank it is stopping) is not raised again: raised
    in a clean-up (a ``__del__``) it could only print "Exception ignored" and a traceback."""
    _STOPPING.append(True)


@contextmanager
def stops_held():
    """A SIGTERM or Ctrl-C that comes inside is raised on the way out: inside is where no exception may
    land (forking workers: it would be lost in a fork hook, or leave a half-built DataLoader iterator)."""
    _HELD["depth"] += 1
    try:
        yield
    finally:
        _HELD["depth"] -= 1
        if not _HELD["depth"] and _HELD["pending"]:
            signum, _HELD["pending"] = _HELD["pending"], 0
            raise _stop(signum)


def _stop(signum: int) -> KeyboardInterrupt:
    import signal

    return Terminated("terminated (SIGTERM)") if signum == signal.SIGTERM else KeyboardInterrupt()


def _raise_stop(signum, frame) -> None:
    """SIGTERM or SIGINT: raised in the main thread as ``Terminated`` or ``KeyboardInterrupt``."""
    import signal

    if signum == signal.SIGTERM:
        _RECEIVED.append(signum)
    if _STOPPING:
        return
    # The decoding workers may get the same SIGTERM (sent to the whole process group: SLURM, torchrun),
    # and die of it before they can leave quietly; the DataLoader's SIGCHLD handler would then raise
    # "worker killed by signal" in the middle of the clean-up. Ending with us is no error now.
    if hasattr(signal, "SIGCHLD") and not _SIGCHLD_SAVED:
        _SIGCHLD_SAVED.append(signal.signal(signal.SIGCHLD, signal.SIG_DFL))
    if _HELD["depth"]:
        _HELD["pending"] = _HELD["pending"] or signum
        return
    if _in_a_finalizer(frame):  # raised there, it would be printed as "Exception ignored" and lost
        import threading

        threading.Timer(FINALIZER_RETRY_SECONDS, os.kill, (os.getpid(), signum)).start()
        return
    raise _stop(signum)


FINALIZER_RETRY_SECONDS = 0.05


def _in_a_finalizer(frame) -> bool:
    """Whether ``frame`` runs inside a ``__del__`` (the garbage collector calls them anywhere)."""
    while frame is not None:
        if frame.f_code.co_name == "__del__":
            return True
        frame = frame.f_back
    return False


def _in_forked_child() -> None:
    """A forked child (a worker) is not the process the user stops: it does not inherit the handler."""
    import signal

    if signal.getsignal(signal.SIGTERM) is _raise_stop:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) is _raise_stop:
        signal.signal(signal.SIGINT, signal.default_int_handler)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_in_forked_child)


@contextmanager
def stops_as_interrupts():
    """Inside: SIGTERM raises ``Terminated`` and Ctrl-C ``KeyboardInterrupt`` in the main thread, never
    inside a ``__del__`` (see the module doc). Left as they are in another thread, or where the program
    handles SIGTERM itself (then Ctrl-C too is left to Python's own handler)."""
    import signal
    import threading

    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return
    _RECEIVED.clear()
    _STOPPING.clear()
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    interrupt = signal.getsignal(signal.SIGINT)
    ours = interrupt is signal.default_int_handler  # a notebook's or a program's own handler is kept
    if ours:
        signal.signal(signal.SIGINT, _raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if ours:
            signal.signal(signal.SIGINT, interrupt)
        if _SIGCHLD_SAVED:
            signal.signal(signal.SIGCHLD, _SIGCHLD_SAVED.pop())
