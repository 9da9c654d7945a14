"""The run folders ``regress`` compares: found (``<benchmark>/<mode>`` folders holding records or a summary),
read by the one rule of ``freshness.load_run_folder``, with their ``settings.json``; anything that makes them not
comparable is a ``RegressUnusable`` (exit 4): a run still being written, or stopped before its end, among them
(``report`` and ``track`` read such a run with a warning; a gate must not pass on part of one). And why two runs
of one ``--limit`` share few questions, where an earlier fvlm-eval chose them otherwise."""

from __future__ import annotations

import os
from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError, RecordError
from fvlm_eval.files import not_a_folder, read_json
from fvlm_eval.folder_holders import LOCK_FILES, Writers, writers
from fvlm_eval.reports.freshness import SAMPLES, SUMMARY, RunFolder, load_run_folder
from fvlm_eval.reports.where import RECORD_FILES, not_a_run_hint


class RegressUnusable(FvlmEvalError, ValueError):
    """Two runs that cannot be compared; the message says why (exit 4)."""

    exit_code = ExitCode.UNUSABLE


def file_in_the_way(folder: Path) -> str | None:
    """Why a report cannot be written into ``folder`` (``--output``): ``a file, not a folder`` when it, or a
    folder above it, is a file (a plain ``File exists`` or ``Not a directory`` would name no problem); else
    ``None``. Checked before anything is compared or written."""
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is None or existing.is_dir():
        return None
    return "a file, not a folder" if existing == folder else f"{existing} is a file, not a folder"


def runs_of(folder: Path, role: str) -> dict[tuple[str, str], Path]:
    """(benchmark, mode) -> its folder in the run ``folder`` given as ``--<role>``; one that is no run, or holds
    unmerged shards, is one line naming the flag."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RegressUnusable(f"--{role} {folder}: {not_a_folder(folder)}")
    found = {
        (p.parent.parent.name, p.parent.name): p.parent  # a summary without records too: it is warned about
        for name in ("samples.jsonl", "summary.json")
        for p in sorted(folder.glob(f"*/*/{name}"))
    }
    shards = sorted(folder.glob("*/*/samples.shard-*.jsonl"))
    if shards:
        raise RegressUnusable(
            f"--{role} {folder}: holds unmerged shards ({shards[0].name}); run `fvlm-eval merge {folder}` first"
        )
    if not found or any((folder / name).is_file() for name in RECORD_FILES):
        hint = not_a_run_hint(folder, one=True)
        raise RegressUnusable(f"--{role} {folder}: no <benchmark>/<mode>/samples.jsonl under it; {hint}")
    return found


def refuse_unfinished(folder: Path, role: str) -> None:
    """A ``RegressUnusable`` naming the first ``<benchmark>/<mode>`` folder of the run ``folder`` (given as
    ``--<role>``) that a live process of this machine is writing (it holds the folder's lock, as
    ``freshness.unfinished`` reads it), else the first whose records have no ``summary.json`` beside them (its run
    stopped or was killed before its end: ``run`` writes the summary last, ``merge`` likewise). ``report`` reads
    such a run with a warning; a gate must not pass on the part written so far (past ``--min-overlap`` nothing
    else stopped it)."""
    folder = Path(folder)
    if not folder.is_dir():
        return  # said by ``runs_of``
    live = writers(sorted({p.parent for p in folder.glob(f"*/*/{LOCK_FILES}")}))
    being_written = sorted(f for f, who in live.items() if who.here)
    if being_written:
        first = being_written[0]
        more = f" (and {len(being_written) - 1} more of its folders)" if len(being_written) > 1 else ""
        raise RegressUnusable(
            f"--{role} {folder}: {first} is still being written by {live[first].here}{more}: its records are "
            "partial; regress when it ends"
        )
    for samples in sorted(folder.glob(f"*/*/{SAMPLES}")):
        if samples.is_file() and not (samples.parent / SUMMARY).is_file():
            elsewhere = live.get(samples.parent, Writers()).elsewhere
            maybe = f"; its lock names {elsewhere}, which may still be writing it" if elsewhere else ""
            raise RegressUnusable(
                f"--{role} {folder}: {samples.parent} has not finished (no {SUMMARY} beside {SAMPLES}: stopped or "
                f"killed before its end{maybe}): resume it with the same `fvlm-eval run` command, then regress"
            )


def measured(folder: Path) -> bool:
    """Whether a ``<benchmark>/<mode>`` folder holds records (a summary alone measured nothing that is shown)."""
    return (Path(folder) / SAMPLES).is_file()


def same_folders(base_runs: dict, cur_runs: dict, keys: list) -> list:
    """The (benchmark, mode) of ``keys`` whose folder, or record file, is one and the same in both runs (linked
    ``<benchmark>`` or ``<mode>`` folders, a linked ``samples.jsonl``): its records would be compared with
    themselves."""
    return [key for key in keys if any(_same(base_runs[key] / n, cur_runs[key] / n) for n in ("", SAMPLES))]


def _same(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:  # one is not there
        return False


def load_folder(folder: Path) -> RunFolder:
    try:
        return load_run_folder(folder)
    except RecordError as error:
        raise RegressUnusable(str(error)) from error


def _limit_selection(run: RunFolder) -> str | None:
    """How the run's ``--limit`` chose its questions (its manifest's ``limit_selection``; ``round-robin`` for a
    run made before it was recorded), or None for a run without ``--limit``."""
    manifest = run.summary.get("manifest") if isinstance(run.summary, dict) else None
    if not isinstance(manifest, dict) or manifest.get("limit") is None:
        return None
    return str(manifest.get("limit_selection") or "round-robin")


def selected_otherwise(base: RunFolder, cur: RunFolder) -> str:
    """Why two runs of one ``--limit`` share few questions, where it is that an earlier fvlm-eval chose them."""
    chosen = {"baseline": _limit_selection(base), "current": _limit_selection(cur)}
    if None in chosen.values() or len(set(chosen.values())) < 2:
        return ""
    told = ", ".join(f"{role}'s {rule}" for role, rule in chosen.items())
    return (
        f": their --limit questions were chosen otherwise ({told}: an earlier fvlm-eval took categories "
        "round-robin, this one in proportion to their sizes); remake the older run with this version"
    )


def settings_of(folder: Path) -> dict:
    try:
        settings = read_json(folder / "settings.json") if (folder / "settings.json").is_file() else {}
    except RecordError as error:
        raise RegressUnusable(str(error)) from error
    if not isinstance(settings, dict):
        raise RegressUnusable(f"{folder / 'settings.json'}: not a settings object")
    return settings


__all__ = [
    "RegressUnusable",
    "file_in_the_way",
    "load_folder",
    "measured",
    "refuse_unfinished",
    "runs_of",
    "same_folders",
    "selected_otherwise",
    "settings_of",
]
