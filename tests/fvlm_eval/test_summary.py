"""``summary.json`` from records: formulations named, each protocol over the questions that measured it."""

from __future__ import annotations

import pytest

from fvlm_eval.models import load_model
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
from fvlm_eval.records import make_record, read_records
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.summarize import summarize_records
from fvlm_eval.tasks import get_benchmark, write_fixtures
from fvlm_eval.types import ChoiceResult, Generation, Media, Option, OptionLogprobs, Question


def question(number: int) -> Question:
    return Question(
        f"scienceqa/{number}",
        "scienceqa",
        Media("image", f"img{number}"),
        "Which?",
        (Option("A", "yes"), Option("B", "no")),
        "A",
        f"img{number}",
        fields=(("subject", "natural science"),),
    )


RESULT = ChoiceResult(
    "p" * 64,
    (
        OptionLogprobs((1, 2, 3, 2, 198), (-0.1, -1.0, -1.0, -0.1, -0.1), 3, (2, 3), "A", 2),
        OptionLogprobs((4, 2, 5, 2, 198), (-3.0, -1.0, -1.0, -0.1, -0.1), 3, (2, 3), "B", 2),
    ),
)


def test_generated_accuracy_counts_only_the_questions_that_were_generated():
    """A plain rerun after `--generate --limit 3`, or shards with and without --generate: questions never
    generated are outside the generated denominator; failed questions stay in every one."""
    records = [
        make_record(
            question(i),
            "m",
            "Which?\nA. yes\nB. no",
            "q" * 64,
            RESULT,
            generation=Generation("g", "A", 1, True) if i < 3 else None,
        )
        for i in range(6)
    ]
    records.append(make_record(question(9), "m", "Which?\nA. yes\nB. no", "q" * 64, error="image missing"))
    summary = summarize_records(get_benchmark("scienceqa"), "m", records, 7).to_json()
    generated = summary["accuracy"]["generated"]
    assert (generated["correct"], generated["n"], generated["not_measured"]) == (3, 4, 3)
    assert summary["accuracy"]["reference"]["n"] == 7 and summary["accuracy"]["reference"]["not_measured"] == 0
    assert generated["formulation"] == "generated" and summary["accuracy"]["sum"]["formulation"] == "multiple_choice"
    assert summary["headline_formulation"] == "multiple_choice"


@pytest.fixture(scope="module")
def circular_run(model_dir, tmp_path_factory):
    data = write_fixtures(tmp_path_factory.mktemp("data"))
    runs = {}
    for circular in (False, True):
        output = tmp_path_factory.mktemp("run")
        model = load_model(str(model_dir), device="cpu")
        settings = RunSettings(
            benchmarks=("scienceqa",),
            modes=("coarse_only",),
            data_dir=data,
            output_dir=output,
            workers=0,
            generate=True,
            max_new_tokens=2,
            circular=circular,
        )
        outcome = run(settings, model, progress=False)
        runs[circular] = (output, outcome, model)
    runs["data"] = data
    return runs


def test_circular_asks_every_rotation_on_frames_encoded_once(circular_run):
    (plain_dir, plain, plain_model), (output, outcome, model) = circular_run[False], circular_run[True]
    assert model.frames_encoded == plain_model.frames_encoded  # rotations and cloze reuse the one encode
    records = {r.id: r for r in read_records(output / "scienceqa/coarse_only/samples.jsonl")}
    plain_records = {r.id: r for r in read_records(plain_dir / "scienceqa/coarse_only/samples.jsonl")}
    scored = [r for r in records.values() if not r.failed]
    assert scored
    for record in scored:
        rotations = record.circular["rotations"]
        assert len(rotations) == len(record.letters) and rotations[0]["order"] == "".join(record.letters)
        assert all(len(r["generated"]["text"]) >= 0 for r in rotations)
        for protocol in PROTOCOLS:  # rotation 0 is the question as listed: the plain run's choice
            assert rotations[0]["pred"][protocol] == plain_records[record.id].pred[protocol]
        assert record.cloze["framing"] == "plain" and set(record.cloze["options"]) == set(record.letters)
        for p, v in record.pred.items():
            assert record.correct[p] == (v is not None and v == record.gold)
    summary = outcome.summaries[("scienceqa", "coarse_only")].to_json()
    blocks = summary["accuracy"]
    assert {"circular_reference", "permavg_reference", "circular_generated", *CLOZE_PROTOCOLS} <= set(blocks)
    assert blocks["circular_sum"]["formulation"] == "circular" and blocks["cloze_pmi"]["formulation"] == "cloze"
    counts = [len(r.letters) for r in records.values()]
    assert blocks["circular_sum"]["chance"] == pytest.approx(sum(n**-n for n in counts) / len(counts))
    assert blocks["circular_sum"]["correct"] <= blocks["sum"]["correct"]
    assert "circular_sum" not in plain.summaries[("scienceqa", "coarse_only")].to_json()["accuracy"]


def test_a_rerun_with_circular_rotates_what_was_recorded_without(circular_run, model_dir):
    plain_dir, _, _ = circular_run[False]
    settings = RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_only",),
        data_dir=circular_run["data"],
        output_dir=plain_dir,
        workers=0,
        generate=True,
        max_new_tokens=2,
        circular=True,
    )
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    summary = outcome.summaries[("scienceqa", "coarse_only")].to_json()
    assert summary["timing"]["scored_this_invocation"] > 0 and "circular_sum" in summary["accuracy"]
    latest = {r.id: r for r in read_records(plain_dir / "scienceqa/coarse_only/samples.jsonl")}
    assert all(r.circular is not None for r in latest.values() if not r.failed)


def test_a_rerun_with_another_cloze_framing_is_refused_by_name(circular_run, model_dir):
    from fvlm_eval.run.folder import RunRefused

    plain_dir, _, _ = circular_run[True]
    settings = RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_only",),
        data_dir=circular_run["data"],
        output_dir=plain_dir,
        workers=0,
        cloze_framing="chat",
    )
    with pytest.raises(RunRefused, match="cloze_framing"):
        run(settings, load_model(str(model_dir), device="cpu"), progress=False)


def test_a_rerun_that_drops_circular_says_what_it_replaces(circular_run, model_dir, tmp_path):
    import shutil

    output = tmp_path / "copy"
    shutil.copytree(circular_run[True][0], output)
    settings = RunSettings(
        benchmarks=("scienceqa",),
        modes=("coarse_only",),
        data_dir=circular_run["data"],
        output_dir=output,
        workers=0,
        generate=True,
        max_new_tokens=3,
    )  # another answer limit
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    assert any("earlier circular rotations (add --circular to keep them) are replaced" in m for m in outcome.messages)
    blocks = circular_run[True][1].summaries[("scienceqa", "coarse_only")].to_json()["accuracy"]
    assert blocks["circular_sum"]["letters"]["best_constant"] == {"letter": None, "accuracy": 0.0}
