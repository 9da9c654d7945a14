"""The run folders ``regress`` compares: found (``<benchmark>/<mode>`` folders holding records or a summary),
read by the one rule of ``freshness.load_run_folder``, with their ``settings.json``; anything that makes them not
comparable is a ``RegressUnusable`` (exit 4). And why two runs of one ``--limit`` share few questions, where an
earlier fvlm-eval chose them otherwise."""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.errors import ExitCode, FvlmEvalError, RecordError
from fvlm_eval.files import not_a_folder, read_json
from fvlm_eval.reports.freshness import RunFolder, load_run_folder
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


__all__ = ["RegressUnusable", "file_in_the_way", "runs_of", "load_folder", "settings_of", "selected_otherwise"]
