"""Benchmarks: one short module each, registered in ``BENCHMARKS``, a plain dict of name -> class.

Only this package knows a benchmark: its layouts, prompts, frame rule, breakdowns and expected
counts (``base.Benchmark``), synthetic copies in its real layout (``fixtures``), and fetching and
verifying a copy (``prepare``). (The folder is called ``tasks`` as the project's layout asks;
"task" elsewhere means MVBench's own sub-tasks, its ``task`` breakdown.)
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded
from fvlm_eval.tasks.mvbench import MVBench
from fvlm_eval.tasks.scienceqa import ScienceQA
from fvlm_eval.tasks.videomme import VideoMME

BENCHMARKS: dict[str, type[Benchmark]] = {"mvbench": MVBench, "videomme": VideoMME, "scienceqa": ScienceQA}


def get_benchmark(name: str, **options) -> Benchmark:
    """The benchmark ``name`` with the run's options it takes (``Benchmark.run_options``, e.g. Video-MME's
    ``subtitles``); the options another benchmark takes are ignored."""
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    cls = BENCHMARKS[name]
    return cls(**{key: value for key, value in options.items() if key in cls.run_options})


def write_fixtures(root: Path, faults: bool = False) -> Path:
    """Every registered benchmark's synthetic copy in its real layout under ``root`` (``faults``: with the
    malformed rows, missing and corrupt media each layout can have); for the tests and ``fvlm-eval demo``."""
    root = Path(root)
    for cls in BENCHMARKS.values():
        cls().write_fixture(root, faults=faults)
    return root


__all__ = ["BENCHMARKS", "Benchmark", "DataMissing", "Loaded", "get_benchmark", "write_fixtures"]
