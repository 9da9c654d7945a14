"""Plugins: what installed packages add to a registry through an entry-point group, each checked.

A distribution declares entry points in ``fvlm_eval.benchmarks`` (name -> a ``Benchmark`` subclass)
or ``fvlm_eval.families`` (name -> a ``Family``, or the family module itself); ``tasks`` and
``models`` add them to ``BENCHMARKS`` and ``FAMILIES`` when those are first used. A plugin that
cannot be used (it fails to import or calls ``sys.exit()`` there, gives the wrong kind of object,
has a name that is not plain, or takes a name already taken, in any case: a built-in's, a suite's,
a folder the commands that read runs write (``report``, ``regress``, ``track``), another plugin's) is refused
with one line on stderr naming its distribution, its entry point and what is wrong; the rest go on. A built-in
is never shadowed.
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Callable

# What a plugin may be named: its name is a folder of every run (``<output-dir>/<benchmark>/``), so no
# separator, no "..", nothing hidden.
PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class Refused(Exception):
    """Why a plugin cannot be used, in words (its ``Plugin`` is named by whoever says it)."""


@dataclass(frozen=True)
class Plugin:
    """One entry point of one installed distribution."""

    group: str  # "fvlm_eval.benchmarks" or "fvlm_eval.families"
    name: str
    value: str  # "module" or "module:attribute"
    distribution: str  # "name version"

    @property
    def module(self) -> str:
        return self.value.partition(":")[0].strip()

    @property
    def attribute(self) -> str:
        return self.value.partition(":")[2].strip()

    def __str__(self) -> str:
        return f"{self.name!r} from {self.distribution} (entry point {self.group}: {self.name} = {self.value})"

    def load(self) -> object:
        """What the entry point names (its module imported); ``Refused`` when it cannot be imported."""
        try:
            return EntryPoint(self.name, self.value, self.group).load()
        except (Exception, SystemExit) as error:  # a module that calls sys.exit() (argparse at import) ends nothing
            raise Refused(f"cannot be imported: {raised_words(error)}") from error


def installed(group: str) -> list[Plugin]:
    """The group's entry points in every installed distribution (cheap: no plugin is imported), by name."""
    found = []
    for point in entry_points(group=group):
        dist = point.dist
        named = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "an unnamed distribution"
        found.append(Plugin(group, point.name, point.value, named))
    return sorted(set(found), key=lambda p: (p.name, p.distribution, p.value))


def raised_words(error: BaseException) -> str:
    """What a plugin's code raised, for a message: ``ZeroDivisionError: division by zero`` (its first line)."""
    said = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}{': ' + said if said else ''}"


def raised_at(error: BaseException, own: Callable[[str], bool]) -> str:
    """Where in a plugin's own code (``own``: whether a source file is its) ``error`` was last raised, as
    `` (at my_benchmark.py:12, in load)``; ``""`` when none of its frames is."""
    frames = [frame for frame in traceback.extract_tb(error.__traceback__) if own(frame.filename)]
    return f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno}, in {frames[-1].name})" if frames else ""


def kind_of(thing: object) -> str:
    """What a plugin gave, for a message: ``a function``, ``the module blind``, ``an int``, ``None``."""
    if thing is None:
        return "None"
    if isinstance(thing, type):
        return f"the class {thing.__module__}.{thing.__qualname__}"
    if type(thing).__name__ == "module":
        return f"the module {getattr(thing, '__name__', '?')}"
    name = type(thing).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


@dataclass
class Plugins:
    """What one entry-point group added to its registry (name -> plugin), and what it refused (name -> line)."""

    group: str
    noun: str  # "benchmark", "model family"
    added: dict[str, Plugin] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def add_to(self, registry: dict, make: Callable[[Plugin], object], reserved: dict[str, str]) -> None:
        """Add to ``registry`` what ``make`` builds of each installed plugin not added yet (``make`` raises
        ``Refused`` for the wrong kind of object); ``reserved``: names no plugin may take -> what they are.
        Each plugin refused is one line on stderr, once."""
        by_name: dict[str, list[Plugin]] = {}  # names that differ only in case are one folder on macOS and Windows
        for plugin in installed(self.group):
            by_name.setdefault(plugin.name.casefold(), []).append(plugin)
        for plugins in by_name.values():
            name, names = plugins[0].name, sorted({p.name for p in plugins})
            if any(n in self.refused for n in names) or (name in registry and self.added.get(name) in plugins):
                continue  # told once; added already
            if len(plugins) > 1 and not any(k.casefold() == name.casefold() for k in reserved):
                cased = f" ({', '.join(map(repr, names))}: one folder where case is not told apart)"
                line = (
                    f"{self.noun} plugins {' and '.join(map(str, plugins))} all take the name {name!r}"
                    f"{cased if len(names) > 1 else ''}: none of them is used (uninstall all but one)"
                )
                self._refuse(name, line)
                self.refused.update((n, line) for n in names)
                continue
            for plugin in plugins:  # one, or several that a reserved name refuses one by one
                self._add(plugin, registry, make, reserved)

    def _add(self, plugin: Plugin, registry: dict, make: Callable[[Plugin], object], reserved: dict[str, str]) -> None:
        name = plugin.name
        try:
            if not PLAIN_NAME.fullmatch(name):
                raise Refused(
                    f"{name!r} is not a plain name (letters, digits, '_', '.', '-'; not starting with '.' or '-'): "
                    "it names the folders a run writes"
                )
            taken = next((k for k in reserved if k.casefold() == name.casefold()), None)
            if taken is not None:
                raise Refused(f"{name!r} is {reserved[taken]}" + _in_case(name, taken))
            taken = next((k for k in registry if k.casefold() == name.casefold()), None)
            if taken is not None:
                raise Refused(
                    f"{name!r} is already registered in this process (that one is kept)" + _in_case(name, taken)
                )
            registry[name] = make(plugin)
            self.added[name] = plugin
        except Refused as refusal:
            self._refuse(name, f"{self.noun} plugin {plugin} is refused: {refusal}")

    def _refuse(self, name: str, line: str) -> None:
        self.refused[name] = line
        print(f"warning: {line}", file=sys.stderr, flush=True)

    def unusable(self, name: str) -> str | None:
        """Why the name cannot be used, when it is a refused plugin's; else ``None``."""
        return self.refused.get(name)


def _in_case(name: str, taken: str) -> str:
    """How ``name`` meets a ``taken`` name that differs from it only in case: the same folder where case is not
    told apart (macOS, Windows)."""
    return (
        "" if name == taken else f": {taken!r} but for case, one folder where case is not told apart (macOS, Windows)"
    )


__all__ = ["Plugin", "Plugins", "Refused", "installed", "kind_of", "raised_at", "raised_words"]
