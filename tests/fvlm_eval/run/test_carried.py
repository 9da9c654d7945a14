"""A rerun that adds a measure keeps the other: `--generate`, then `--circular` (or the reverse), loses nothing."""

from __future__ import annotations

import dataclasses

import pytest

from fvlm_eval.models import load_model
from fvlm_eval.protocols import CIRCULAR, GENERATED
from fvlm_eval.records import read_records
from fvlm_eval.run.carried import carried_measures, with_earlier_measures
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks import write_fixtures


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fixtures(tmp_path_factory.mktemp("data"))


def _run(model_dir, data, output, **options):
    settings = RunSettings(
        benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=data, output_dir=output, workers=0, **options
    )
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    records = {r.id: r for r in read_records(output / "scienceqa" / "coarse_only" / "samples.jsonl")}
    return outcome, records


@pytest.mark.parametrize(
    "first, then", [({"generate": True}, {"circular": True}), ({"circular": True}, {"generate": True})]
)
def test_a_rerun_for_another_measure_keeps_the_earlier_one(model_dir, data, tmp_path, first, then):
    """`run --generate` then `run --circular`: the second rescored every question and wrote records without the
    generated answers; summary.json lost its `generated` protocol (and the reverse lost the circular ones)."""
    _, before = _run(model_dir, data, tmp_path, max_new_tokens=2, **first)
    outcome, after = _run(model_dir, data, tmp_path, max_new_tokens=2, **then)
    scored = [r for r in after.values() if not r.failed]
    assert scored and len(after) == len(before)
    for record in scored:
        assert record.generated is not None and record.circular is not None
        assert GENERATED in record.pred and CIRCULAR + "reference" in record.pred
    kept = "generated answers" if first.get("generate") else "circular rotations"
    added = "circular rotations" if first.get("generate") else "generated answers"
    said = f"scored again for what this run adds ({added}); their earlier {kept} are kept"
    assert any(said in m for m in outcome.messages), outcome.messages
    earlier = next(r for r in before.values() if not r.failed)
    carried = after[earlier.id]
    field = "generated" if first.get("generate") else "circular"
    assert getattr(carried, field) == getattr(earlier, field)
    accuracy = outcome.summaries[("scienceqa", "coarse_only")].accuracy
    assert GENERATED in accuracy and CIRCULAR + "reference" in accuracy
    _, both = _run(model_dir, data, tmp_path, max_new_tokens=2, generate=True, circular=True)  # rotations answered
    outcome, again = _run(model_dir, data, tmp_path, max_new_tokens=2, generate=True, circular=True)
    assert again == both and not outcome.messages  # everything measured: nothing scored again


def test_only_a_measure_of_the_same_question_is_carried(model_dir, data, tmp_path):
    _, records = _run(model_dir, data, tmp_path, max_new_tokens=2, generate=True, circular=True)
    earlier = next(r for r in records.values() if not r.failed)
    new = dataclasses.replace(
        earlier,
        generated=None,
        circular=None,
        pred={p: v for p, v in earlier.pred.items() if p != GENERATED and not p.startswith(CIRCULAR)},
    )
    assert with_earlier_measures(new, earlier).generated == earlier.generated
    assert with_earlier_measures(new, dataclasses.replace(earlier, question_sha256="other")) == new
    assert with_earlier_measures(new, dataclasses.replace(earlier, error="decode failed")) == new
    assert with_earlier_measures(new, None) == new
    # answers generated again (another --max-new-tokens): the rotations' answers were of the other limit
    regenerated = dataclasses.replace(new, generated={**earlier.generated, "max_new_tokens": 5})
    kept = with_earlier_measures(regenerated, earlier)
    assert kept.circular is None and kept.generated["max_new_tokens"] == 5
    assert not any(p.startswith(CIRCULAR) for p in kept.pred)
    assert carried_measures(earlier, generate=True, circular=False) == ([], ["circular rotations"])
    assert carried_measures(earlier, generate=False, circular=False) == (
        ["generated answers", "circular rotations"],
        [],
    )


def test_a_rerun_that_adds_generated_answers_says_so(model_dir, data, tmp_path):
    """`run`, then `run --generate`: every question was scored again with no word of why ("6/6 questions")."""
    _run(model_dir, data, tmp_path)
    outcome, _ = _run(model_dir, data, tmp_path, generate=True, max_new_tokens=2)
    assert any(
        "recorded questions scored again for what this run adds (generated answers)" in m for m in outcome.messages
    )


def test_a_rerun_asking_for_circular_generated_answers_asks_the_rotations_that_lack_them(model_dir, data, tmp_path):
    """`--generate`, then `--circular`, then both: the third said "nothing to score" and circular_generated was never
    measured (the rotations, asked without --generate, had no answers)."""
    _run(model_dir, data, tmp_path, max_new_tokens=2, generate=True)
    _run(model_dir, data, tmp_path, max_new_tokens=2, circular=True)
    outcome, records = _run(model_dir, data, tmp_path, max_new_tokens=2, generate=True, circular=True)
    scored = [r for r in records.values() if not r.failed]
    assert scored and all(any(rot.get("generated") for rot in r.circular["rotations"]) for r in scored)
    assert outcome.summaries[("scienceqa", "coarse_only")].accuracy[CIRCULAR + GENERATED].n == len(records)


def test_answers_kept_from_another_answer_limit_are_flagged_not_pooled_silently(model_dir, data, tmp_path):
    """`--generate --max-new-tokens 3` on 6 questions, then a rerun that generated 4 of them again at another
    limit and kept the rest: `generated` pooled both limits into one accuracy, and nothing said so."""
    import dataclasses

    from fvlm_eval.reports.read import read_summaries
    from fvlm_eval.run.settings import RunSettings

    _run(model_dir, data, tmp_path, max_new_tokens=3, generate=True)
    settings = RunSettings(
        benchmarks=("scienceqa",), modes=("coarse_only",), data_dir=data, output_dir=tmp_path, workers=0, limit=2
    )
    run(dataclasses.replace(settings, generate=True, max_new_tokens=2), load_model(str(model_dir), device="cpu"))
    outcome, _ = _run(model_dir, data, tmp_path)  # every question again, no --generate: their answers kept
    said = "answers generated with different --max-new-tokens (2 with 2, "
    assert any(said in flag for flag in outcome.summaries[("scienceqa", "coarse_only")].flags[GENERATED])
    warnings: list[str] = []
    read_summaries(tmp_path, warnings)
    assert any(said in w for w in warnings), warnings
