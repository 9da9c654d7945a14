"""The checkpoints ``track`` reads: run folders, each one checkpoint at its training step, with its summaries."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.errors import FvlmEvalError
from fvlm_eval.files import read_json
from fvlm_eval.protocols import formulation_of
from fvlm_eval.summary import Summary

STEP_WORDS = r"(?:global[_-]?step|step|checkpoint|ckpt|iteration|iter)[_-]?(\d+)"


class TrackError(FvlmEvalError, ValueError):
    """Runs that cannot be tracked (not a run folder, no step, two runs at one step): one line."""


@dataclass(frozen=True)
class Checkpoint:
    step: int
    folder: Path
    step_from: str  # "manifest" or "folder name"
    summaries: dict  # (benchmark, mode) -> Summary (its summary.json)


@dataclass(frozen=True)
class Point:
    step: int
    run: str
    benchmark: str
    mode: str
    protocol: str
    formulation: str
    accuracy: float | None
    low: float | None
    high: float | None
    correct: int
    n: int
    chance: float | None


def step_from_name(name: str) -> int | None:
    """The training step in a folder name (the last number after a step word, or a name that is
    only a number), or None."""
    found = re.findall(STEP_WORDS, name, flags=re.IGNORECASE)
    if found:
        return int(found[-1])
    return int(name) if name.isdigit() else None


def _summaries(folder: Path) -> dict[tuple[str, str], Summary]:
    found = {}
    for path in sorted(folder.glob("*/*/summary.json")):
        try:
            summary = read_json(path)
        except Exception as error:  # a summary that cannot be read names its file
            raise TrackError(f"{path}: not a readable summary ({type(error).__name__}: {error})") from error
        if not isinstance(summary, dict) or not isinstance(summary.get("accuracy"), dict):
            raise TrackError(f"{path}: not a summary written by fvlm-eval (no 'accuracy')")
        try:
            found[(path.parent.parent.name, path.parent.name)] = Summary.from_json(summary)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise TrackError(
                f"{path}: not a summary of this version of fvlm-eval ({type(error).__name__}: {error})"
            ) from error
    return found


def find_runs(paths: list[Path]) -> list[Path]:
    """Run folders among ``paths``: each a run, or a folder whose sub-folders are runs."""
    if not paths:
        raise TrackError("no runs given: pass run folders (the --output-dir of fvlm-eval run) or a folder of them")
    runs = []
    for path in map(Path, paths):
        if path.is_file():
            raise TrackError(
                f"{path}: a file, not a folder; give run folders (the --output-dir of fvlm-eval run) "
                "or a folder of them"
            )
        if not path.is_dir():
            raise TrackError(f"{path}: no such folder")
        if list(path.glob("*/*/summary.json")):
            runs.append(path)
            continue
        children = sorted(p for p in path.iterdir() if p.is_dir() and list(p.glob("*/*/summary.json")))
        if not children:
            raise TrackError(
                f"{path}: not a run folder (no <benchmark>/<mode>/summary.json) and no sub-folder is one; "
                "give the --output-dir of each `fvlm-eval run`"
            )
        runs += children
    return list(dict.fromkeys(runs))


def checkpoint(folder: Path) -> Checkpoint:
    summaries = _summaries(folder)
    steps = {s.manifest.get("step") for s in summaries.values()} - {None}
    if len(steps) > 1:
        raise TrackError(
            f"{folder}: its summaries name different steps ({', '.join(map(str, sorted(steps)))}); "
            "one run folder is one checkpoint"
        )
    if steps:
        return Checkpoint(int(steps.pop()), folder, "manifest", summaries)
    step = step_from_name(folder.name)
    if step is None:
        raise TrackError(
            f"{folder}: no training step: neither its manifest (fvlm-eval run --step N) nor its name "
            "(step_9000, checkpoint-9000, ckpt9000, ...) gives one"
        )
    return Checkpoint(step, folder, "folder name", summaries)


def load_checkpoints(paths: list[Path]) -> list[Checkpoint]:
    found = sorted((checkpoint(run) for run in find_runs(paths)), key=lambda c: c.step)
    for before, after in zip(found, found[1:]):
        if before.step == after.step:
            raise TrackError(f"two runs at step {before.step}: {before.folder} and {after.folder}; track one of them")
    return found


def points(checkpoints: list[Checkpoint]) -> list[Point]:
    rows = []
    for ckpt in checkpoints:
        for (benchmark, mode), summary in sorted(ckpt.summaries.items()):
            for protocol, result in summary.accuracy.items():
                interval = result.ci95 or (None, None)
                rows.append(
                    Point(
                        ckpt.step,
                        str(ckpt.folder),
                        benchmark,
                        mode,
                        protocol,
                        formulation_of(protocol, result),
                        result.accuracy,
                        interval[0],
                        interval[1],
                        result.correct,
                        result.n,
                        result.chance,
                    )
                )
    return rows


def chosen_protocols(checkpoints: list[Checkpoint], requested: list[str] | None) -> list[str]:
    """The protocols drawn and compared: those asked for, else every run's headline (and
    ``generated`` when recorded)."""
    measured = {p for c in checkpoints for s in c.summaries.values() for p in s.accuracy}
    if requested:
        missing = [p for p in requested if p not in measured]
        if missing:
            raise TrackError(
                f"--protocol {', '.join(missing)}: no run measured it; measured: {', '.join(sorted(measured))}"
            )
        return list(dict.fromkeys(requested))
    found = [s.headline_protocol for c in checkpoints for s in c.summaries.values()]
    found += ["generated"] if "generated" in measured else []
    return [p for p in dict.fromkeys(found) if p]
