"""One rule for reading a ``<benchmark>/<mode>`` run folder whose summary may be stale: the records
are the truth.

``load_run_folder(folder)`` returns the records to use, the summary (if any) and warnings:

- ``correct`` is recomputed from ``pred`` and ``gold`` for every protocol (right when the record
  did not fail, the protocol predicted a letter, and it is the gold one); a record whose stored
  ``correct`` disagrees (a hand edit) is counted in a warning naming the file, and the recomputed
  value is used.
- ``pred`` is recomputed too, from the record's own scores, and the scores from its token
  log-probabilities where they can be (``recompute``): a record whose scores are not its
  log-probabilities' or whose ``pred`` is not its scores' choice is counted in a warning naming the
  file, and the recomputed values are used (``correct`` then follows them).
- A record of another benchmark or mode than its folder's names (a file copied from another run) is
  an error naming the file: its numbers would be read as this folder's.
- A ``summary.json`` older than ``samples.jsonl`` (an interrupted rerun, edited records), or none
  beside the records, is a warning: numbers must be computed from the records. It says a run is
  writing the folder now when a process of this machine holds its lock (``folder_holders``: read,
  never taken), rather than that its run stopped and is to be rerun (the rerun would be refused). The summary
  supplies only the selection of questions it counts (``questions``: a later ``--limit`` may
  have narrowed the run) and the headline protocol, when present; its numbers are never used.
- A summary with no readable records (``samples.jsonl`` missing, or not a file, or empty) is a
  warning naming the file: with no records there is nothing measured to show. So is a
  ``settings.json`` missing or unreadable beside the records (what made them is unknown).
- The selection can never change the numbers silently: one that leaves recorded questions out
  is said in a warning (with the summary's own ``coverage.recorded`` when that disagrees), and an
  emptied or malformed one is ignored (all records count), with a warning.

``report`` and ``regress`` both read run folders through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from fvlm_eval.errors import RecordError
from fvlm_eval.files import read_json
from fvlm_eval.folder_holders import Writers, writers
from fvlm_eval.records import Record, latest_by_id, read_records
from fvlm_eval.reports.recompute import recompute
from fvlm_eval.wording import agreeing, counted

SAMPLES, SUMMARY, SETTINGS = "samples.jsonl", "summary.json", "settings.json"
MTIME_SLACK_S = 1.0  # file systems with coarse timestamps: a summary written in the same second is not stale


@dataclass(frozen=True)
class RunFolder:
    """A ``<benchmark>/<mode>`` folder read by the one rule: ``records`` (id -> record, ``correct``
    recomputed, restricted to the summary's selection when there is one), ``summary`` (the parsed
    ``summary.json``, or ``None``), ``warnings`` (one line each, naming the file) and ``settings`` (the parsed
    ``settings.json``, or ``None`` when it is missing or unreadable)."""

    folder: Path
    records: dict[str, Record]
    summary: dict | None
    warnings: list[str]
    settings: dict | None = None

    @property
    def headline_protocol(self) -> str | None:
        """The run's headline protocol as its summary states it (``None`` without a summary)."""
        value = self.summary.get("headline_protocol") if self.summary else None
        return value if isinstance(value, str) else None

    @property
    def stale(self) -> bool:
        """Whether the folder was warned about (a summary older than, missing beside, or without its
        records; a selection that leaves records out or was emptied; edited ``correct`` flags)."""
        return bool(self.warnings)


def recomputed_correct(record: Record) -> dict[str, bool]:
    """protocol -> right, from ``pred`` and ``gold`` alone (a failed question is wrong everywhere)."""
    return {
        p: record.error is None and record.pred.get(p) is not None and record.pred.get(p) == record.gold
        for p in dict.fromkeys([*record.pred, *record.correct])
    }


def no_records(folder: Path) -> str | None:
    """The warning for a folder whose ``summary.json`` has no readable records beside it, else ``None``."""
    folder = Path(folder)
    samples = folder / SAMPLES
    if samples.is_file() or not (folder / SUMMARY).exists():
        return None
    what = "not a file" if samples.exists() else "missing"
    return (
        f"{samples}: {what}, so {folder / SUMMARY} has no records behind it; its numbers are not shown as "
        "measured (nothing is counted for this folder)"
    )


def unfinished(folder: Path) -> str:
    """The warning for records without a summary beside them: a run writing them now (this machine's process
    that holds the folder's lock), else one stopped or killed before its summary, to be rerun."""
    who = writers([folder]).get(folder, Writers())
    if who.here:
        return (
            f"{folder}: a run ({who.here}) is writing this folder now: these numbers are partial, computed from the "
            "records so far (all of them: the run's selection of questions is unknown); report again when it ends"
        )
    return (
        f"{folder}: no summary.json beside samples.jsonl: its run has not finished (stopped or killed before "
        f"its summary: rerun the same `fvlm-eval run` command to complete it{_elsewhere(who)}), so these numbers "
        "may be partial; they are computed from the records (all of them: the run's selection of questions is "
        "unknown)"
    )


def _elsewhere(who: Writers) -> str:
    """The caveat for a folder whose lock names a run on another machine: it may still be writing there."""
    return f"; unless its run still writes it: its lock names {who.elsewhere}" if who.elsewhere else ""


def _read_settings(path: Path) -> tuple[dict | None, str]:
    """A run folder's ``settings.json`` (``None`` when it is missing or unreadable), and the warning for that:
    the records are still read, but what made them (model, frames, dtype) cannot be told."""
    if not path.exists():
        return None, f"{path}: missing, so the settings its records were made with are unknown"
    try:
        settings = read_json(path)
    except RecordError as error:
        return None, f"{error}; the settings its records were made with are unknown"
    if not isinstance(settings, dict):
        return None, f"{path}: not a settings object; the settings are unknown"
    return settings, ""


def _selection(
    summary: dict, records: dict[str, Record], samples: Path, summary_path: Path, warnings: list[str]
) -> list[str] | None:
    """The ids the summary counts, or ``None`` (all records): see the module's rule."""
    if "questions" not in summary or not records:
        return None
    selected = summary["questions"]
    coverage = summary.get("coverage")
    recorded = coverage.get("recorded") if isinstance(coverage, dict) else None
    if not isinstance(selected, list) or not all(isinstance(i, str) for i in selected):
        warnings.append(
            f"{summary_path}: `questions` is not a list of ids (hand-edited?); ignored: all "
            f"{counted(len(records), 'record')} of {samples} count"
        )
        return None
    if not selected and recorded != 0:
        warnings.append(
            f"{summary_path}: `questions` is empty while {samples} holds {counted(len(records), 'record')} "
            "(hand-edited?); ignored: every record counts"
        )
        return None
    selected = list(dict.fromkeys(selected))
    left_out = len(set(records) - set(selected))
    if left_out:
        own = (
            f"; its own coverage says {recorded} recorded: hand-edited?"
            if isinstance(recorded, int) and recorded != len(selected)
            else ""
        )
        warnings.append(
            f"{samples}: {counted(left_out, 'record')} outside the {counted(len(selected), 'question')} "
            f"summary.json counts (a later, smaller --limit?{own}) {agreeing(left_out, 'is', 'are')} "
            "left out"
        )
    return selected


def load_run_folder(folder: Path) -> RunFolder:
    """Read ``folder`` (holding ``samples.jsonl`` and normally ``summary.json``) by the rule above.

    Raises ``RecordError`` (naming the file and line) for a record or summary that cannot be read.
    """
    folder = Path(folder)
    samples, summary_path = folder / SAMPLES, folder / SUMMARY
    warnings: list[str] = []
    records = latest_by_id(read_records(samples)) if samples.is_file() else {}
    strays = [r for r in records.values() if (r.benchmark, r.mode) != (folder.parent.name, folder.name)]
    if strays:
        raise RecordError(
            f"{samples}: {counted(len(strays), 'record')} of {strays[0].benchmark} {strays[0].mode} (e.g. "
            f"{strays[0].id}) in the folder of {folder.parent.name} {folder.name}: copied from another run or mode? "
            "A run folder holds only its own benchmark and mode's records"
        )
    summary = None
    if summary_path.is_file():
        summary = read_json(summary_path)
        if not isinstance(summary, dict):
            summary = None
            warnings.append(f"{summary_path}: not a summary (ignored); numbers are computed from the records")
        elif samples.is_file() and samples.stat().st_mtime > summary_path.stat().st_mtime + MTIME_SLACK_S:
            who = writers([folder]).get(folder, Writers())
            warnings.append(
                f"{folder}: a run ({who.here}) is writing this folder now, so its summary.json is older than "
                "samples.jsonl: numbers are computed from the records so far; report again when it ends"
                if who.here
                else f"{folder}: summary.json is older than samples.jsonl (an interrupted rerun, or edited "
                f"records?{_elsewhere(who)}); numbers are computed from the records"
            )
    elif samples.is_file():
        warnings.append(unfinished(folder))
    missing_records = no_records(folder)
    if missing_records:
        warnings.append(missing_records)
    if samples.is_file() and not records:
        warnings.append(f"{samples}: holds no records; nothing is counted for this folder")
    settings, unknown = _read_settings(folder / SETTINGS)
    if unknown and samples.is_file():
        warnings.append(unknown)
    selected = _selection(summary, records, samples, summary_path, warnings) if summary else None
    if selected is not None:
        missing = [i for i in selected if i not in records]
        if missing:
            warnings.append(
                f"{samples}: {counted(len(missing), 'question')} the summary counts "
                f"{agreeing(len(missing), 'has', 'have')} no record (e.g. {missing[0]}); "
                "they are left out"
            )
        records = {i: records[i] for i in selected if i in records}
    edited, rescored, repredicted = [], [], []
    for key, record in records.items():
        if recomputed_correct(record) != record.correct:
            edited.append(key)
        found = recompute(record)
        if found.scores_changed:
            rescored.append(f"{key} ({', '.join(found.scores_changed)})")
        if found.preds_changed:
            repredicted.append(f"{key} ({', '.join(found.preds_changed)})")
        correct = recomputed_correct(found.record)
        if found.record is not record or correct != record.correct:
            records[key] = dataclasses.replace(found.record, correct=correct)
    if rescored:
        warnings.append(
            f"{samples}: {counted(len(rescored), 'record')} {agreeing(len(rescored), 'holds', 'hold')} scores that "
            f"are not their own token log-probabilities' (hand-edited?), e.g. {rescored[0]}; recomputed from them"
        )
    if repredicted:
        warnings.append(
            f"{samples}: {counted(len(repredicted), 'record')} {agreeing(len(repredicted), 'holds', 'hold')} a `pred` "
            f"that is not its own scores' choice (hand-edited, or recorded by an older rule?), e.g. {repredicted[0]}; "
            "recomputed from the scores"
        )
    if edited:
        warnings.append(
            f"{samples}: {counted(len(edited), 'record')} {agreeing(len(edited), 'holds', 'hold')} `correct` flags "
            "that disagree with their pred and gold "
            f"(hand-edited?), e.g. {edited[0]}; recomputed from pred and gold"
        )
    return RunFolder(folder, records, summary, warnings, settings)
