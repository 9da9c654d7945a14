"""Printing to a stdout that may close early: ``fvlm-eval run ... | head -1``.

rich's Console ends the process (SystemExit 1, nothing said) on the first write to a closed pipe,
which would stop a run halfway. Consoles made here write through ``PipeSafeStdout``: the first
BrokenPipeError points stdout at /dev/null (so later prints, and Python's own flush at exit,
cost nothing), is remembered, and the command goes on; ``cli.main`` then says so in one stderr line.
Plain lines go through ``echo`` (``report``, ``track``, ``benchmarks``). ``cli.main`` puts stderr behind
``PipeSafeStream`` for the same reason (``2>&1 | head -1``: the reader of both is gone), and stdout too, for
what click prints itself (``--help``, ``--version``). A stdout whose encoding cannot hold a character (``LC_ALL=C``
without UTF-8 coercion, ``PYTHONIOENCODING=ascii``, a latin-1 locale, Windows' cp1252) gets an ASCII stand-in
for it (``STAND_INS``; ``?`` for the rest): the output is degraded, never the command's result or exit code.
"""

from __future__ import annotations

import codecs
import os
import sys

_closed_early = False

STAND_INS = {  # what fvlm-eval prints beyond ASCII, as a stdout that cannot encode it shows it
    "\u26a0": "!",  # ⚠
    "\u2500": "-",  # ─
    "\u2501": "-",  # ━
    "\u00b7": "*",  # ·
    "\u2022": "-",  # • (rich's Markdown bullet)
    "\u2192": "->",  # →
    "\u2026": "...",  # …
    "\u2605": "*",  # ★
    "\u00b1": "+/-",  # ±
    "\u00d7": "x",  # ×
    "\u00f7": "/",  # ÷
    "\u2014": "--",  # —
    "\u2013": "-",  # –
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u23ce": "\\n",  # ⏎
}
STAND_IN_ERRORS = "fvlm_eval.stand_ins"


def _stand_ins(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: each character the encoding cannot hold as its ASCII stand-in, else ``?``."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return "".join(STAND_INS.get(c, "?") for c in error.object[error.start : error.end]), error.end


codecs.register_error(STAND_IN_ERRORS, _stand_ins)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can write it: every character it cannot hold given its stand-in."""
    try:
        codecs.lookup(encoding or "utf-8")
    except LookupError:  # a stream that names no codec Python knows: plain ASCII
        encoding = "ascii"
    encoding = encoding or "utf-8"
    try:
        return text.encode(encoding, STAND_IN_ERRORS).decode(encoding)
    except UnicodeError:  # a stand-in the codec cannot hold either: its own replacement character
        return text.encode(encoding, "replace").decode(encoding, "replace")


def _written(stream, text: str) -> int:
    """``stream.write(text)``; where the stream's encoding cannot hold a character, with its stand-in. An encoder
    fails before anything is written, so nothing is written twice. BrokenPipeError is the caller's."""
    try:
        return stream.write(text)
    except UnicodeEncodeError:
        return stream.write(encodable(text, getattr(stream, "encoding", None)))


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
                return _written(sys.stdout, text)
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


class PipeSafeStream:
    """``sys.stderr`` (and ``sys.stdout``) while a command runs: a reader that left (``fvlm-eval run ... 2>&1 |
    head -1``, ``fvlm-eval --help | true``) makes the first failed write point the stream's descriptor at
    /dev/null, and later lines are dropped, so a warning, a progress line or click's own help never turns a
    finished command into exit 1 (click ended help and version with exit 1 on EPIPE). Stdout's loss is
    remembered (``stdout_closed_early``), for the note ``cli.main`` gives. A character the stream's encoding
    cannot hold gets its stand-in (``encodable``)."""

    def __init__(self, stream, stdout: bool = False):
        self._stream = stream
        self._stdout = stdout
        self._closed = False

    def _dropped(self) -> bool:
        return self._closed or (self._stdout and _closed_early)

    def write(self, text: str) -> int:
        if not self._dropped():
            try:
                return _written(self._stream, text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        if not self._dropped():
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        global _closed_early
        self._closed = True
        _closed_early = _closed_early or self._stdout
        _to_devnull(self._stream)

    def __getattr__(self, name: str):  # isatty, fileno, encoding...: those of the real stream
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
