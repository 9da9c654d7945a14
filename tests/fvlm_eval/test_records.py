"""The record type: made from a question and its scores, written and read back, old files refused clearly."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fvlm_eval.records import (REGEX_MISREAD, SCHEMA_VERSION, RecordError, append_records, make_record, question_sha256,
                               read_records, reference_regex_options)
from fvlm_eval.types import ChoiceResult, Generation, Media, Option, OptionLogprobs, Question

QUESTION = Question("b/1", "b", Media("video", "b/v.mp4", "/d/v.mp4"), "Which state?", (Option("A", "Ohio"), Option("B", "Texas")),
                    "B", "b/v.mp4", fields=(("task", "t"),), source="t.json", source_sha256="f" * 64)
OPTIONS = (OptionLogprobs((1, 2, 3, 2, 198), (-1.0, -1.0, -2.0, -0.1, -0.1), 3, (2, 3), "A", 2),
           OptionLogprobs((4, 2, 5, 2, 198), (-1.0, -1.0, -0.5, -0.1, -0.1), 3, (2, 3), "B", 2))


def test_a_record_round_trips_through_its_file(tmp_path):
    record = make_record(QUESTION, "m", "Which state?\nA. Ohio\nB. Texas", "q" * 64, ChoiceResult("p" * 64, OPTIONS),
                         generation=Generation("g" * 64, "The answer is (B).", 6, True))
    assert record.pred["option_text"] == "B" and record.correct["option_text"] and record.pred["generated"] == "B"
    assert record.generated["status"] == "letter" and record.schema_version == SCHEMA_VERSION
    append_records(tmp_path / "s.jsonl", [record])
    assert read_records(tmp_path / "s.jsonl") == [record]


def test_a_failed_question_is_wrong_under_every_protocol():
    record = make_record(QUESTION, "m", "Which state?\nA. Ohio\nB. Texas", "q" * 64, error="video v.mp4 is missing")
    assert record.failed and not any(record.correct.values()) and record.options is None


def test_records_of_an_older_version_are_refused_by_name(tmp_path):
    (tmp_path / "s.jsonl").write_text(json.dumps({"id": "x", "task": "mvbench", "correct": {}}) + "\n")
    with pytest.raises(RecordError, match="s.jsonl:1: made by an older version of fvlm-eval"):
        read_records(tmp_path / "s.jsonl")


def test_the_question_hash_follows_what_it_was_computed_from():
    base = question_sha256(QUESTION, "prompt", "2")
    changed = [dataclasses.replace(QUESTION, gold="A"), dataclasses.replace(QUESTION, options=(Option("A", "Utah"), Option("B", "Texas"))),
               dataclasses.replace(QUESTION, media=dataclasses.replace(QUESTION.media, bound=(1.0, 2.0)))]
    assert len({base, question_sha256(QUESTION, "other prompt", "2"), question_sha256(QUESTION, "prompt", "3"),
                *(question_sha256(q, "prompt", "2") for q in changed)}) == 6
    assert question_sha256(dataclasses.replace(QUESTION, fields=(("task", "u"),)), "prompt", "2") == base


@pytest.mark.parametrize("prompt, misread", [
    ("Which state?\nA. Ohio\nB. Texas", False),
    ("Which of the U.S. states is farthest north?\nA. Ohio\nB. Texas", True),
    ("What ended World War II.\nA. Ohio\nB. Texas", True),
])
def test_the_public_scorers_regex_misreads_are_noted(prompt, misread):
    record = make_record(QUESTION, "m", prompt, "q" * 64, ChoiceResult("p" * 64, OPTIONS))
    assert (REGEX_MISREAD in record.notes) == misread
    assert (reference_regex_options(prompt) != {"A": "A. Ohio", "B": "B. Texas"}) == misread
