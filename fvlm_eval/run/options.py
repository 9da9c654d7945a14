"""A run's arguments checked before anything is loaded: each wrong one is a ``SettingsError`` naming
the Python argument, and (``cli_message``) the CLI flag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from fvlm_eval.errors import SettingsError
from fvlm_eval.protocols import GENERATED, known_protocols
from fvlm_eval.tasks import BENCHMARKS

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
    given = names(benchmarks)
    unknown = [n for n in given if n not in BENCHMARKS]
    if unknown or not given:
        told = (
            f"unknown benchmark {', '.join(unknown)}" if unknown else "no benchmark given"
        ) + f"; known: {', '.join(BENCHMARKS)}"
        raise SettingsError(f"benchmarks: {told}", told)
    return tuple(dict.fromkeys(given))


_FLAG_OF = {
    "benchmarks": "BENCHMARK",
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
