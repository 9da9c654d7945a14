"""What a resumed run does with the records it finds: what a record lacks of what this run measures (it is scored
again), what of it is kept and replaced (said), and generated answers read by an older letter reader, read again
from their stored texts rather than generated again.
"""

from __future__ import annotations

from pathlib import Path

from fvlm_eval.letter_readings import (
    OLDER_READER,
    read_again,
    read_by_another_reader,
    stale_readings,
    stale_readings_said,
)
from fvlm_eval.records import Record, append_records
from fvlm_eval.run.carried import carried_measures, rotations_generated
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.types import Question
from fvlm_eval.wording import counted


def lacks(record: Record, settings: RunSettings) -> list[str]:
    """What a record of this question lacks of what this run measures, in words (empty: nothing to score)."""
    found = []
    if settings.generate and record.generated is None:
        found.append("generated answers")
    elif settings.generate and record.generated.get("max_new_tokens") != settings.max_new_tokens:
        found.append(f"answers generated with --max-new-tokens {settings.max_new_tokens}")
    elif settings.generate and read_by_another_reader(record):
        found.append(OLDER_READER)  # read again where it can be (``read_again_where_stale``), else scored again
    if settings.circular and record.circular is None:
        found.append("circular rotations")
    elif settings.circular and settings.generate and not rotations_generated(record.circular):
        found.append("the circular rotations' answers")  # asked without --generate: circular_generated needs them
    if record.cloze is None:
        found.append("the cloze formulation")
    return found


def read_again_where_stale(
    where: str,
    records: dict[str, Record],
    questions: list[Question],
    hashes: dict[str, str],
    settings: RunSettings,
    path: Path,
) -> tuple[dict[str, Record], list[str]]:
    """``records`` with the generated answers read by an older letter reader (of ``questions`` recorded alike, which
    lack nothing else) read again by today's reader from their stored texts, appended to ``path``; and a line saying
    so. Nothing is generated again: the texts are the model's, only their reading changes (``letter_readings``); a
    record that cannot be read again exactly still lacks its reading, and is scored again."""
    again = [
        new
        for question in questions
        if (record := records.get(question.id)) is not None
        and not record.failed
        and record.question_sha256 == hashes[question.id]
        and lacks(record, settings) == [OLDER_READER]
        and (new := read_again(record, question)) is not None
    ]
    if not again:
        return records, []
    append_records(path, again)
    said = (
        f"{where}: the generated answers of {counted(len(again), 'question')}, read by an older letter reader, "
        "read again by today's from their stored texts (nothing generated again)"
    )
    return {**records, **{record.id: record for record in again}}, [said]


def stale_left_said(where: str, records: list[Record], output_dir: Path) -> list[str]:
    """A line when a summary counts generated answers read by an older letter reader (a run without --generate
    keeps them), saying how to read them again; else none."""
    stale = stale_readings(records)
    return [f"{where}: {stale_readings_said(len(stale), output_dir)}"] if stale else []


def replaced_said(where: str, lacking: list[Record], settings: RunSettings) -> str | None:
    """One line on the recorded questions (``lacking``: recorded alike, not failed) scored again for what this run
    adds: what it adds, what of their records is kept (``carried``), what is replaced."""
    if not lacking:
        return None
    said = {"kept": set(), "dropped": set()}
    for record in lacking:
        kept, dropped = carried_measures(record, settings.generate, settings.circular)
        said["kept"].update(kept)
        said["dropped"].update(dropped)
    adds = list(dict.fromkeys(what for r in lacking for what in lacks(r, settings)))
    limits = {r.generated.get("max_new_tokens") for r in lacking if r.generated} - {settings.max_new_tokens}
    again = f"{where}: {counted(len(lacking), 'recorded question')} scored again for what this run adds"
    said_again = f"{again} ({', '.join(adds)})"
    if said["kept"]:
        said_again += f"; their earlier {' and '.join(sorted(said['kept']))} are kept"
    if settings.generate and limits:
        dropped = (
            ", and with them the circular rotations asked with those answers (--circular scores them again)"
            if said["dropped"]
            else ""
        )
        said_again += (
            f"; answers generated with --max-new-tokens {', '.join(map(str, sorted(limits, key=str)))} are "
            f"replaced{dropped}"
        )
    return said_again
