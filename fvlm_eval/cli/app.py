"""The CLI's Typer app, what its commands share, and help that reads well: one line per failure (``UserError``,
exit code from ``fvlm_eval.errors``), the benchmark, suite and family names read from their registries
when a command's help is shown (``RegistryHelp``: the registries load installed plugins, which
``fvlm-eval --help`` does not wait for)."""

from __future__ import annotations

import dataclasses
import errno
from pathlib import Path

import typer
from typer.core import TyperCommand

from fvlm_eval import models, tasks
from fvlm_eval.errors import ExitCode, FvlmEvalError

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
    unknown = [n for n in names if n not in tasks.BENCHMARKS]
    if unknown and tasks.several_in_one(unknown[0]):  # `prepare scienceqa,mvbench`: one benchmark a command
        fail(
            f"{unknown[0]}: one benchmark at a time: "
            + "; ".join(f"fvlm-eval prepare {p}" for p in tasks.several_in_one(unknown[0]))
        )
    if unknown:
        fail(tasks.unknown_benchmark(unknown[0]))
    return tuple(dict.fromkeys(names))


def os_error_line(error: OSError) -> str:
    """One line for an OSError a user can act on: what could not be read or written and why, a name of thousands
    of characters shortened (``media.shown``); a file where a folder must be is said to be one (``report
    --output-dir FILE`` said "File exists", ``run`` and ``export-checkpoint`` "a file, not a folder")."""
    from fvlm_eval.files import file_in_the_way
    from fvlm_eval.media import shown

    where = f" {shown(str(error.filename))}" if error.filename else ""
    why = error.strerror
    if error.filename and error.filename2 is None and error.errno in (errno.EEXIST, errno.ENOTDIR):
        why = file_in_the_way(Path(error.filename)) or why
    return f"cannot read or write{where}: {why}"


HELP_NAMES = {  # what a RegistryHelp command's help text may name, filled in when it is shown
    "{benchmarks}": lambda: ", ".join(tasks.BENCHMARKS),
    "{benchmarks_or}": lambda: " or ".join(tasks.BENCHMARKS),
    "{suites}": lambda: ", ".join(f"{name} ({what})" for name, what in tasks.SUITES.items()),
    "{families}": lambda: " or ".join(models.FAMILIES),
}


class RegistryHelp(TyperCommand):
    """A command whose parameters' help names registered things (``HELP_NAMES``), read when it is shown."""

    def format_help(self, ctx, formatter) -> None:
        for parameter in self.params:
            text = getattr(parameter, "help", None)
            for placeholder, names in HELP_NAMES.items():
                if text and placeholder in text:
                    text = parameter.help = text.replace(placeholder, names())
        super().format_help(ctx, formatter)


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
        core.TyperArgument.get_usage_pieces = lambda self, ctx: [] if self.hidden else [argument_usage(self)]
    plain_command_help()


def plain_command_help() -> None:
    """Every command's help, ``fvlm-eval -h``'s too, in click's layout: rich's option panels cut flag names and
    defaults short with "…" below ~120 columns (``--allow-underp…``) and span the whole terminal above;
    click's wraps every line within 80 columns, cuts nothing, and (here) breaks lines at spaces only, never
    inside a flag's name (``--max-`` / ``drop``)."""
    import importlib

    from typer import core

    click_package = core.TyperCommand.__mro__[1].__module__.rsplit(".", 1)[0]  # click, or typer's own copy of it
    textwrap = importlib.import_module(f"{click_package}._textwrap")

    class Unbroken(textwrap.TextWrapper):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{"break_on_hyphens": False, "break_long_words": False, **kwargs})

    textwrap.TextWrapper = Unbroken
    for kind in (core.TyperCommand, core.TyperGroup):  # `fvlm-eval -h` too: rich's boxes spanned the terminal
        kind.format_help = _in_clicks_layout(kind.format_help)
    core.TyperGroup.format_commands = _whole_command_help


def _in_clicks_layout(rich_help):
    def format_help(self, ctx, formatter) -> None:
        self.rich_markup_mode = None  # typer's switch to click's own help
        rich_help(self, ctx, formatter)

    return format_help


def _whole_command_help(self, ctx, formatter) -> None:
    """The commands of ``fvlm-eval -h``, each with the first paragraph of its help whole (click cuts it at
    the first full stop or with "...", and ``BENCHMARK...`` reads as one)."""
    rows = []
    for name in self.list_commands(ctx):
        command = self.get_command(ctx, name)
        if command is not None and not command.hidden:
            text = command.short_help or (command.help or "").split("\n\n")[0]
            rows.append((name, " ".join(text.split())))
    if rows:
        with formatter.section("Commands"):
            formatter.write_dl(rows)


readable_help()
