"""``python -m fvlm_eval`` and the ``fvlm-eval`` console script: the CLI (also as each rank under
``torchrun --nproc-per-node N -m fvlm_eval run ...``).

The CLI's imports (typer, rich, numpy) take a moment: a Ctrl-C or SIGTERM in that moment, before the
CLI's own handling is in place, gets one line and its exit code, not a traceback from an import."""

import signal
import sys


class _StoppedWhileStarting(KeyboardInterrupt):
    pass


def _stop_while_starting(signum, frame) -> None:
    raise _StoppedWhileStarting(signum)


def console() -> int:
    term = signal.getsignal(signal.SIGTERM)
    ours = term is signal.SIG_DFL  # a program that handles SIGTERM itself keeps its handler
    if ours:
        signal.signal(signal.SIGTERM, _stop_while_starting)
    try:
        from fvlm_eval.cli import main
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, _StoppedWhileStarting)
        sys.stderr.write(
            f"{'stopped by SIGTERM' if terminated else 'interrupted'} while starting; nothing was written: "
            "rerun the same command\n"
        )
        return 143 if terminated else 130
    finally:
        if ours:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    code = main()
    _settled()
    return code


def _settled() -> None:
    """The command has ended and said so: a Ctrl-C or SIGTERM while the interpreter shuts down changes
    nothing. Python puts back the default action of a signal it handled late in its shutdown (signals
    reach any thread), where one would kill the process after a command that succeeded (exit -2, or a
    traceback from a finalizer): from here both are ignored, and the exit code is the command's.

    And a Ctrl-C the command caught is forgotten: one raised inside code that ``exec`` ran from a string
    (dataclasses builds every ``__init__`` so) marks the interpreter, and under ``python -m`` (torchrun
    too) CPython then ends by killing itself with SIGINT, whatever the exit code (exit -2 after our
    line). Each ``exec`` of a string clears that mark first: an empty one clears it."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    exec("")


if __name__ == "__main__":
    sys.exit(console())
