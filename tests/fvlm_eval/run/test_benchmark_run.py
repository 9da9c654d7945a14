"""Resuming a folder whose generated answers an older letter reader read: read again from their stored texts (no
answer generated again) by a run with --generate, said at the end of a run without it."""

from __future__ import annotations

import dataclasses

import pytest

from fvlm_eval.answers import LETTER_READER
from fvlm_eval.models import load_model
from fvlm_eval.records import read_records, write_records
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import write_fixtures

OLD_ANSWER = "A. B."  # a list: today's reader reads no choice; an older one read A


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


def settings(data, output, **extra):
    return RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_fine",),
        data_dir=data,
        output_dir=output,
        workers=0,
        generate=True,
        circular=True,
        **extra,
    )


def as_an_older_reader_read_them(path, change_order: bool = False) -> list[str]:
    """The folder's records as an fvlm-eval that recorded no reader, and read ``OLD_ANSWER`` as A, wrote them (its
    answer that text); the ids of those that answered. ``change_order``: one rotation's order another than asked."""
    records, older = read_records(path), []
    for record in records:
        if record.failed:
            older.append(record)
            continue
        generated = {k: v for k, v in record.generated.items() if k != "reader"}
        generated |= {"text": OLD_ANSWER, "letter": "A", "status": "letter"}
        rotations = [dict(r) for r in record.circular["rotations"]]
        if change_order:
            rotations[1]["order"] = rotations[1]["order"][::-1]
        pred = {**record.pred, "generated": "A"}
        correct = {**record.correct, "generated": record.gold == "A"}
        circular = {"rotations": rotations}
        older.append(dataclasses.replace(record, generated=generated, pred=pred, correct=correct, circular=circular))
    write_records(path, older)
    return [r.id for r in older if not r.failed]


def test_answers_an_older_reader_read_are_read_again_not_generated_again(model_dir, data, tmp_path):
    """A resumed run kept an old folder's letters as the old reader read them ("nothing to score"), and its
    summary counted them beside answers today's reader read."""
    one = settings(data, tmp_path)
    first = run(one, load_model(str(model_dir), device="cpu"), progress=False).summaries[("scienceqa", "coarse_fine")]
    path = tmp_path / "scienceqa/coarse_fine/samples.jsonl"
    answered = as_an_older_reader_read_them(path)
    model = load_model(str(model_dir), device="cpu")
    model.generate = lambda *args, **kwargs: pytest.fail("an answer was generated again")
    again = run(one, model, progress=False)
    (said,) = [m for m in again.messages if "older letter reader" in m]
    assert said.startswith(f"scienceqa coarse_fine: the generated answers of {len(answered)} questions, read by")
    assert "read again by today's from their stored texts (nothing generated again)" in said
    summary = again.summaries[("scienceqa", "coarse_fine")].to_json()
    assert summary["timing"] == first.to_json()["timing"]  # nothing scored: the timing of the run that scored
    assert summary["accuracy"]["generated"]["correct"] == 0  # "A. B." chooses nothing today
    latest = {r.id: r for r in read_records(path)}
    for question in answered:
        record = latest[question]
        assert record.generated["reader"] == LETTER_READER and record.generated["text"] == OLD_ANSWER
        assert (record.generated["letter"], record.generated["status"]) == (None, "ambiguous")
        assert record.pred["generated"] is None and not record.correct["generated"]
    third = run(one, model, progress=False)  # read once: nothing left to read again
    assert not [m for m in third.messages if "older letter reader" in m]


def test_a_run_without_generate_says_it_kept_answers_an_older_reader_read(model_dir, data, tmp_path):
    """A run without --generate summarised an old folder's letters as today's, and said nothing."""
    one = settings(data, tmp_path)
    run(one, load_model(str(model_dir), device="cpu"), progress=False)
    answered = as_an_older_reader_read_them(tmp_path / "scienceqa/coarse_fine/samples.jsonl")
    kept = run(dataclasses.replace(one, generate=False), load_model(str(model_dir), device="cpu"), progress=False)
    (said,) = [m for m in kept.messages if "older letter reader" in m]
    assert said.startswith(f"scienceqa coarse_fine: {len(answered)} generated answers were read by an older letter")
    assert "rerun the same `fvlm-eval run` command with --generate" in said and f"into {tmp_path}" in said


def test_answers_that_cannot_be_read_again_exactly_are_scored_again_and_said(model_dir, data, tmp_path):
    """A record whose rotations cannot be matched to the question's (another order) is never read by a guess."""
    one = settings(data, tmp_path)
    run(one, load_model(str(model_dir), device="cpu"), progress=False)
    path = tmp_path / "scienceqa/coarse_fine/samples.jsonl"
    answered = as_an_older_reader_read_them(path, change_order=True)
    again = run(one, load_model(str(model_dir), device="cpu"), progress=False)
    (said,) = [m for m in again.messages if "older letter reader" in m]
    assert f"{len(answered)} recorded questions scored again for what this run adds" in said
    assert "(today's reading of answers read by an older letter reader)" in said
    assert again.summaries[("scienceqa", "coarse_fine")].to_json()["timing"]["scored_this_invocation"] == len(answered)
    latest = {r.id: r for r in read_records(path)}
    assert all(
        latest[i].generated["reader"] == LETTER_READER and latest[i].generated["text"] != OLD_ANSWER for i in answered
    )
