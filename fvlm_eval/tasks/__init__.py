"""Benchmarks: one short module each, registered in ``BENCHMARKS``, a plain dict of name -> class.

(The folder is called ``tasks`` as the project's layout asks; "task" elsewhere means MVBench's
own sub-tasks, its ``task`` breakdown.)
"""

from __future__ import annotations

from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded
from fvlm_eval.tasks.mvbench import MVBench
from fvlm_eval.tasks.scienceqa import ScienceQA
from fvlm_eval.tasks.videomme import VideoMME

BENCHMARKS: dict[str, type[Benchmark]] = {"mvbench": MVBench, "videomme": VideoMME, "scienceqa": ScienceQA}


def get_benchmark(name: str, **options) -> Benchmark:
    if name not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name](**options)


__all__ = ["BENCHMARKS", "Benchmark", "DataMissing", "Loaded", "get_benchmark"]
