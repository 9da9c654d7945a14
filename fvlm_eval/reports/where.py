"""Which folder to give, when the one given to ``report``, ``regress`` or ``track`` is not a run folder.

A run folder (the ``--output-dir`` of ``fvlm-eval run``) holds ``<benchmark>/<mode>/samples.jsonl``. The
common slips are a folder one or two levels inside it, a folder of run folders (or one above that), and
the ``report/`` folder that ``report`` wrote; each gets its own hint naming the folder(s) to give.
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.folder_holders import writers
from fvlm_eval.tasks import BENCHMARKS

RECORD_FILES = ("samples.jsonl", "summary.json")
REPORT_FILES = ("report.md", "report.html", "report.json")
SHOWN = 3  # run folders named in a hint; the rest counted
STOPPED_EARLY = "stopped before it recorded anything"
WRITING_NOTHING_YET = "writing it now and has recorded nothing yet"


def holds_run(folder: Path, depth: int = 2) -> bool:
    """Whether ``folder`` holds records, a summary or shards still to merge ``depth`` levels down (2: it is a run
    folder; reading it says what is wrong with it)."""
    pattern = "/".join(["*"] * depth)
    return any(any(folder.glob(f"{pattern}/{name}")) for name in (*RECORD_FILES, "samples.shard-*.jsonl"))


def runs_below(folder: Path) -> list[Path]:
    """Run folders one or two levels below ``folder`` (``runs/<model>``, ``results/runs/<model>``), sorted."""
    found = []
    for child in _folders(folder):
        if holds_run(child):
            found.append(child)
        else:
            found += [grandchild for grandchild in _folders(child) if holds_run(grandchild)]
    return found


def not_a_run_hint(folder: Path, one: bool = False) -> str:
    """What ``folder`` is instead of a run folder, and what to give, as the end of a one-line error (``one``: the
    command takes one run folder here, as each side of ``regress``)."""
    folder = Path(folder)
    if any((folder / name).is_file() for name in RECORD_FILES):
        return f"it is one <benchmark>/<mode> folder: give the run folder, two levels up: {folder.parent.parent}"
    if holds_run(folder, depth=1):
        return f"it is one benchmark's folder: give the run folder, one level up: {folder.parent}"
    if any((folder / name).is_file() for name in REPORT_FILES):
        return "it is a folder `fvlm-eval report` wrote: give the run folders it was made from"
    below = runs_below(folder)
    if below:
        more = f" (and {len(below) - SHOWN} more)" if len(below) > SHOWN else ""
        return (
            f"run folders are below it: give {'one of them' if one else 'them'}, "
            + " ".join(str(p) for p in below[:SHOWN])
            + more
        )
    stopped = sorted(p.parent.relative_to(folder) for p in folder.glob("*/*/settings.json"))
    live = [who.here for who in writers(folder / p for p in stopped).values() if who.here]
    if live:  # a run that has just started: its lock is held (read, never taken: that could refuse the run)
        return (
            f"a run ({live[0]}) is {WRITING_NOTHING_YET} ({', '.join(map(str, stopped[:SHOWN]))} hold settings.json "
            "only): report again once it has recorded questions"
        )
    if stopped:  # a run SIGKILLed before its first record: its folder holds its settings and nothing more
        return (
            f"it is the --output-dir of a run {STOPPED_EARLY} ({', '.join(map(str, stopped[:SHOWN]))} hold "
            "settings.json only): rerun that `fvlm-eval run` command to score it"
        )
    data = [name for name in BENCHMARKS if (folder / name).is_dir()]
    if data:
        return f"it holds benchmark data ({', '.join(data)}): that is a --data-dir; give the --output-dir of a run"
    return "is it the --output-dir of `fvlm-eval run`?"


def _folders(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir())
    except OSError:  # unreadable: no hint from it
        return []
