"""``evaluate``'s own argument checks, beside the shared ones of ``run.options``: each wrong argument a
``SettingsError`` naming it before any work, and a call that leaves a training loop's Python ``random``
stream where it was."""

from __future__ import annotations

import dataclasses
import random
import sys
from contextlib import contextmanager
from pathlib import Path

from fvlm_eval import tasks, terminal
from fvlm_eval.errors import SettingsError
from fvlm_eval.files import broken_link
from fvlm_eval.run.options import from_cli, names, passed_through, whole_number
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.run.shards import Shard

SET_BY_EVALUATE = {
    "benchmarks",
    "modes",
    "data_dir",
    "output_dir",
    "limit",
    "frames",
    "protocol",
    "generate",
    "circular",
    "model_sampling",
    "frame_cache",
    "step",
}  # RunSettings fields that are evaluate's own arguments, not passed through
RESUME_HINT = "rerun the same command to resume"


@contextmanager
def python_random_kept():
    """Python's global ``random`` state as it was after the block: rich draws ``getrandbits(24)`` when first
    imported (``rich/style.py``), so a training loop that seeds ``random`` got another stream after its first
    evaluation than without it."""
    state = random.getstate()
    try:
        yield
    finally:
        random.setstate(state)


def checked_console(console):
    """``console`` when it is a rich Console, a new one for stdout when None; anything else (``sys.stdout``,
    ``print``) is a ``SettingsError`` here, not an AttributeError from the progress bar after the data loaded.
    rich is imported with Python's ``random`` state kept (``python_random_kept``)."""
    if "rich.style" in sys.modules:
        from rich.console import Console
    else:
        with python_random_kept():
            from rich.console import Console
    if console is None:
        return terminal.console()
    if not isinstance(console, Console):
        raise SettingsError(f"console={console!r}: give a rich.console.Console (or None for one on stdout)")
    return console


def check_benchmark_names(benchmarks) -> None:
    """A blank name (``benchmarks=""``) is said to be one, not told as "unknown benchmark " with nothing after."""
    blank = [name for name in names(benchmarks) if not name.strip()]
    if blank:
        known = f"known: {', '.join(tasks.BENCHMARKS)}; or a suite: {', '.join(tasks.SUITES)}"
        raise SettingsError(
            f"benchmarks={benchmarks!r}: a blank name is no benchmark; {known}",
            f"{blank[0]!r}: a blank name is no benchmark; {known}",
        )


def data_folder_there(benchmarks: tuple[str, ...], data_dir) -> None:
    """A ``--data-dir`` that does not exist (or is a file) where no chosen benchmark's data can be: told before the
    model is loaded (``--data-dir /nonexist`` was said after seconds to minutes of loading). A data folder that
    lacks only some benchmarks' data is the run's to say (those are not scored, the others are)."""
    data = Path(data_dir)
    if data.is_dir():
        return
    for name in benchmarks:
        try:
            if tasks.get_benchmark(name).folder(data).exists():  # a plugin's own folder, elsewhere
                return
        except Exception:  # a plugin's folder() that fails is told when the run asks for its data
            return
    if data.exists():
        why = f"{data} is a file, not the data folder"
    else:
        why = broken_link(data) or f"{data} does not exist"
        why += "; " + _fetched_by(benchmarks, data_dir)
    raise tasks.DataMissing(f"--data-dir {why}; nothing was scored")


def _fetched_by(benchmarks: tuple[str, ...], data_dir) -> str:
    """What fetches ``benchmarks`` into ``data_dir``, one command for the hub's (``run all`` named nine commands in
    one line), then what each of the others needs."""
    said = {name: tasks.prepare_command(name, data_dir) for name in benchmarks}
    fetched = [name for name in benchmarks if said[name].endswith("fetches it")]
    if len(fetched) < 3:
        return "; ".join(said.values())
    command = f"`fvlm-eval prepare <benchmark>{tasks.data_dir_flag(data_dir)}`"
    return "; ".join(
        [f"{command} fetches each of {', '.join(fetched)}"] + [said[n] for n in benchmarks if n not in fetched]
    )


def checked_run_settings(run_settings: dict, step) -> dict:
    """The ``RunSettings`` fields passed through ``**run_settings``, checked (an unknown one named with the known
    ones), ``shard`` given as ``'i/n'`` parsed; ``step`` checked as an int64, as track and plotting read it."""
    allowed = {f.name for f in dataclasses.fields(RunSettings)} - SET_BY_EVALUATE
    unknown = sorted(set(run_settings) - allowed)
    if unknown:
        raise SettingsError(
            f"evaluate() got unknown settings {', '.join(unknown)}; known: {', '.join(sorted(allowed))}"
        )
    whole_number("step", step, 0, 2**63 - 1)
    run_settings = passed_through(run_settings)
    if isinstance(run_settings.get("shard"), str):
        try:
            run_settings["shard"] = Shard.parse(run_settings["shard"])
        except ValueError as error:
            raise from_cli(str(error)) from error
    if not isinstance(run_settings.get("shard"), (Shard, type(None))):
        raise SettingsError(f"shard={run_settings['shard']!r}: give 'i/n' (this process's share, of n)")
    return run_settings


def in_a_temporary_folder(messages: list[str]) -> tuple[str, ...]:
    """A stopped run's messages when ``output_dir=None``: its records were in a temporary folder that
    ``evaluate`` removes, so "rerun the same command to resume" would send the user to records that are gone."""
    gone = "output_dir=None: they were in a temporary folder, now removed; give output_dir to keep records and resume"
    return tuple(message.replace(RESUME_HINT, gone) for message in messages)
