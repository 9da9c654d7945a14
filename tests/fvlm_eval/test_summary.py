"""``summary.json`` from records: formulations named, each protocol over the questions that measured it."""

from __future__ import annotations

import pytest

from fvlm_eval.models import load_model
from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
from fvlm_eval.records import Record, make_record, read_records
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
    # a circular protocol's chance is its plain one's (1/n): a choice that ignores positions is the same in
    # every rotation; and a question right under every rotation is right as listed, so never more significant
    assert blocks["circular_sum"]["chance"] == pytest.approx(sum(1 / n for n in counts) / len(counts))
    assert blocks["circular_sum"]["chance"] == blocks["sum"]["chance"]
    assert blocks["circular_sum"]["correct"] <= blocks["sum"]["correct"]
    assert blocks["circular_sum"]["above_chance_p"] >= blocks["sum"]["above_chance_p"]
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
    from fvlm_eval.run.lock import RunRefused

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
    said = (
        "(answers generated with --max-new-tokens 3); answers generated with --max-new-tokens 2 are replaced, and "
        "with them the circular rotations asked with those answers (--circular scores them again)"
    )
    assert any(said in m for m in outcome.messages), outcome.messages
    blocks = circular_run[True][1].summaries[("scienceqa", "coarse_only")].to_json()["accuracy"]
    assert blocks["circular_sum"]["letters"]["best_constant"] == {"letter": None, "accuracy": 0.0}


# ----- the verdicts of one summary are one family; circular chance holds for position-free choices ---------


def _preferring(index: int, options: int, right: bool) -> Record:
    """A question answered by a position-free preference (the same option in every rotation): right or not."""
    import dataclasses

    from fvlm_eval.types import LETTERS
    from tests.fvlm_eval.constructed import record

    letters = LETTERS[:options]
    chosen = letters[0] if right else letters[-1]
    pred = {"option_text": chosen, "circular_option_text": chosen}
    return dataclasses.replace(
        record(index, right, f"img{index}"),
        letters=letters,
        scores={"option_text": {x: -1.0 if x == chosen else -2.0 for x in letters}},
        pred=pred,
        correct={p: right for p in pred},
    )


def test_a_position_free_random_preference_is_at_chance_under_circular_too():
    """60 ScienceQA-style questions with 2-10 options, a random model whose choice reads only the option's text
    (the same option in every rotation): right on 12 (20%). Circular chance used to be (1/n)^n (3.4% here), so
    20% read p = 3.5e-10 with no ⚠; chance is 1/n, as for the protocol itself, and the circular number is never
    more significant than the plain one."""
    counts = [2, 3, 4, 5, 6, 7, 8, 9, 10, 4] * 6
    records = [_preferring(i, n, i % 5 == 0) for i, n in enumerate(counts)]
    summary = summarize_records(get_benchmark("scienceqa"), "m", records, len(records))
    circular, plain = summary.accuracy["circular_option_text"], summary.accuracy["option_text"]
    assert circular.accuracy == pytest.approx(0.2) and circular.chance == pytest.approx(plain.chance)
    assert circular.chance > 0.2
    assert circular.above_chance_p == pytest.approx(plain.above_chance_p) and circular.above_chance_p > 0.5
    assert any("not significantly above chance" in f for f in summary.flags["circular_option_text"])


def test_a_summary_holm_adjusts_its_verdicts_over_its_protocols_and_says_so():
    """One protocol of many right on 6 of 9 by luck (p = 0.01 against 25%): no longer above chance once the
    summary's 11 protocols are one family (Holm)."""
    import dataclasses

    from fvlm_eval.protocols import CLOZE_PROTOCOLS, PROTOCOLS
    from tests.fvlm_eval.constructed import choosing, record

    records = []
    for i in range(9):
        base = record(i, i < 2, f"v{i}", cloze=True, generated=True)  # 2 of 9 under every protocol
        lucky = "A" if i < 6 else "B"  # cloze_pmi: 6 of 9
        records.append(
            dataclasses.replace(
                base,
                scores={**base.scores, "cloze_pmi": choosing(lucky, "cloze_pmi")},
                pred={**base.pred, "cloze_pmi": lucky},
                correct={**base.correct, "cloze_pmi": lucky == "A"},
            )
        )
    summary = summarize_records(get_benchmark("videomme"), "coarse_fine", records, 9, "cloze_pmi")
    lucky = summary.accuracy["cloze_pmi"]
    tested = len(PROTOCOLS) + len(CLOZE_PROTOCOLS) + 1
    assert lucky.above_chance_p < 0.05 and lucky.adjusted_p == pytest.approx(min(1.0, tested * lucky.above_chance_p))
    (flag,) = [f for f in summary.flags["cloze_pmi"] if "chance" in f]
    assert f"Holm-adjusted over {tested} cells" in flag
    written = summary.to_json()
    assert written["above_chance_test"]["correction"] == "holm" and written["above_chance_test"]["cells"] == tested
    assert written["accuracy"]["cloze_pmi"]["above_chance_p_adjusted"] == lucky.adjusted_p
    from fvlm_eval.summary import Summary

    assert Summary.from_json(written).chance_test == summary.chance_test


def _on_image(i: int, image: str, right: bool, texts=None) -> Record:
    """A cloze-scored question of options A-D: every protocol right (gold A) or wrong (B); ``texts``: the
    options' cloze answer tokens (equal tokens: equal texts)."""
    from tests.fvlm_eval.constructed import record

    base = record(i, right, image, cloze=True)
    if texts is not None:
        options = base.cloze["options"]
        base.cloze["options"] = {x: {**options[x], "token_ids": [t]} for x, t in zip(base.letters, texts)}
    return base


def test_a_random_model_that_answers_each_video_alike_is_not_above_chance_however_many_questions():
    """16 images with 10 questions each, a random model answering each image alike, right on 6 images (a
    random model does so about 1 time in 5): 60 of 160 read p = 0.0003 against 25%, no ⚠, while its own
    interval [18.0, 62.1] held chance. The test now stands on the interval's effective sample too."""
    records = [_on_image(10 * v + q, f"img{v}", v < 6) for v in range(16) for q in range(10)]
    summary = summarize_records(get_benchmark("videomme"), "coarse_only", records, len(records), "cloze_pmi")
    result = summary.accuracy["cloze_pmi"]
    assert result.accuracy == pytest.approx(0.375) and result.overall.ci95[0] < 0.25
    assert result.above_chance_p > 0.1
    assert any("not significantly above chance" in f for f in summary.flags["cloze_pmi"])
    # the same 60 of 160, one question an image: 160 chances, and the exact test's verdict as before
    from fvlm_eval.stats import above_chance_p

    spread = [_on_image(i, f"img{i}", i % 8 < 3) for i in range(160)]
    alone = summarize_records(get_benchmark("videomme"), "coarse_only", spread, 160, "cloze_pmi").accuracy["cloze_pmi"]
    assert alone.above_chance_p == pytest.approx(above_chance_p(60, [4] * 160)) and alone.above_chance_p < 0.001


def test_cloze_chance_counts_the_golds_twins_and_multiple_choice_does_not():
    """Options yes, no, yes, no: the cloze formulation cannot tell the twins apart and counts either right, so a
    guess is right half the time there; 50% read p = 1e-4 against 25% with no ⚠. A letter is still one of four."""
    records = [
        _on_image(i, f"img{i}", i % 2 == 0, texts=(7, 8, 7, 8)) for i in range(40)
    ]  # 20 of 40 right, one question an image
    summary = summarize_records(get_benchmark("videomme"), "coarse_only", records, 40, "cloze_pmi")
    cloze, letter = summary.accuracy["cloze_pmi"], summary.accuracy["reference"]
    assert cloze.chance == pytest.approx(0.5) and letter.chance == pytest.approx(0.25)
    assert cloze.above_chance_p > 0.5 and letter.above_chance_p < 0.001
    assert any("not significantly above chance (50.0%" in f for f in summary.flags["cloze_pmi"])
    mixed = [_on_image(0, "a", True, texts=(1, 2, 3, 4)), _on_image(1, "b", True, texts=(5, 5, 5, 6))]
    both = summarize_records(get_benchmark("videomme"), "coarse_only", mixed, 2, "cloze_pmi").accuracy["cloze_pmi"]
    assert both.chance == pytest.approx((0.25 + 0.75) / 2) and both.above_chance_p == pytest.approx(0.25 * 0.75)


def test_summary_json_counts_circular_generated_answers_that_were_unparseable(circular_run):
    """`circular_generated` in summary.json had no `unparseable`, `unparseable_all`: only `report` counted them."""
    import json

    output = circular_run[True][0]
    accuracy = json.loads((output / "scienceqa/coarse_only/summary.json").read_text())["accuracy"]
    block = accuracy["circular_generated"]
    assert isinstance(block["unparseable"], int) and isinstance(block["unparseable_all"], int)
    assert block["unparseable_all"] <= block["unparseable"] <= block["n"]


def test_a_breakdown_it_does_not_hold_is_named_not_none():
    """`result.breakdown("subjects", ...)` (a typo) returned None, as a value no question has did."""
    from fvlm_eval.errors import NotEvaluated, SettingsError

    records = [make_record(question(i), "m", "Which?\nA. yes\nB. no", "q" * 64, RESULT) for i in range(3)]
    reference = summarize_records(get_benchmark("scienceqa"), "m", records, 3).accuracy["reference"]
    assert reference.breakdown("subject", "natural science").n == 3
    with pytest.raises(NotEvaluated, match="protocol 'reference' has no breakdown by 'subjects'; by: subject"):
        reference.breakdown("subjects", "natural science")
    with pytest.raises(SettingsError, match="no question has subject 'physics'; subject: natural science"):
        reference.breakdown("subject", "physics")
    with pytest.raises(KeyError):
        reference.breakdown("subject", "physics")


def test_a_cell_whose_interval_holds_chance_is_not_called_above_it():
    """12 of 15 two-option questions on 3 videos (5, 4 and 3 right): the interval, on t, held chance (50%), while
    the test trusted the design effect read from 3 videos as exact and called it above chance (p 0.034)."""
    from fvlm_eval.summarize import measure

    def on_video(i: int) -> Question:  # RESULT answers A: gold B on 1 question of video 1, 2 of video 2
        return Question(
            f"scienceqa/{i}", "scienceqa", Media("image", f"img{i}"), "Which?", (Option("A", "yes"), Option("B", "no")),
            "B" if i in (9, 13, 14) else "A", f"v{i // 5}", fields=(("subject", "natural science"),),
        )  # fmt: skip

    records = [make_record(on_video(i), "m", "Which?\nA. yes\nB. no", "q" * 64, RESULT) for i in range(15)]
    found = measure(records, "reference")
    assert (found.correct, found.n) == (12, 15) and found.ci95[0] < 0.5 < found.ci95[1]
    assert found.above_chance_p >= 0.05


class _CountedFields(dict):
    """A record's ``fields`` that count how often a field is read."""

    reads = 0

    def get(self, *args):
        type(self).reads += 1
        return super().get(*args)


def test_a_breakdown_reads_each_records_field_once_per_protocol():
    """Each breakdown value filtered every record again (values x records x protocols: 16.5 s of one full
    checkpoint's report); the records are grouped by value in one pass, each group's numbers the same as a filter's."""
    import dataclasses

    from fvlm_eval.summarize import measure, protocol_summary
    from tests.fvlm_eval.constructed import record

    records = [
        dataclasses.replace(
            record(i, i % 3 == 0, f"v{i // 4}"),
            fields=_CountedFields(duration=["short", "medium", "long"][i % 3], task_type=f"task {i % 7}"),
        )
        for i in range(84)
    ]
    _CountedFields.reads = 0
    result = protocol_summary(records, "reference", ("duration", "task_type"))
    assert _CountedFields.reads <= 2 * len(records)  # before: (1 + values) reads per record and field, 12 x 84
    for name in ("duration", "task_type"):
        values = sorted({r.fields[name] for r in records})
        assert list(result.breakdowns[name]) == values
        for value in values:
            alike = [r for r in records if dict.get(r.fields, name) == value]
            assert result.breakdowns[name][value] == measure(alike, "reference")
