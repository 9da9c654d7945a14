"""The record type: made from a question and its scores, written and read back, old files refused clearly."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from fvlm_eval.errors import RecordError
from fvlm_eval.records import (
    REGEX_MISREAD,
    SCHEMA_VERSION,
    append_records,
    make_record,
    question_sha256,
    read_records,
    reference_regex_options,
)
from fvlm_eval.types import ChoiceResult, Generation, Media, Option, OptionLogprobs, Question

QUESTION = Question(
    "b/1",
    "b",
    Media("video", "b/v.mp4", "/d/v.mp4"),
    "Which state?",
    (Option("A", "Ohio"), Option("B", "Texas")),
    "B",
    "b/v.mp4",
    fields=(("task", "t"),),
    source="t.json",
    source_sha256="f" * 64,
)
OPTIONS = (
    OptionLogprobs((1, 2, 3, 2, 198), (-1.0, -1.0, -2.0, -0.1, -0.1), 3, (2, 3), "A", 2),
    OptionLogprobs((4, 2, 5, 2, 198), (-1.0, -1.0, -0.5, -0.1, -0.1), 3, (2, 3), "B", 2),
)


def test_a_record_round_trips_through_its_file(tmp_path):
    record = make_record(
        QUESTION,
        "m",
        "Which state?\nA. Ohio\nB. Texas",
        "q" * 64,
        ChoiceResult("p" * 64, OPTIONS),
        generation=Generation("g" * 64, "The answer is (B).", 6, True),
    )
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
    changed = [
        dataclasses.replace(QUESTION, gold="A"),
        dataclasses.replace(QUESTION, options=(Option("A", "Utah"), Option("B", "Texas"))),
        dataclasses.replace(QUESTION, media=dataclasses.replace(QUESTION.media, bound=(1.0, 2.0))),
    ]
    assert (
        len(
            {
                base,
                question_sha256(QUESTION, "other prompt", "2"),
                question_sha256(QUESTION, "prompt", "3"),
                *(question_sha256(q, "prompt", "2") for q in changed),
            }
        )
        == 6
    )
    assert question_sha256(dataclasses.replace(QUESTION, fields=(("task", "u"),)), "prompt", "2") == base


@pytest.mark.parametrize(
    "prompt, misread",
    [
        ("Which state?\nA. Ohio\nB. Texas", False),
        ("Which of the U.S. states is farthest north?\nA. Ohio\nB. Texas", True),
        ("What ended World War II.\nA. Ohio\nB. Texas", True),
    ],
)
def test_the_public_scorers_regex_misreads_are_noted(prompt, misread):
    record = make_record(QUESTION, "m", prompt, "q" * 64, ChoiceResult("p" * 64, OPTIONS))
    assert (REGEX_MISREAD in record.notes) == misread
    assert (reference_regex_options(prompt) != {"A": "A. Ohio", "B": "B. Texas"}) == misread


def logprobs_for(*summed):
    """Options whose answer log-probs sum (over the letter and the text) to ``summed``."""
    return tuple(
        OptionLogprobs((9 + k, 2, 5, 2, 198), (s / 3, s / 3, s / 3, -0.1, -0.1), 3, (2, 3), "ABC"[k], 2)
        for k, s in enumerate(summed)
    )


THREE = Question(
    "b/3",
    "b",
    Media("video", "b/v.mp4", "/d/v.mp4"),
    "Colour?",
    (Option("A", "red"), Option("B", "green"), Option("C", "blue")),
    "C",
    "b/v.mp4",
)


def test_circular_counts_right_only_when_every_rotation_is_right():
    from fvlm_eval.circular import rotated

    # rotation 1 lists (green, blue, red), rotation 2 (blue, red, green)
    assert rotated(THREE, 1)[1] == "BCA" and rotated(THREE, 2)[0].gold == "A"
    steady = ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0))  # always "blue", wherever it stands
    by_position = [
        ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0)),
        ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0)),
        ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0)),
    ]
    record = make_record(
        THREE,
        "m",
        "Colour?\nA. red\nB. green\nC. blue",
        "q" * 64,
        steady,
        rotations=[
            (ChoiceResult("p" * 64, logprobs_for(-3.0, -1.0, -2.0)), None),
            (ChoiceResult("p" * 64, logprobs_for(-1.0, -2.0, -3.0)), None),
        ],
    )
    assert record.pred["sum"] == "C" and record.pred["circular_sum"] == "C" and record.correct["circular_sum"]
    assert [r["order"] for r in record.circular["rotations"]] == ["ABC", "BCA", "CAB"]
    # always the last position: right as listed, wrong after rotating
    positional = make_record(
        THREE,
        "m",
        "Colour?\nA. red\nB. green\nC. blue",
        "q" * 64,
        by_position[0],
        rotations=[(r, None) for r in by_position[1:]],
    )
    assert (
        positional.correct["sum"] and positional.pred["circular_sum"] is None and not positional.correct["circular_sum"]
    )
    assert {r["pred"]["sum"] for r in positional.circular["rotations"]} == {"C", "A", "B"}
    # averaged over its three positions every option scores -2: a tie, which goes to the earliest letter
    assert positional.pred["permavg_sum"] == "A"
    for r in (record, positional):
        assert all(r.correct[p] == (r.pred[p] == r.gold) for p in r.pred)


def test_circular_generated_reads_each_rotation_back_to_the_original_letter():
    result = ChoiceResult("p" * 64, logprobs_for(-3.0, -2.0, -1.0))
    answers = [Generation("g", "C", 1, True), Generation("g", "B. blue", 3, True), Generation("g", "blue", 1, True)]
    record = make_record(
        THREE,
        "m",
        "Colour?\nA. red\nB. green\nC. blue",
        "q" * 64,
        result,
        generation=answers[0],
        rotations=[(result, answers[1]), (result, answers[2])],
    )
    assert [r["generated"]["letter"] for r in record.circular["rotations"]] == ["C", "C", "C"]
    assert record.pred["circular_generated"] == "C" and record.correct["circular_generated"]


def test_a_generated_answer_names_the_letter_reader_that_read_it():
    """A record's generated letter was read by its version's reader, which has changed ("A. B. C. D." read as A,
    now as none), and nothing said which: an old folder's letters passed as today's reading."""
    from fvlm_eval.answers import LETTER_READER

    record = make_record(
        QUESTION,
        "m",
        "Which state?\nA. Ohio\nB. Texas",
        "q" * 64,
        ChoiceResult("p" * 64, OPTIONS),
        generation=Generation("g" * 64, "A. B.", 3, True),
    )
    assert record.generated["reader"] == LETTER_READER and isinstance(LETTER_READER, int)
    assert record.generated["letter"] is None and record.generated["status"] == "ambiguous"


def test_a_generation_that_could_not_run_is_a_failure_not_an_empty_answer():
    record = make_record(
        QUESTION,
        "m",
        "Which state?\nA. Ohio\nB. Texas",
        "q" * 64,
        ChoiceResult("p" * 64, OPTIONS),
        generation=Generation("g" * 64, error="does not fit the model's context", limit=16),
    )
    assert (
        record.generated["status"] == "failed" and record.pred["generated"] is None and not record.correct["generated"]
    )


def test_a_prediction_decided_within_float_noise_is_flagged():
    tied = (
        OptionLogprobs((1, 2, 3, 2, 198), (-1.0, -1.0, -2.0, -0.1, -0.1), 3, (2, 3), "A", 2),
        OptionLogprobs((4, 2, 5, 2, 198), (-1.0, -1.0, -2.00000003, -0.1, -0.1), 3, (2, 3), "B", 2),
    )
    record = make_record(QUESTION, "m", "Which state?\nA. Ohio\nB. Texas", "q" * 64, ChoiceResult("p" * 64, tied))
    note = next(n for n in record.notes if n.startswith("near-tie"))
    assert note.split(": ")[1].split(", ") == [
        "reference",
        "sum",
        "mean",
        "letter",
        "option_text",
    ]  # not per byte: 4 vs 5 bytes
    clear = make_record(
        QUESTION, "m", "Which state?\nA. Ohio\nB. Texas", "q" * 64, ChoiceResult("p" * 64, logprobs_for(-3.0, -1.0))
    )
    assert not any(n.startswith("near-tie") for n in clear.notes)


def test_a_disk_that_fills_mid_line_leaves_no_part_of_it(tmp_path, monkeypatch):
    """A full disk writes part of the payload, then refuses: the error names the file and errno (the CLI's
    one line), and the file is cut back to its whole lines."""
    import errno

    from tests.fvlm_eval.constructed import record

    path = tmp_path / "samples.jsonl"
    append_records(path, [record(0, True, "v0")])
    before = path.read_bytes()
    real_write, calls = os.write, []

    def fills_up(fd, data):
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(os, "write", fills_up)
        with pytest.raises(OSError) as caught:
            append_records(path, [record(1, True, "v0"), record(2, False, "v1")])
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(path) and len(calls) == 2
    assert path.read_bytes() == before


def test_temporaries_left_by_a_killed_writer_are_swept_by_the_next_write(tmp_path):
    """A writer killed between making its temporary and renaming it leaves ``.summary.json.XXXXXXXX.fvlm-partial``;
    the next write of that file removes it once it is old, and never a fresh one (a live writer's) or another file:
    a user's own hidden backups beside their files (``.notes.txt.original`` beside notes.txt) matched the sweep's
    pattern when temporaries carried no mark of their own, and were deleted by the next report written there."""
    import time

    from fvlm_eval.files import ABANDONED_AFTER_SECONDS, write_json_atomic

    path = tmp_path / "summary.json"
    for name in ("settings.json", "notes.txt", "env", "config.yaml"):
        (tmp_path / name).write_text("{}")
    abandoned, fresh, other = (
        tmp_path / ".summary.json.k1l2m3n4.fvlm-partial",
        tmp_path / ".summary.json.a1b2c3d4.fvlm-partial",
        tmp_path / ".summary.json.keep",
    )
    beside = tmp_path / ".settings.json.q9w8e7r6.fvlm-partial"
    unrelated = tmp_path / ".gone.txt.q9w8e7r6.fvlm-partial"  # no gone.txt here
    backups = [tmp_path / n for n in (".notes.txt.original", ".env.template", ".config.yaml.20240101")]
    kept = [fresh, other, unrelated, *backups]
    for leftover in (abandoned, beside, *kept):
        leftover.write_text("{")
    old = time.time() - ABANDONED_AFTER_SECONDS - 60
    for leftover in (abandoned, beside, other, unrelated, *backups):
        os.utime(leftover, (old, old))
    write_json_atomic(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}
    assert not abandoned.exists() and not beside.exists()
    assert all(p.exists() for p in kept), [p.name for p in kept if not p.exists()]


def test_records_are_strict_json_both_ways(tmp_path):
    """A NaN score is never written as a bare ``NaN`` (strict readers refuse the file), and a line holding one
    is an error naming the file and line."""
    record = make_record(QUESTION, "m", "Which state?\nA. Ohio\nB. Texas", "q" * 64, ChoiceResult("p" * 64, OPTIONS))
    broken = dataclasses.replace(record, scores={**record.scores, "sum": {"A": float("nan"), "B": -1.0}})
    with pytest.raises(RecordError, match="not finite"):
        append_records(tmp_path / "s.jsonl", [broken])
    assert not (tmp_path / "s.jsonl").exists() or not (tmp_path / "s.jsonl").read_bytes()
    append_records(tmp_path / "s.jsonl", [record])
    line = json.dumps({**json.loads((tmp_path / "s.jsonl").read_text()), "recorded_at": float("inf")})
    (tmp_path / "s.jsonl").write_text((tmp_path / "s.jsonl").read_text() + line + "\n")
    with pytest.raises(RecordError, match=r"s\.jsonl:2: not a JSON record \(Infinity is not a JSON number"):
        read_records(tmp_path / "s.jsonl")


def test_options_of_the_same_text_are_one_answer_in_the_cloze_formulation():
    """Identical texts get identical cloze scores: the prediction names the last of them, as MVBench's gold
    (the last candidate equal to the answer) does, and the record says which options share a text."""
    from fvlm_eval.types import ClozeResult

    twice = dataclasses.replace(
        QUESTION, options=(Option("A", "Texas"), Option("B", "Ohio"), Option("C", "Texas")), gold="C"
    )
    options = OPTIONS + (OptionLogprobs((6, 2, 4, 2, 198), (-1.0, -1.0, -1.7, -0.1, -0.1), 3, (2, 3), "C", 2),)
    same = ((-0.5,), (-3.0,), (-0.5,))
    cloze = ClozeResult("c" * 64, ((4,), (3,), (4,)), same, ((-1.0,), (-1.0,), (-1.0,)))
    prompt = "Which state?\nA. Texas\nB. Ohio\nC. Texas"
    record = make_record(twice, "m", prompt, "q" * 64, ChoiceResult("p" * 64, options), cloze=cloze)
    assert {record.pred[p] for p in ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi")} == {"C"}
    assert record.correct["cloze_pmi"] and record.pred["reference"] == "B"  # a listed letter keeps its own choice
    assert "same-text-options: A, C" in record.notes, record.notes
    assert not any(n.startswith("near-tie") and "cloze" in n for n in record.notes), record.notes


def test_the_gold_text_said_twice_is_right_in_the_cloze_formulation_whichever_twin_the_answer_names():
    """NExT-QA and EgoSchema name the gold by index, which may be the first of two options with one text:
    the cloze prediction names the gold then (choosing its text is right), never the last twin, which made
    such a question wrong under every cloze protocol whatever the model did. Recomputed the same."""
    from fvlm_eval.reports.recompute import recompute
    from fvlm_eval.types import ClozeResult

    twice = dataclasses.replace(
        QUESTION, options=(Option("A", "Texas"), Option("B", "Ohio"), Option("C", "Texas")), gold="A"
    )
    options = OPTIONS + (OptionLogprobs((6, 2, 4, 2, 198), (-1.0, -1.0, -1.7, -0.1, -0.1), 3, (2, 3), "C", 2),)
    cloze = ClozeResult("c" * 64, ((4,), (3,), (4,)), ((-0.5,), (-3.0,), (-0.5,)), ((-1.0,), (-1.0,), (-1.0,)))
    prompt = "Which state?\nA. Texas\nB. Ohio\nC. Texas"
    record = make_record(twice, "m", prompt, "q" * 64, ChoiceResult("p" * 64, options), cloze=cloze)
    cloze_protocols = ("cloze_sum", "cloze_token", "cloze_byte", "cloze_pmi")
    assert {record.pred[p] for p in cloze_protocols} == {"A"}
    assert all(record.correct[p] for p in cloze_protocols)
    assert "same-text-options: A, C" in record.notes, record.notes
    assert recompute(record).preds_changed == ()
    ohio = dataclasses.replace(twice, gold="B")  # the twins are not the gold: the last of them is named
    other = make_record(ohio, "m", prompt, "q" * 64, ChoiceResult("p" * 64, options), cloze=cloze)
    assert other.pred["cloze_pmi"] == "C" and not other.correct["cloze_pmi"]
