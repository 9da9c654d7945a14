"""Printing to a stdout that may close early: ``fvlm-eval run ... | head -1``.

rich's Console ends the process (SystemExit 1, nothing said) on the first write to a closed pipe,
which would stop a run halfway. Consoles made here write through ``PipeSafeStdout``: the first
BrokenPipeError points stdout at /dev/null (so later prints, and Python's own flush at exit,
cost nothing), is remembered, and the command goes on; ``cli.main`` then says so in one stderr line.
Plain lines go through ``echo`` (``report``, ``track``, ``benchmarks``). ``cli.main`` puts stderr behind
``PipeSafeStderr`` for the same reason (``2>&1 | head -1``: the reader of both is gone).
"""

from __future__ import annotations

import os
import sys

_closed_early = False


def stdout_closed_early() -> bool:
    """Whether a write to stdout found its reader gone during this process."""
    return _closed_early


def _to_devnull(stream) -> None:
    """Point ``stream``'s descriptor at /dev/null: later writes, and Python's own flush at exit, cost nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no file descriptor behind it (a test's capture): nothing to do
        pass


def closed_streams_to_devnull() -> None:
    """A command started with stdout or stderr closed (``>&-``) finds ``sys.stdout`` (``sys.stderr``) ``None``:
    the first print raised AttributeError, a run stopped before its summaries and regress exited 1, the code of
    a significant drop. Each is opened on /dev/null instead (taking the closed descriptor: workers inherit it), and
    a closed stdout counts as one closed early, said once on stderr."""
    global _closed_early
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115: the process's own stream
            _closed_early = _closed_early or name == "stdout"


def _drop_stdout() -> None:
    global _closed_early
    _closed_early = True
    _to_devnull(sys.stdout)


class PipeSafeStdout:
    """``sys.stdout`` for a rich Console, minus the broken pipe: writes after the reader left are dropped."""

    def write(self, text: str) -> int:
        if not _closed_early:
            try:
                return sys.stdout.write(text)
            except BrokenPipeError:
                _drop_stdout()
        return len(text)

    def flush(self) -> None:
        if not _closed_early:
            try:
                sys.stdout.flush()
            except BrokenPipeError:
                _drop_stdout()

    def __getattr__(self, name: str):  # isatty, fileno, encoding...: those of the real stdout
        return getattr(sys.stdout, name)


class PipeSafeStderr:
    """``sys.stderr`` while a command runs: a reader that left (``fvlm-eval run ... 2>&1 | head -1``) makes
    the first failed write point the stream's descriptor at /dev/null, and later lines are dropped, so a
    warning or a progress line never turns a finished command into exit 1."""

    def __init__(self, stream):
        self._stream = stream
        self._closed = False

    def write(self, text: str) -> int:
        if not self._closed:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._closed:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        self._closed = True
        _to_devnull(self._stream)

    def __getattr__(self, name: str):  # isatty, fileno, encoding...: those of the real stderr
        return getattr(self._stream, name)


def console():
    """A rich Console on stdout that survives a closed pipe, and never breaks a line of text itself:
    where stdout is not a terminal rich would wrap at 80 columns, mid-path, so a suggested command
    copied from a log (``fvlm-eval report results/runs/...``) came out in two pieces. Tables keep
    their width; a terminal wraps long lines on screen and copies them whole."""
    from rich.console import Console

    return Console(file=PipeSafeStdout(), soft_wrap=True)


def echo(text: str = "") -> None:
    """One line on stdout, as ``typer.echo`` but surviving a closed pipe (``report ... | head -1``)."""
    out = PipeSafeStdout()
    out.write(f"{text}\n")
    out.flush()
