"""The CLI's Typer app, what its commands share, and help that reads well: one line per failure (``UserError``,
exit code from ``fvlm_eval.errors``), the benchmark and family names read from their registries."""

from __future__ import annotations

import dataclasses

import typer

from fvlm_eval.errors import ExitCode, FvlmEvalError
from fvlm_eval.models import FAMILIES
from fvlm_eval.tasks import BENCHMARKS

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Evaluate video-language model checkpoints (fVLM, SmolVLM2) on video and image benchmarks.",
)


@dataclasses.dataclass
class Stop:
    """Whether a command that stopped on Ctrl-C or SIGTERM has said so itself (then ``main`` says nothing more)."""

    reported: bool = False


STOP = Stop()


class UserError(FvlmEvalError):
    """A failure the user can act on: shown as one line, exit ``code``."""

    def __init__(self, message: str, code: int = ExitCode.FAILED):
        super().__init__(message)
        self.exit_code = code


def fail(message: str, code: int = ExitCode.USAGE) -> None:
    raise UserError(message, code)


def benchmark_names(names: list[str]) -> tuple[str, ...]:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        fail(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return tuple(dict.fromkeys(names))


def known_benchmarks(joiner: str = ", ") -> str:
    return joiner.join(BENCHMARKS)


def known_families(joiner: str = " or ") -> str:
    return joiner.join(FAMILIES)


def _show_version(value: bool) -> None:
    if value:
        from fvlm_eval import __version__

        typer.echo(f"fvlm-eval {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", is_eager=True, callback=_show_version, help="print the version and exit"
    ),
    debug: bool = typer.Option(
        False, "--debug", help="show the Python traceback of an error (also FVLM_EVAL_DEBUG=1); may follow any command"
    ),
) -> None:
    """Evaluate video-language model checkpoints (fVLM, SmolVLM2) on video and image benchmarks."""


def readable_help() -> None:
    """Typer prints a type for every parameter (``<bool>`` beside a flag, ``<list[Path]>``,
    ``{benchmarks}...``): show the metavar given, a plain word for a type, nothing for a flag."""
    from typer import core

    words = {
        "int": "N",
        "int range": "N",
        "float": "NUMBER",
        "float range": "NUMBER",
        "Path": "PATH",
        "path": "PATH",
        "str": "TEXT",
        "file": "FILE",
        "directory": "DIR",
    }
    original = core._TyperParameter.display_type

    def option_type(self, ctx):
        if getattr(self, "is_flag", False):
            return None
        if self.metavar:
            return self.metavar
        label = str(original(self, ctx)).strip("<>")
        many = label.startswith("list[")
        label = label[5:-1] if many else label
        return words.get(label, label.upper()) + ("..." if many else "")

    def argument_name(self):
        return self.metavar or self.name.upper()

    def argument_usage(self):
        name = argument_name(self)
        name = name if self.nargs == 1 or name.endswith("...") else f"{name}..."
        return name if self.required else f"[{name}]"

    if hasattr(core, "TyperOption") and hasattr(core, "TyperArgument"):
        core.TyperOption.display_type_rich = option_type
        core.TyperArgument.display_type_rich = lambda self, ctx: None
        core.TyperArgument.display_name_raw = property(argument_name)
        core.TyperArgument._usage_display_name = argument_usage


readable_help()
