"""How many processes make report.html's thumbnails by default."""

from __future__ import annotations

import os


def test_thumbnail_processes_default_to_the_cpus_this_process_may_use(monkeypatch):
    """Under taskset, a cpuset or SLURM (2 of 64 CPUs) the report said "8 processes" and started 8 on 2 CPUs:
    the default counted the machine's cores (os.cpu_count), not the CPUs it may use."""
    from fvlm_eval.reports.html.thumbnails import all_thumbnails

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    said = []
    tasks = [("media", "not a sampling", "transform", None, 4)] * 3  # each a quick "frames not available"
    found = all_thumbnails(tasks, None, said.append)
    assert said == ["report.html: thumbnails of 3 media (frame cache, else decoded; 2 processes)"]
    assert all("frames not available" in thumbnail["note"] for thumbnail in found)
