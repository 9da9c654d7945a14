"""Stops from outside: Ctrl-C (SIGINT) and SIGTERM end a run alike, records kept, one line on how to resume.

SIGTERM is what ``timeout``, Kubernetes, SLURM and CI cancellation send first. While the CLI or a
run is in progress it is raised in the main thread as ``Terminated``, a ``KeyboardInterrupt``, so
every path that keeps the records on Ctrl-C keeps them on SIGTERM too. The exit code says which:
130 (128 + SIGINT) for Ctrl-C, 143 (128 + SIGTERM) for SIGTERM. A program that installed its own
SIGTERM handler (a training loop under SLURM) keeps it.
"""

from __future__ import annotations

from contextlib import contextmanager

EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143
INTERRUPT_EXIT_CODES = (EXIT_INTERRUPTED, EXIT_TERMINATED)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's ``KeyboardInterrupt`` would be."""


def exit_code_of(interrupt: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (also when click re-raised it as its ``Abort``)."""
    while interrupt is not None:
        if isinstance(interrupt, Terminated):
            return EXIT_TERMINATED
        interrupt = interrupt.__cause__ or interrupt.__context__
    return EXIT_INTERRUPTED


def _raise_terminated(signum, frame) -> None:
    raise Terminated("terminated (SIGTERM)")


@contextmanager
def sigterm_as_interrupt():
    """Inside: SIGTERM raises ``Terminated`` in the main thread. Left as it is in another thread, or when
    the program handles SIGTERM itself."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
