"""``fvlm-eval``: a thin Typer front. Heavy imports (torch, transformers) happen inside commands.

Every user-facing failure is one line naming the file, row, key or flag, with its exit code (the
table: ``fvlm_eval.errors``). ``--debug`` (or ``FVLM_EVAL_DEBUG=1``) shows the Python traceback as well.
The commands live by what they do: ``run_commands`` (run, merge, demo), ``report_commands`` (report,
regress, track), ``data_commands`` (prepare, benchmarks), ``model_commands`` (export-checkpoint).
"""

from __future__ import annotations

import os
import sys

import typer

from fvlm_eval.cli.app import STOP, FvlmEvalError, app, os_error_line
from fvlm_eval.errors import INTERRUPT_EXIT_CODES, ExitCode, exit_code_of_error
from fvlm_eval.interrupts import exit_code_of, now_stopping, sigterm_received, stops_as_interrupts

# isort: off
# The commands register on import, in the order --help lists them.
from fvlm_eval.cli import run_commands, report_commands, data_commands, model_commands  # noqa: F401, E402
# isort: on


def _message(error: BaseException) -> tuple[str, int]:
    """One line for an error a user can act on, and its exit code (``errors``); ("", 0) for anything else."""
    code = exit_code_of_error(error)
    if code is not None:
        return getattr(error, "cli_message", None) or str(error), code  # the flag's words, not the argument's
    if isinstance(error, OSError) and error.errno is not None:
        return os_error_line(error), ExitCode.FAILED
    return "", 0


def main(argv: list[str] | None = None) -> int:
    """The console script: runs ``app``, turning known failures into one line and an exit code; stdout and stderr
    survive a reader that left and an encoding that cannot hold a character (``terminal.PipeSafeStream``)."""
    from fvlm_eval.terminal import PipeSafeStream, closed_streams_to_devnull

    closed_streams_to_devnull()  # `>&-`, `2>&-`: Python has no sys.stdout to print to; the command still runs
    try:
        os.getcwd()
    except FileNotFoundError:  # relative paths failed with no name; torch would not even import (oneMKL FATAL)
        if not {"-h", "--help", "--version"} & set(sys.argv[1:] if argv is None else argv):
            typer.secho(
                "error: the current folder no longer exists (deleted while the shell was in it): cd into a folder "
                "that exists, then rerun",
                fg=typer.colors.RED,
                err=True,
            )
            return ExitCode.FAILED
    original_stdout, original_stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = PipeSafeStream(original_stdout, stdout=True), PipeSafeStream(original_stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = original_stdout, original_stderr


def _main(argv: list[str] | None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get("FVLM_EVAL_DEBUG") == "1"
    args = [a for a in args if a != "--debug"]
    STOP.reported = False
    errored = None  # how the command ended where it did not run to the end (for the note on a closed stdout)
    try:
        with stops_as_interrupts():  # SIGTERM stops a command as Ctrl-C does (exit 143); neither in a __del__
            command = typer.main.get_command(app)
            code = command.main(args, prog_name="fvlm-eval", standalone_mode=False)  # an Exit comes back as its code
    except KeyboardInterrupt as interrupt:
        now_stopping()
        code = exit_code_of(interrupt)
        errored = "stopped (Ctrl-C or SIGTERM)"
    except Exception as error:
        errored = "ended by the error said above"
        if hasattr(error, "exit_code") and not isinstance(error, FvlmEvalError):  # click's usage errors and exits
            if hasattr(error, "show"):
                error.show()
            code = error.exit_code
        elif type(error).__name__ == "Abort":  # click's Ctrl-D / Ctrl-C at a prompt
            code, errored = exit_code_of(error), "stopped (Ctrl-C or SIGTERM)"
        else:
            message, code = _message(error)
            if debug:
                import traceback

                traceback.print_exc()
            if not message:
                message = (
                    f"{type(error).__name__}: {error} (an unexpected error: rerun with --debug for the "
                    "traceback, and report it)"
                )
                code = ExitCode.FAILED
            from fvlm_eval.reports.printable import printable  # a path with a line break in it: still one line

            typer.secho(f"error: {printable(message)}", fg=typer.colors.RED, err=True)
    if "fvlm_eval.terminal" in sys.modules and sys.modules["fvlm_eval.terminal"].stdout_closed_early():
        ended = "ran to the end" if errored is None or not code else f"was {errored}"
        typer.secho(
            "note: stdout was closed before the end (a reader that left, or >&-): the rest of the printed output "
            f"was dropped; the command itself {ended}",
            err=True,
            fg=typer.colors.YELLOW,
        )
    if code == ExitCode.INTERRUPTED and sigterm_received():  # typer returns 130 for any KeyboardInterrupt
        code = ExitCode.TERMINATED
    if code in INTERRUPT_EXIT_CODES and not STOP.reported:  # Ctrl-C or SIGTERM before a run could say so
        return main_interrupted(code, next((a for a in args if not a.startswith("-")), ""))
    return code if isinstance(code, int) else 0


def main_interrupted(code: int = ExitCode.INTERRUPTED, command: str = "run") -> int:
    now_stopping()
    how = "stopped by SIGTERM" if code == ExitCode.TERMINATED else "interrupted"
    kept = (
        "records written so far are kept: rerun the same command to resume"
        if command in ("run", "demo")
        else "every file it wrote is whole: rerun the same command"
    )
    typer.secho(f"{how} before `{command or 'the command'}` finished; {kept}", err=True, fg=typer.colors.YELLOW)
    return code


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["app", "main"]
