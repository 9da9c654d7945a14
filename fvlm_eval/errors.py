"""Exit codes, the one table, and the errors a user can act on.

Every command ends with one of these codes; every failure a user can act on is one line naming
the file, row, key or flag, raised as an ``FvlmEvalError`` that carries its code (the CLI prints
the line and exits with it; ``--debug`` adds the traceback).

| code | name | meaning |
|---|---|---|
| 0 | OK | done (``regress``: pass) |
| 1 | FAILED | data, model or write error, every question failing (``regress``: a significant drop |
|   |        | larger than ``--max-drop``) |
| 2 | USAGE | a wrong flag, name or argument; a half torchrun environment (``regress``: its verdict |
|   |       | reached but ``--output`` not writable, so never read as a verdict) |
| 3 | REFUSED | an output folder made with other settings or held by another run, a model folder not |
|   |         | overwritten (``regress``: settings or protocol differ) |
| 4 | UNUSABLE | ``regress``: runs that cannot be compared (nothing or too little shared, a folder that is not a run) |
| 5 | UNDERPOWERED | ``regress``: no significant drop, but a true drop of ``--max-drop`` would be seen < 80% |
| 130 | INTERRUPTED | Ctrl-C (records written so far are kept) |
| 143 | TERMINATED | SIGTERM (likewise) |
"""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    REFUSED = 3
    UNUSABLE = 4
    UNDERPOWERED = 5
    INTERRUPTED = 130
    TERMINATED = 143


INTERRUPT_EXIT_CODES = (ExitCode.INTERRUPTED, ExitCode.TERMINATED)


class FvlmEvalError(Exception):
    """A failure a user can act on: its message is the one line shown, ``exit_code`` the command's code."""

    exit_code: int = ExitCode.FAILED


class RecordError(FvlmEvalError, ValueError):
    """A record, summary or settings file that cannot be trusted, with the file and line."""


class SettingsError(FvlmEvalError, ValueError):
    """An argument that cannot be used, with its name and what is allowed.

    ``str(error)`` names the Python argument (``modes='fast': ...``); ``cli_message`` says the same
    with the CLI's flag (``--mode fast: ...``), for ``fvlm-eval run``."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, cli_message: str | None = None):
        super().__init__(message)
        self.cli_message = cli_message or message


class NotEvaluated(SettingsError, KeyError):
    """A (benchmark, mode) an ``Evaluation`` has no result for, a protocol a result did not measure, or a breakdown
    value it holds no questions of: a ``SettingsError`` naming what was asked and what there is (a ``KeyError``
    too, as these lookups raised)."""

    __str__ = Exception.__str__  # the message as written, not KeyError's repr of it


def exit_code_of_error(error: BaseException) -> int | None:
    """The exit code of an error a user can act on, else ``None`` (an unexpected error). The model
    package (``fvlm_model``) is fvlm-eval's neighbour, not part of it: its ``CheckpointError`` is
    known by its class, looked up only when that package is loaded."""
    if isinstance(error, FvlmEvalError):
        return int(error.exit_code)
    loading = sys.modules.get("fvlm_model.loading")
    if loading is not None and isinstance(error, loading.CheckpointError):
        return int(ExitCode.FAILED)
    return None


__all__ = ["ExitCode", "FvlmEvalError", "INTERRUPT_EXIT_CODES", "RecordError", "SettingsError", "exit_code_of_error"]
