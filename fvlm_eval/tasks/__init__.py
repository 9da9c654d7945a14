"""Benchmarks: one short module each, registered in ``TASKS``, a plain dict of name -> class."""

from __future__ import annotations

from fvlm_eval.tasks.base import DataMissing, Loaded, Task
from fvlm_eval.tasks.mvbench import MVBench
from fvlm_eval.tasks.scienceqa import ScienceQA
from fvlm_eval.tasks.videomme import VideoMME

TASKS: dict[str, type[Task]] = {"mvbench": MVBench, "videomme": VideoMME, "scienceqa": ScienceQA}


def get_task(name: str, **options) -> Task:
    if name not in TASKS:
        raise KeyError(f"unknown task {name!r}; known: {', '.join(TASKS)}")
    return TASKS[name](**options)


__all__ = ["TASKS", "DataMissing", "Loaded", "Task", "get_task"]
