"""A benchmark's own code (a plugin's, as a rule) asked as ``run`` asks it, by the other commands that ask it.

What its ``load``, ``expected``, ``settings``, ``hub`` or ``write_fixture`` raised, or gave in the wrong shape, is
one line naming the benchmark, its plugin, and where in its code it was raised. ``fvlm-eval benchmarks``,
``prepare`` and ``demo`` said "an unexpected error ... report it" naming neither, and one bad plugin stopped the
listing of every benchmark after it, or the demo of every benchmark. ``run`` asks through it too.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.plugins import kind_of, raised_at, raised_words
from fvlm_eval.tasks import BUILT_IN, supplied_by
from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded, UnusableLoad, checked_load

# What a benchmark's own code may end in: an exception, or ``sys.exit(N)`` (a config helper's), which ended the whole
# command silently with exit N (0: the benchmark never scored, without a word)
FAILURES = (Exception, SystemExit)


class OwnCodeFailed(FvlmEvalError):
    """A benchmark's own code failed: ``str`` is the one line (``"myqa (plugin x 0.1.0): its load() failed ..."``),
    ``reason`` the same without the benchmark's name; exit 1."""

    def __init__(self, benchmark: Benchmark, reason: str):
        super().__init__(f"{supplied_by(benchmark.name)}: {reason}")
        self.reason = reason


class _PartFailed(Exception):
    """``part`` (``"expected()"``) of a benchmark raised ``error``."""

    def __init__(self, part: str, error: Exception):
        super().__init__(str(error))
        self.part, self.error = part, error


def load_checked(benchmark: Benchmark, data_dir: Path) -> tuple[Loaded, list[str]]:
    """``checked_load`` of what ``benchmark.load(data_dir)`` gives, then its ``expected()`` and ``settings()`` asked
    (``counts_checked``), as ``run`` asks them; ``DataMissing`` from ``load`` passes, anything else its code raised
    or gave wrong is ``OwnCodeFailed``."""
    try:
        checked = checked_load(benchmark.load(data_dir), benchmark.name, data_dir)
        counts_checked(benchmark)
    except DataMissing:
        raise
    except FAILURES as error:
        raise OwnCodeFailed(benchmark, failure(benchmark, "load()", error, data_dir)) from error
    return checked


def counts_checked(benchmark: Benchmark) -> dict[str, int]:
    """The benchmark's ``expected()``, it and ``settings()`` asked (``settings_checked``): what raised is
    ``_PartFailed`` (``failure`` says which part), a value of the wrong shape ``UnusableLoad``."""
    expected = _asked(benchmark, "expected")
    stray = next((item for item in expected.items() if not _count(*item)), None)
    if stray is not None:
        raise UnusableLoad(f"expected() gave {stray[0]!r}: {stray[1]!r}, not a category (text) to a whole number")
    settings_checked(benchmark)
    return expected


def settings_checked(benchmark: Benchmark) -> dict:
    """The benchmark's ``settings()``: a dict that ``settings.json`` holds as it is (a ``Path`` in it ended the whole
    run with a raw TypeError, every benchmark unscored); ``_PartFailed`` or ``UnusableLoad`` else."""
    given = _asked(benchmark, "settings")
    unwritable = _not_json(given)
    if unwritable:
        raise UnusableLoad(f"settings() gave a value that is not JSON ({unwritable}), so settings.json cannot hold it")
    return given


def _asked(benchmark: Benchmark, part: str) -> dict:
    """``expected()`` or ``settings()`` of ``benchmark``, a dict, or ``_PartFailed`` / ``UnusableLoad``."""
    try:
        given = getattr(benchmark, part)()
    except FAILURES as error:
        raise _PartFailed(f"{part}()", error) from error
    if not isinstance(given, dict):
        shape = "a dict of category to a whole number" if part == "expected" else "a dict"
        raise UnusableLoad(f"{part}() gave {kind_of(given)}, not {shape}")
    return given


def _unwritable(text: str) -> bool:
    """Whether ``settings.json`` cannot hold ``text`` as written there (UTF-8): a lone surrogate, what Python makes
    of a byte of a file name or environment variable that is not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _not_json(value, where: str = "") -> str | None:
    """Where in ``value`` (a settings dict) lies what JSON cannot hold as it is, and its type (``annotations:
    PosixPath``); else None. A tuple, a key that is not text or a float that is not finite is written, but read
    back otherwise (a list, text, null): a resumed run, comparing what it reads back, would be refused."""
    if isinstance(value, str) and _unwritable(value):
        return f"{where}: text that is not UTF-8 ({ascii(value)[:60]})"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**4000:
        return f"{where}: a number of over 4,000 digits"  # Python refuses to write one of over 4,300 as text
    if value is None or isinstance(value, (str, int)):  # bool is an int
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{where}: {value}"
    if isinstance(value, list):
        return next((found for i, item in enumerate(value) if (found := _not_json(item, f"{where}[{i}]"))), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or _unwritable(key):
                return f"{where + ': ' if where else ''}a key {key!r} of type {type(key).__name__}"
            found = _not_json(item, f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    return f"{where}: {type(value).__name__}"


def _count(category: object, count: object) -> bool:
    """A category (text) and its whole number of questions (a bool is no count)."""
    return isinstance(category, str) and isinstance(count, int) and not isinstance(count, bool)


def failure(benchmark: Benchmark, part: str, error: Exception, data_dir: Path | None = None) -> str:
    """What failed, in words, without the benchmark's name: ``"its load() failed reading data/myqa:
    ZeroDivisionError: division by zero (at my_benchmark.py:12, in load)"``; a value of the wrong shape
    (``UnusableLoad``) as it says; a built-in's is a bug of fvlm-eval's, said so."""
    if isinstance(error, _PartFailed):
        part, error = error.part, error.error
    said = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, UnusableLoad):
        return said
    raised = said if isinstance(error, FvlmEvalError) else raised_words(error)
    own = {_source_file(c) for c in type(benchmark).__mro__ if c not in (Benchmark, object)}
    at = raised_at(error, lambda filename: filename in own)
    bug = " (a bug in fvlm-eval: please report it)" if type(benchmark) in BUILT_IN.values() else ""
    return f"its {part} failed{_reading(benchmark, part, data_dir)}: {raised}{at}{bug}"


def _reading(benchmark: Benchmark, part: str, data_dir: Path | None) -> str:
    """`` reading <its folder>`` for a ``load()`` given ``data_dir`` (nothing when its ``folder`` fails too)."""
    if part != "load()" or data_dir is None:
        return ""
    try:
        return f" reading {benchmark.folder(Path(data_dir))}"
    except Exception:
        return ""


def _source_file(cls: type) -> str | None:
    try:
        return inspect.getsourcefile(cls)
    except TypeError:  # a class made in an interactive session
        return None


__all__ = ["FAILURES", "OwnCodeFailed", "counts_checked", "failure", "load_checked", "settings_checked"]
