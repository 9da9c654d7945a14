"""Generated answers read by an older letter reader: found, told apart between runs, and read again exactly."""

from __future__ import annotations

import dataclasses

from fvlm_eval.answers import LETTER_READER
from fvlm_eval.letter_readings import (
    read_again,
    read_by_another_reader,
    reader_difference,
    stale_readings,
    stale_readings_said,
)
from fvlm_eval.records import make_record
from fvlm_eval.types import ChoiceResult, Generation
from tests.fvlm_eval.test_records import THREE, logprobs_for

PROMPT = "Colour?\nA. red\nB. green\nC. blue"
# Rotation 0 as today's reader reads it (C: an answer, then a remark) and an older one did not (no letter); rotation
# 1 asks "A. green B. blue C. red", so its "B. blue" is the original C; rotation 2's "blue" is C by its text.
ANSWERS = ("C.\nA. is wrong because red is not the colour", "B. blue", "blue")


def fresh():
    result = ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0))
    generations = [Generation("g", text, 4, True, limit=16) for text in ANSWERS]
    return make_record(
        THREE,
        "m",
        PROMPT,
        "q" * 64,
        result,
        generation=generations[0],
        rotations=[(result, generations[1]), (result, generations[2])],
    )


def read_by_an_older_reader(record):
    """``record`` as a version that read no letter in rotation 0's answer, and recorded no reader, recorded it."""
    generated = {k: v for k, v in record.generated.items() if k != "reader"} | {"letter": None, "status": "no_letter"}
    rotations = [dict(r) for r in record.circular["rotations"]]
    rotations[0] = {**rotations[0], "generated": {**rotations[0]["generated"], "letter": None, "status": "no_letter"}}
    pred = {**record.pred, "generated": None, "circular_generated": None}
    correct = {**record.correct, "generated": False, "circular_generated": False}
    return dataclasses.replace(
        record, generated=generated, circular={"rotations": rotations}, pred=pred, correct=correct
    )


def test_answers_an_older_reader_read_are_read_again_exactly_as_today_reads_them():
    """An old folder's generated letters were kept as that version read them: "report" showed, and a resumed run
    kept, letters today's rule would not give (each circular rotation read with its own rotated options)."""
    today, old = fresh(), read_by_an_older_reader(fresh())
    assert today.pred["generated"] == "C" and today.pred["circular_generated"] == "C"  # what is to be recovered
    again = read_again(old, THREE)
    assert again.generated == today.generated and again.generated["reader"] == LETTER_READER
    assert again.circular == today.circular
    assert again.pred == today.pred and again.correct == today.correct
    assert not read_by_another_reader(again) and read_by_another_reader(old)


def test_an_answer_that_cannot_be_read_again_exactly_is_left_to_be_scored_again():
    """A rotation whose order is not the question's rotated (another shape of block) is never guessed at."""
    old = read_by_an_older_reader(fresh())
    rotations = [dict(r) for r in old.circular["rotations"]]
    rotations[1]["order"] = "CAB"
    assert read_again(dataclasses.replace(old, circular={"rotations": rotations}), THREE) is None
    failed = dataclasses.replace(old, error="vision encode failed: boom")
    assert read_again(failed, THREE) is None and not read_by_another_reader(failed)


def test_stale_readings_are_the_answers_another_reader_read():
    """Nothing found a record whose letters another reader read: report, regress and track trusted them."""
    today, old = fresh(), read_by_an_older_reader(fresh())
    older = dataclasses.replace(today, id="b/4", generated={**today.generated, "reader": LETTER_READER - 1})
    failed = dataclasses.replace(old, id="b/5", error="vision encode failed: boom")
    no_answer = dataclasses.replace(today, id="b/6", generated=None)
    assert stale_readings([today, old, older, failed, no_answer]) == [old.id, "b/4"]
    said = stale_readings_said(2, "runs/x")
    assert said.startswith("2 generated answers were read by an older letter reader")
    assert "--generate" in said and "into runs/x" in said
    assert stale_readings_said(1, "runs/x").startswith("1 generated answer was read")


def test_two_runs_read_by_different_or_unknown_readers_are_told_apart():
    """regress compared letters read by two rules as if only the model had changed."""
    today, old = fresh(), read_by_an_older_reader(fresh())
    assert reader_difference([today], [today]) is None
    assert reader_difference([old], [today]) == "baseline: not recorded (an older fvlm-eval's); current: reader 1"
    assert reader_difference([old], [old]) is not None  # two unknown readers may differ
    assert "baseline: reader 1 and not recorded" in reader_difference([today, old], [today])
    assert reader_difference([old], []) is None  # a run without generated answers: a protocol it lacks, said so
