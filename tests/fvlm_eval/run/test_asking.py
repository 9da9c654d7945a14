"""Asking at the model boundary: scores that are NaN or infinite, and options with no text, are recorded
failures with their reason, never predictions."""

from __future__ import annotations

import json

import torch

from fvlm_eval.errors import ExitCode
from fvlm_eval.models import load_model
from fvlm_eval.records import read_records
from fvlm_eval.run.asking import not_finite
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks.fixtures.media import write_json
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from fvlm_eval.types import ChoiceResult, ClozeResult, Media, Option, OptionLogprobs, Question


def question(*texts: str) -> Question:
    options = tuple(Option("ABCD"[i], text) for i, text in enumerate(texts))
    return Question("b/1", "b", Media("image", "b/1.png", "/d/1.png"), "Which?", options, "A", "b/1.png")


def strict_lines(path):
    def refuse(constant):
        raise ValueError(constant)

    return [json.loads(line, parse_constant=refuse) for line in path.read_text().splitlines()]


def test_a_nan_or_infinite_log_probability_is_a_reason_not_a_score():
    fine = OptionLogprobs((1, 2), (-1.0, -2.0), 2, (1, 2), "A", 2)
    nan = OptionLogprobs((1, 2), (-1.0, float("nan")), 2, (1, 2), "B", 2)
    cloze = ClozeResult("p", ((1,), (2,)), ((-1.0,), (-2.0,)), ((-1.0,), (-2.0,)))
    assert not_finite([ChoiceResult("p", (fine, fine))], cloze, ("A", "B")) is None
    said = not_finite([ChoiceResult("p", (fine, nan))], cloze, ("A", "B"))
    assert "NaN or infinite" in said and "option B" in said and "diverged" in said
    infinite = ClozeResult("p", ((1,), (2,)), ((-1.0,), (-2.0,)), ((-1.0,), (float("-inf"),)))
    assert "cloze, option B" in not_finite([ChoiceResult("p", (fine, fine))], infinite, ("A", "B"))


def test_a_model_that_gives_nan_fails_every_question_loudly(model_dir, tmp_path):
    """Weights that turn NaN after loading (the check at load time cannot see it): every question is a
    failure naming the reason, the run's exit code is 1, and the records hold no bare NaN."""
    data = tmp_path / "data"
    write_scienceqa(data)
    adapter = load_model(str(model_dir), device="cpu")
    with torch.no_grad():
        adapter.model.llm.model.layers[0].mlp.up_proj.weight[0, 0] = float("nan")
    settings = RunSettings(("scienceqa",), ("coarse_only",), data, tmp_path / "out", workers=0)
    outcome = run(settings, adapter, progress=False)
    assert outcome.exit_code == ExitCode.FAILED
    assert any("every question scored now failed" in m and "NaN or infinite" in m for m in outcome.messages)
    path = tmp_path / "out/scienceqa/coarse_only/samples.jsonl"
    records = read_records(path)
    assert records and all(r.failed and "NaN or infinite" in r.error for r in records)
    assert not any(r.pred.get(p) for r in records for p in r.pred)  # never "always A"
    assert len(strict_lines(path)) == len(records)


def test_a_blank_option_in_the_data_is_recorded_as_a_failure(model_dir, tmp_path):
    """The question is recorded failed, with the option named; the others are scored as usual."""
    data = tmp_path / "data"
    base = write_scienceqa(data, layout="json")
    problems = json.loads((base / "problems.json").read_text())
    first = next(iter(problems))
    problems[first]["choices"][1] = "\u00a0"
    write_json(base / "problems.json", problems)
    settings = RunSettings(("scienceqa",), ("coarse_only",), data, tmp_path / "out", workers=0)
    outcome = run(settings, load_model(str(model_dir), device="cpu"), progress=False)
    records = {r.id: r for r in read_records(tmp_path / "out/scienceqa/coarse_only/samples.jsonl")}
    blank = next(r for r in records.values() if r.id.endswith(first))
    assert blank.failed and blank.error.startswith("option B has no text")
    assert any(not r.failed for r in records.values()) and outcome.exit_code == ExitCode.OK


class _FailsOnce:
    """The real tiny fVLM, but for its first scoring call, which raises (as a prompt of one question would)."""

    def __init__(self, model):
        self.model, self.calls = model, 0

    def __getattr__(self, name):
        return getattr(self.model, name)

    def score_formulations(self, choices, clozes, mode):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("this question cannot be scored")
        return self.model.score_formulations(choices, clozes, mode)


def test_a_batch_of_one_question_that_fails_is_a_recorded_failure_not_the_end_of_the_run(model_dir, tmp_path):
    """A failing batch was asked again one question at a time, but a batch of one question (``--batch-size 1``, or
    the last of a run) raised out of the run as an unexpected error."""
    data = tmp_path / "data"
    write_scienceqa(data)
    settings = RunSettings(("scienceqa",), ("coarse_only",), data, tmp_path / "out", batch_size=1, workers=0)
    outcome = run(settings, _FailsOnce(load_model(str(model_dir), device="cpu")), progress=False)
    records = read_records(tmp_path / "out/scienceqa/coarse_only/samples.jsonl")
    failed = [r for r in records if r.failed]
    assert len(failed) == 1 and failed[0].error == "scoring failed: RuntimeError: this question cannot be scored"
    assert len(records) == 6 and outcome.exit_code == ExitCode.OK
