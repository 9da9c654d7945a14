"""Which letter reader read a record's generated answers, and reading them again with today's.

A record's ``generated.letter`` (and each circular rotation's generated letter) was read by the letter
reader (``answers.extract_letter``) of the fvlm-eval that made the run, and the reader has changed
(``A. B. C. D.`` read as A, now as no choice): ``generated.reader`` names its version
(``answers.LETTER_READER``); a record without it was read by a reader from before versions were recorded,
which one is unknown. A letter read by another reader may not be today's reading, and a change of reader
between two runs would read as a change of the model: ``report`` (and a run that leaves such records) says
so, ``regress`` refuses to compare the letters of two different readers, and a run with ``--generate``
reads them again from their stored texts (it has the question's options; a record does not).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from pathlib import Path

from fvlm_eval.answers import LETTER_READER, extract_letter
from fvlm_eval.circular import rotated, rotation_predictions
from fvlm_eval.protocols import CIRCULAR, GENERATED
from fvlm_eval.records import Record
from fvlm_eval.types import Question
from fvlm_eval.wording import agreeing, counted

READER = "reader"  # the key of ``generated`` naming the version of the reader that read its letters
# What a record whose answers an older reader read lacks, in a resume's words ("scored again for what this run adds")
OLDER_READER = "today's reading of answers read by an older letter reader"


def _read(record: Record) -> bool:
    """Whether ``record`` holds generated answers whose letters count (it did not fail)."""
    return not record.failed and isinstance(record.generated, dict)


def reader_of(record: Record) -> int | None:
    """The version of the reader that read ``record``'s generated answers (``None``: one from before versions were
    recorded)."""
    reader = record.generated.get(READER) if isinstance(record.generated, dict) else None
    return reader if isinstance(reader, int) and not isinstance(reader, bool) else None


def read_by_another_reader(record: Record) -> bool:
    """Whether ``record``'s generated answers (of a question that did not fail) were read by another reader than
    today's."""
    return _read(record) and reader_of(record) != LETTER_READER


def stale_readings(records: Iterable[Record]) -> list[str]:
    """The ids of the records whose generated answers were read by another letter reader than today's (their
    letters may not be today's reading): what ``report`` warns of, per benchmark and mode."""
    return [record.id for record in records if read_by_another_reader(record)]


def stale_readings_said(count: int, run: Path | str) -> str:
    """One line on ``count`` generated answers of a benchmark and mode of ``run`` read by an older reader, and
    the fix (a run with ``--generate`` into the same folder reads them again)."""
    return (
        f"{counted(count, 'generated answer')} {agreeing(count, 'was', 'were')} read by an older letter reader "
        "(their letters may differ from today's reading): rerun the same `fvlm-eval run` command with --generate "
        f"(and the --max-new-tokens they were made with) into {run} to read them again"
    )


def _readers_words(readers: set[int | None]) -> str:
    """``reader 1``, ``not recorded (an older fvlm-eval's)``, or both (a folder resumed by another version)."""
    named = [f"reader {r}" for r in sorted(r for r in readers if r is not None)]
    named += ["not recorded (an older fvlm-eval's)"] if None in readers else []
    return " and ".join(named)


def reader_difference(baseline: Iterable[Record], current: Iterable[Record]) -> str | None:
    """Which letter readers read two runs' generated answers (``baseline: not recorded (an older fvlm-eval's);
    current: reader 1``) when they differ, or either is not recorded; ``None`` when one known reader read them
    all (or a run holds none: a protocol it lacks). The letters of two readers differ by the rule that read them,
    not only by the model's answers."""
    found = [{reader_of(r) for r in records if _read(r)} for records in (baseline, current)]
    if not found[0] or not found[1] or (found[0] == found[1] and len(found[0]) == 1 and None not in found[0]):
        return None
    return f"baseline: {_readers_words(found[0])}; current: {_readers_words(found[1])}"


def read_again(record: Record, question: Question) -> Record | None:
    """``record`` with its generated answers (and its circular rotations') read again by today's reader from their
    stored texts, ``pred`` and ``correct`` of ``generated`` and ``circular_generated`` with them; ``question`` is
    the question they answered, as the run has it (its ``question_sha256`` the record's: the same options). None
    when it cannot be read again exactly (a block of another shape, a rotation of another order): scored again."""
    generated = record.generated
    if not _read(record) or not isinstance(generated.get("text"), str) or question.letters != record.letters:
        return None
    failed = bool(generated.get("error"))
    extracted = extract_letter(generated["text"], question.options)
    status = "failed" if failed else extracted.status
    pred = {**record.pred, **({GENERATED: None if failed else extracted.letter} if GENERATED in record.pred else {})}
    circular = record.circular
    rotations = circular.get("rotations") if isinstance(circular, dict) else None
    if isinstance(rotations, list) and any(isinstance(r, dict) and r.get("generated") for r in rotations):
        again = [_rotation_read_again(rotation, question, shift) for shift, rotation in enumerate(rotations)]
        if any(rotation is None for rotation in again):
            return None
        circular = {**circular, "rotations": again}
        if CIRCULAR + GENERATED in record.pred:
            pred[CIRCULAR + GENERATED] = rotation_predictions(again, record.letters, True)[CIRCULAR + GENERATED]
    read = [p for p in (GENERATED, CIRCULAR + GENERATED) if p in pred]
    return dataclasses.replace(
        record,
        generated={**generated, "letter": extracted.letter, "status": status, READER: LETTER_READER},
        circular=circular,
        pred=pred,
        correct={**record.correct, **{p: pred[p] is not None and pred[p] == record.gold for p in read}},
        recorded_at=time.time(),
    )


def _rotation_read_again(rotation: object, question: Question, shift: int) -> dict | None:
    """A circular rotation with its generated answer read again (its letter read back to the original one), or
    None when its order is not that of ``question`` rotated by ``shift`` or its answer is of another shape."""
    asked, order = rotated(question, shift)
    if not isinstance(rotation, dict) or rotation.get("order") != order or not isinstance(rotation.get("pred"), dict):
        return None
    answer = rotation.get("generated")
    if answer is None or (isinstance(answer, dict) and answer.get("status") == "failed"):
        return rotation  # no answer, or none generated: nothing read
    if not isinstance(answer, dict) or not isinstance(answer.get("text"), str):
        return None
    extracted = extract_letter(answer["text"], asked.options)
    back = dict(zip(asked.letters, order))
    letter = back[extracted.letter] if extracted.letter else None
    return {**rotation, "generated": {**answer, "status": extracted.status, "letter": letter}}


__all__ = [
    "OLDER_READER",
    "read_again",
    "read_by_another_reader",
    "reader_difference",
    "reader_of",
    "stale_readings",
    "stale_readings_said",
]
