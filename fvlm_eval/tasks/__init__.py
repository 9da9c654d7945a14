"""Benchmarks: one short module each, registered in ``BENCHMARKS``, a plain dict of name -> class.

Only this package knows a benchmark: its layouts, prompts, frame rule, breakdowns and expected
counts (``base.Benchmark``), synthetic copies in its real layout (``fixtures``), and fetching and
verifying a copy (``prepare``). (The folder is called ``tasks`` as the project's layout asks;
"task" elsewhere means MVBench's own sub-tasks, its ``task`` breakdown.)

``BENCHMARKS`` is made when first used (``fvlm_eval.tasks.BENCHMARKS``, or imported by name): the
built-in ones (``BUILT_IN``), then those installed packages add through the entry-point group
``fvlm_eval.benchmarks`` (``fvlm_eval.plugins``), so that importing the package and ``fvlm-eval
--help`` import no plugin. ``SUITES`` are names for several benchmarks at once (``video``, ``all``).
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.plugins import PLAIN_NAME, Plugin, Plugins, Refused, kind_of, raised_words
from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded, UnusableLoad, checked_load
from fvlm_eval.tasks.egoschema import EgoSchema
from fvlm_eval.tasks.mlvu import MLVU
from fvlm_eval.tasks.mvbench import MVBench
from fvlm_eval.tasks.nextqa import NExTQA
from fvlm_eval.tasks.perceptiontest import PerceptionTest
from fvlm_eval.tasks.scienceqa import ScienceQA
from fvlm_eval.tasks.tempcompass import TempCompass, TempCompassYesNo
from fvlm_eval.tasks.videomme import VideoMME

BUILT_IN: dict[str, type[Benchmark]] = {
    "mvbench": MVBench,
    "videomme": VideoMME,
    "scienceqa": ScienceQA,
    "perceptiontest": PerceptionTest,
    "mlvu": MLVU,
    "tempcompass": TempCompass,
    "tempcompass_yes_no": TempCompassYesNo,
    "nextqa": NExTQA,
    "egoschema": EgoSchema,
}
SUITES: dict[str, str] = {"video": "every video benchmark", "all": "every benchmark"}  # no benchmark takes these names
# Nor these: the folders the commands that read runs write by default, inside a run folder (``report``, ``regress``)
# or beside the runs (``track``); a benchmark's records there were mixed with their files.
COMMAND_FOLDERS: dict[str, str] = {
    "report": "the folder `fvlm-eval report` writes into a run folder by default",
    "regress": "the folder `fvlm-eval regress` writes into the current run folder by default",
    "track": "the folder `fvlm-eval track` writes beside its runs by default",
}
PLUGINS = Plugins("fvlm_eval.benchmarks", "benchmark")


def __getattr__(name: str):
    """``BENCHMARKS``, made when first used (see the module docstring)."""
    if name == "BENCHMARKS":
        return _registry()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _registry() -> dict[str, type[Benchmark]]:
    registry = globals().get("BENCHMARKS")
    if registry is None:
        registry = globals()["BENCHMARKS"] = dict(BUILT_IN)  # from now on a plain module attribute
        load_plugins()
    return registry


def load_plugins() -> None:
    """Add the benchmarks of installed plugins not added yet (the first use of ``BENCHMARKS`` does it; call
    it again after installing a plugin into a running process). A plugin refused is one line on stderr."""
    reserved = {name: "a built-in benchmark's name (the built-in is kept)" for name in BUILT_IN}
    reserved.update({name: f"the name of a suite ({what})" for name, what in SUITES.items()})
    mixed = "(its records would be mixed with that command's files)"
    reserved.update({name: f"{what} {mixed}" for name, what in COMMAND_FOLDERS.items()})
    PLUGINS.add_to(_registry(), _benchmark_class, reserved)


def _benchmark_class(plugin: Plugin) -> type[Benchmark]:
    """The ``Benchmark`` subclass an entry point names, named as the entry point is."""
    found = plugin.load()
    refusal = _class_refusal(plugin.name, found, "the entry point must be named as the benchmark is")
    if refusal is not None:
        raise Refused(refusal)
    return found


def _class_refusal(name: str, found: object, renamed: str) -> str | None:
    """Why ``found`` cannot be the benchmark ``name``: not a ``Benchmark`` subclass, named otherwise (then
    ``renamed`` says what to do, ``{name}`` and ``{cls}`` its name and class), or not made without arguments (as
    every command makes its benchmarks); else ``None``."""
    if not (isinstance(found, type) and issubclass(found, Benchmark)):
        return f"it gives {kind_of(found)}, not a subclass of fvlm_eval.tasks.base.Benchmark"
    if found.name != name:
        fix = renamed.format(name=repr(found.name), cls=found.__name__)
        return f"its class {found.__name__} has name {found.name!r}: {fix}"
    try:
        found()
    except Exception as error:
        return f"its class {found.__name__} cannot be made without arguments ({raised_words(error)})"
    return None


def registration_refusal(name: str) -> str | None:
    """Why the benchmark registered under ``name`` cannot be run, else ``None``: one put into ``BENCHMARKS`` by hand
    (a notebook's ``BENCHMARKS["myqa"] = MyQA``) goes through the checks an entry point does. Unchecked, a name
    with ``..`` wrote its run two folders above the output folder, and a key other than the class's name
    returned a result under the class's name."""
    registry = _registry()
    found = registry[name]
    said = f"BENCHMARKS[{name!r}] = {getattr(found, '__name__', kind_of(found))}"
    if not PLAIN_NAME.fullmatch(name):
        return (
            f"{said}: {name!r} is not a plain name (letters, digits, '_', '.', '-'; not starting with '.' or '-'): "
            "it names the folders a run writes"
        )
    taken = next((folder for folder in COMMAND_FOLDERS if folder == name.casefold()), None)
    if taken is not None:
        return f"{said}: {name!r} is {COMMAND_FOLDERS[taken]}: give the benchmark another name"
    twin = next((other for other in registry if other != name and other.casefold() == name.casefold()), None)
    if twin is not None and name not in BUILT_IN:  # the built-in is kept
        return f"{said}: {name!r} is {twin!r} but for case, one folder where case is not told apart (macOS, Windows)"
    refusal = _class_refusal(name, found, "register it under its name (BENCHMARKS[{name}] = {cls})")
    return f"{said}: {refusal}" if refusal is not None else None


def distribution_of(name: str) -> str | None:
    """The distribution (``"my-fvlm-plugins 0.1.0"``) whose plugin added the benchmark ``name``; ``None`` for a
    built-in or one registered by hand."""
    plugin = PLUGINS.added.get(name)
    return plugin.distribution if plugin is not None else None


def supplied_by(name: str) -> str:
    """``"myqa (plugin my-fvlm-plugins 0.1.0)"``: a benchmark named with the distribution whose plugin added it,
    for a message about something that plugin did (a built-in, or one registered by hand: its name alone)."""
    distribution = distribution_of(name)
    return f"{name} (plugin {distribution})" if distribution is not None else name


def prepare_command(name: str, data_dir: str | Path) -> str:
    """What fetches benchmark ``name`` into ``data_dir``, said after a ``DataMissing``: with ``--data-dir`` unless
    it is the default (a bare `fvlm-eval prepare` would download into ./data, not into the folder given). A
    benchmark with no hub copy (placed by hand, as docs/extending.md's) is said to be placed by hand: `prepare`
    would only answer that it has nothing to download."""
    benchmark = get_benchmark(name)
    try:
        benchmark.hub()
    except Exception as error:  # NotImplementedError: no hub copy, its reason said
        reason = f" ({str(error).strip().splitlines()[0]})" if str(error).strip() else ""
        return f"{name} has no hub copy to download{reason}: place it under {benchmark.folder(Path(data_dir))}"
    return f"`fvlm-eval prepare {name}{data_dir_flag(data_dir)}` fetches it"


def data_dir_flag(data_dir: str | Path) -> str:
    """`` --data-dir <folder>`` (shell-quoted) for a command to give, or nothing for the default ``data``."""
    import shlex

    return "" if Path(data_dir) == Path("data") else f" --data-dir {shlex.quote(str(data_dir))}"


def suite(name: str) -> tuple[str, ...]:
    """The benchmarks a suite stands for, in registry order: ``video`` every one that is not ``uses_images``,
    ``all`` every one."""
    if name not in SUITES:
        raise KeyError(f"unknown suite {name!r}; known: {', '.join(SUITES)}")
    return tuple(b for b, cls in _registry().items() if name == "all" or not cls.uses_images)


def unknown_benchmark(name: str) -> str:
    """Why ``name`` is not a benchmark, in one line: a refused plugin's, or an unknown name."""
    return PLUGINS.unusable(name) or f"unknown benchmark {name}; known: {', '.join(_registry())}"


def several_in_one(name: str) -> tuple[str, ...]:
    """The benchmarks or suites in ``name`` when it holds them with commas (``scienceqa,mvbench``, ``scienceqa,``),
    else nothing."""
    parts = tuple(part.strip() for part in name.split(",") if part.strip())
    known = (*_registry(), *SUITES)
    return parts if "," in name and parts and all(part in known for part in parts) else ()


def get_benchmark(name: str, **options) -> Benchmark:
    """The benchmark ``name`` with the run's options it takes (``Benchmark.run_options``, e.g. Video-MME's
    ``subtitles``); the options another benchmark takes are ignored."""
    if name not in _registry():
        raise KeyError(unknown_benchmark(name))
    cls = _registry()[name]
    return cls(**{key: value for key, value in options.items() if key in cls.run_options})


def write_fixtures(root: Path, faults: bool = False) -> Path:
    """Every registered benchmark's synthetic copy (``with_fixtures``) in its real layout under ``root``
    (``faults``: with the malformed rows, missing and corrupt media each layout can have); for the tests and
    ``fvlm-eval demo``."""
    root = Path(root)
    for name in with_fixtures():
        _registry()[name]().write_fixture(root, faults=faults)
    return root


def with_fixtures() -> tuple[str, ...]:
    """The registered benchmarks that can write a synthetic copy (every built-in one; a plugin's may not)."""
    return tuple(name for name, cls in _registry().items() if cls.write_fixture is not Benchmark.write_fixture)


__all__ = [
    "BENCHMARKS",
    "BUILT_IN",
    "COMMAND_FOLDERS",
    "PLUGINS",
    "SUITES",
    "Benchmark",
    "DataMissing",
    "UnusableLoad",
    "checked_load",
    "data_dir_flag",
    "distribution_of",
    "prepare_command",
    "registration_refusal",
    "supplied_by",
    "several_in_one",
    "Loaded",
    "get_benchmark",
    "load_plugins",
    "suite",
    "unknown_benchmark",
    "with_fixtures",
    "write_fixtures",
]
