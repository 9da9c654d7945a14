"""A run's arguments checked before anything is loaded: each wrong one is a ``SettingsError`` naming
the Python argument, and (``cli_message``) the CLI flag."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Iterable

from fvlm_eval import tasks
from fvlm_eval.errors import FvlmEvalError, SettingsError
from fvlm_eval.files import broken_link
from fvlm_eval.protocols import GENERATED, known_protocols

_ARGUMENT_OF_FLAG = {"mode": "modes", "no-frame-cache": "frame_cache"}


def from_cli(message: str) -> SettingsError:
    """A message written with CLI flags (by the runner or the model loader), said with argument names."""
    python = re.sub(
        r"--([a-z][a-z-]*)", lambda m: _ARGUMENT_OF_FLAG.get(m.group(1), m.group(1).replace("-", "_")), message
    )
    return SettingsError(python, message)


def names(value: str | Iterable[str] | None, argument: str = "benchmarks") -> list[str]:
    """A name or names, as given; anything else (a number, a list of numbers) is a SettingsError."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise SettingsError(
            f"{argument}={value!r}: give a name or a list of names",
            f"{_FLAG_OF.get(argument, argument)} {value}: give a name or names",
        )
    return names


def choose_modes(
    requested: str | Iterable[str] | None, family: str, variants: tuple[str, ...], default: str
) -> tuple[str, ...]:
    requested = names(requested, "modes")
    unknown = [m for m in requested if m not in (*variants, "all")]
    if unknown:
        raise SettingsError(
            f"modes={', '.join(map(repr, unknown))}: {family} has {', '.join(variants)} (or 'all')",
            f"--mode {', '.join(map(str, unknown))}: {family} has {', '.join(variants)} (or all)",
        )
    if "all" in requested:
        return tuple(variants)
    return tuple(dict.fromkeys(requested or [default]))


def check_benchmarks(benchmarks: str | Iterable[str]) -> tuple[str, ...]:
    """The benchmarks asked for, in the order given, each once; a suite (``video``, ``all``) stands for its
    benchmarks (``tasks.suite``). A name no benchmark has, a refused plugin's, or one registered by hand that an
    entry point would be refused for (``tasks.registration_refusal``), is a ``SettingsError``."""
    given = names(benchmarks)
    unknown = [n for n in given if n not in tasks.SUITES and n not in tasks.BENCHMARKS]
    refused = [tasks.PLUGINS.unusable(n) for n in unknown if tasks.PLUGINS.unusable(n)]
    if refused:
        raise SettingsError(f"benchmarks: {refused[0]}", refused[0])
    joined = next((name for name in unknown if tasks.several_in_one(name)), None)
    if joined is not None:  # `run scienceqa,mvbench`
        parts = tasks.several_in_one(joined)
        raise SettingsError(
            f"benchmarks={joined!r}: names go in a list, not one string with commas: {list(parts)!r}",
            f"{joined}: benchmarks are separated by spaces, not commas: {' '.join(parts)}",
        )
    if unknown or not given:
        told = (
            (f"unknown benchmark {', '.join(unknown)}" if unknown else "no benchmark given")
            + f"; known: {', '.join(tasks.BENCHMARKS)}; or a suite: "
            + ", ".join(f"{name} ({what})" for name, what in tasks.SUITES.items())
        )
        raise SettingsError(f"benchmarks: {told}", told)
    chosen = tuple(dict.fromkeys(b for name in given for b in (tasks.suite(name) if name in tasks.SUITES else [name])))
    if not chosen:
        told = f"suite {', '.join(given)} holds no benchmark here; known: {', '.join(tasks.BENCHMARKS)}"
        raise SettingsError(f"benchmarks: {told}", told)
    refusal = next(filter(None, map(tasks.registration_refusal, chosen)), None)  # one registered by hand, unchecked
    if refusal is not None:
        raise SettingsError(f"benchmarks: {refusal}", refusal)
    return chosen


_FLAG_OF = {
    "benchmarks": "BENCHMARK",
    "batch_size": "--batch-size",
    "workers": "--workers",
    "max_new_tokens": "--max-new-tokens",
    "subtitles": "--subtitles",
    "keep_going": "--keep-going",
    "output_dir": "--output-dir",
    "data_dir": "--data-dir",
    "modes": "--mode",
    "limit": "--limit",
    "frames": "--frames",
    "step": "--step",
    "cloze_framing": "--cloze-framing",
    "generate": "--generate",
    "circular": "--circular",
}


def whole_number(argument: str, value, minimum: int, maximum: int | None = None) -> None:
    """``value`` must be an int (not a bool, str or float) in [minimum, maximum]."""
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
        raise SettingsError(
            f"{argument}={value!r}: must be a whole number {bound}",
            f"{_FLAG_OF.get(argument, argument)} {value}: must be a whole number {bound}",
        )


def boolean(argument: str, value) -> None:
    if not isinstance(value, bool):
        raise SettingsError(
            f"{argument}={value!r}: must be True or False", f"{_FLAG_OF.get(argument, argument)}: on or off"
        )


def check_options(protocol: str | None, generate: bool, circular: bool, sampling: str, dtype: str | None) -> None:
    boolean("generate", generate)
    boolean("circular", circular)
    if protocol is not None and protocol not in known_protocols(generate, circular):
        needs = (
            "generate"
            if GENERATED in str(protocol) and not generate
            else "circular"
            if str(protocol).startswith(("circular_", "permavg_")) and not circular
            else ""
        )
        if needs:
            raise SettingsError(f"protocol={protocol!r} needs {needs}=True", f"--protocol {protocol} needs --{needs}")
        choices = ", ".join(known_protocols(True, True))
        raise SettingsError(
            f"protocol={protocol!r}: choose from {choices}", f"--protocol {protocol}: choose from {choices}"
        )
    if sampling not in ("benchmark", "model"):
        raise SettingsError(
            f"sampling={sampling!r}: choose 'benchmark' or 'model'", f"--sampling {sampling}: choose benchmark or model"
        )
    if dtype is not None and dtype not in ("float32", "bfloat16", "float16"):
        raise SettingsError(
            f"dtype={dtype!r}: choose 'float32', 'bfloat16' or 'float16'",
            f"--dtype {dtype}: choose float32, bfloat16 or float16",
        )


def frame_cache_folder(value) -> Path | None:
    from fvlm_eval.media.frame_cache import default_cache_dir

    if value is True:
        return default_cache_dir()
    if value is False or value is None:
        return None
    return Path(value)


def passed_through(given: dict) -> dict:
    """The ``RunSettings`` fields ``evaluate`` passes through, checked (each wrong one a ``SettingsError``
    naming the argument, before anything is loaded); ``None`` stands for a field's default."""
    from fvlm_eval.run.settings import RunSettings
    from fvlm_eval.types import CLOZE_FRAMINGS

    defaults = {f.name: f.default for f in dataclasses.fields(RunSettings)}
    settings = {name: value for name, value in given.items() if value is not None or defaults.get(name) is None}
    whole_number("batch_size", settings.get("batch_size"), 1)
    whole_number("workers", settings.get("workers"), 0)
    whole_number("max_new_tokens", settings.get("max_new_tokens"), 1)
    for name in ("subtitles", "keep_going"):
        if name in settings:
            boolean(name, settings[name])
    framing = settings.get("cloze_framing")
    if framing is not None and framing not in CLOZE_FRAMINGS:
        raise SettingsError(
            f"cloze_framing={framing!r}: choose {' or '.join(map(repr, CLOZE_FRAMINGS))}",
            f"--cloze-framing {framing}: choose {' or '.join(CLOZE_FRAMINGS)}",
        )
    if not isinstance(settings.get("command_line", ""), str):
        raise SettingsError(f"command_line={settings['command_line']!r}: must be text")
    return settings


def path_argument(argument: str, value, empty_ok: bool = False) -> None:
    """``value`` must be a path (text or ``os.PathLike``), not empty."""
    if not isinstance(value, (str, os.PathLike)):
        raise SettingsError(f"{argument}={value!r}: must be a path (text or pathlib.Path)")
    if not empty_ok and not str(value).strip():
        raise SettingsError(f"{argument} is empty", f"{_FLAG_OF.get(argument, argument)} is empty")


def at_home(value):
    """A path given as text or ``os.PathLike`` with a leading ``~`` expanded (the type kept); anything else as is."""
    if isinstance(value, str) and value.startswith("~"):
        return os.path.expanduser(value)
    if isinstance(value, Path) and str(value).startswith("~"):
        return value.expanduser()
    return value


def apart_from_inputs(output_dir, data_dir, model) -> None:
    """Refuse an output folder that is the data folder (its ``<benchmark>/<mode>`` folders would go in beside the
    benchmarks' own) or the model's folder, or inside it (the two flags swapped, or a model folder filled)."""
    out = Path(os.path.realpath(output_dir))  # never raises (Path.resolve does on a link loop)
    model_folder = Path(model) if isinstance(model, (str, os.PathLike)) and Path(model).is_dir() else None
    for argument, place, inside in (("data_dir", Path(data_dir), False), ("model", model_folder, True)):
        if place is None:
            continue
        held = Path(os.path.realpath(place))
        if out == held or (inside and held in out.parents):
            where = "is" if out == held else "is inside"
            raise SettingsError(
                f"output_dir={str(output_dir)!r} {where} {argument}={str(place)!r}: runs are written apart from it",
                f"--output-dir {output_dir} {where} {_FLAG_OF.get(argument, '--' + argument)} {place}: runs are "
                "written apart from it (the two swapped?)",
            )


class FolderUnusable(FvlmEvalError):
    """A folder argument where no folder can be: it, or a folder above it, is a file (exit 1, as the write that
    would fail: "cannot read or write")."""


def folder_argument(argument: str, value) -> None:
    """``value`` must be a path where a folder is or can be made: neither it nor any folder above it a file
    (``mkdir`` would raise NotADirectoryError deep in a run, a raw OSError through the Python API)."""
    path_argument(argument, value)
    for place in (Path(value), *Path(value).parents):
        broken = broken_link(place)  # mkdir would say "File exists", resolve() "Symlink loop"
        if broken:
            raise FolderUnusable(f"cannot read or write {value}: {broken}")
        if place.exists():
            if not place.is_dir():
                what = "a file, not a folder" if place == Path(value) else f"{place} is a file, not a folder"
                raise FolderUnusable(f"cannot read or write {value}: {what}")
            return


def text_argument(argument: str, value) -> None:
    if value is not None and not isinstance(value, str):
        raise SettingsError(f"{argument}={value!r}: must be text (or None)")


def device_argument(device):
    """``device`` as text: a name (``"cuda:1"``), a ``torch.device``, or ``None``; anything else a SettingsError."""
    if device is None or isinstance(device, str):
        return device
    if type(device).__name__ == "device" and hasattr(device, "type"):  # a torch.device
        return str(device)
    raise SettingsError(f"device={device!r}: give a device name ('cpu', 'cuda', 'cuda:1'), a torch.device, or None")


def in_memory_arguments(model, family: str | None, device: str | None, dtype: str | None) -> None:
    """A model already in memory is evaluated where it is, as it is: ``device`` and ``dtype`` would be
    silently ignored, so they are refused; ``family``, when given, must be the model's own."""
    from fvlm_eval.models import family_holding
    from fvlm_eval.models.memory import device_of, dtype_of, is_adapter, unwrap

    if dtype is not None:
        raise SettingsError(
            f"dtype={dtype!r}: not applied to a model already in memory (it is evaluated in its own "
            f"dtype, {dtype_of(model)}); convert it yourself (model.to(torch.{dtype})) or leave dtype=None"
        )
    if device is not None:
        raise SettingsError(
            f"device={device!r}: not applied to a model already in memory (it is evaluated on its own "
            f"device, {device_of(model)}); move it yourself (model.to({device!r})) or leave device=None"
        )
    if family is not None:
        held = (
            getattr(model, "family", None)
            if is_adapter(model)
            else getattr(family_holding(unwrap(model)), "name", None)
        )
        if held is not None and family != held:
            raise SettingsError(
                f"family={family!r}: the model in memory is of family {held!r}; leave family=None "
                "(a model in memory is known by its class)"
            )
