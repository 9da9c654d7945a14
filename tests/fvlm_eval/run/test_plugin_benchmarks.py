"""A plugin's benchmark, run as the built-in ones are: its questions checked and their ids made distinct, a
``load`` or ``prompt`` that raises told in one line naming the benchmark and its plugin, the rest of the run going
on. (The plugins are real distributions on the path: ``tests.plugins``.)"""

from __future__ import annotations

import json

import pytest

from fvlm_eval.errors import ExitCode
from fvlm_eval.models import load_model
from fvlm_eval.records import read_records
from fvlm_eval.run.runner import run
from fvlm_eval.run.settings import RunSettings
from fvlm_eval.tasks.fixtures.media import png_bytes
from fvlm_eval.tasks.fixtures.scienceqa import write_scienceqa
from tests.plugins import plugins_on_path, write_distribution

QUIZ = """
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from fvlm_eval.tasks.base import Benchmark, DataMissing, Loaded, lettered
from fvlm_eval.types import Option, Media, Question, Sampling


@dataclass
class Quiz(Benchmark):
    name: str = "quiz"
    sampling: Sampling = field(default_factory=lambda: Sampling("uniform", 1))
    breakdowns: tuple = ("subject",)
    category_field: str = "subject"
    main_breakdown: str = "subject"
    uses_images: bool = True

    def load(self, data_dir):
        path = Path(data_dir) / "quiz" / "questions.jsonl"
        if not path.is_file():
            raise DataMissing(f"not found: {path}")
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        return Loaded(tuple(self.altered([self.question(data_dir, row) for row in rows])))

    def question(self, data_dir, row):
        options = lettered(row["options"])
        return Question(
            id=f"{self.name}/{row['id']}",
            benchmark=self.name,
            media=Media("image", key=f"quiz/{row['image']}", path=str(Path(data_dir) / "quiz" / row["image"])),
            question=row["question"],
            options=options,
            gold=options[row["answer"]].letter,
            group=row["image"],
            fields=(("subject", row["subject"]),),
            source="questions.jsonl",
        )

    def altered(self, questions):
        return questions

    def expected(self):
        return {"biology": 3, "geography": 2}


@dataclass
class Repeats(Quiz):
    name: str = "repeats"

    def altered(self, questions):
        questions[1] = replace(questions[1], id=questions[0].id)  # another question under q1's id
        return questions + [questions[2]]  # and q3 given twice, exactly


@dataclass
class Malformed(Quiz):
    name: str = "malformed"

    def altered(self, questions):
        questions[0] = replace(questions[0], gold="Z")
        questions[1] = replace(questions[1], options=(), gold=None)
        questions[2] = replace(questions[2], options=(Option("A", "x"), Option("A", "y")), gold="A")
        questions[3] = replace(questions[3], fields=(("subject", 5),))
        return questions


@dataclass
class Raising(Quiz):
    name: str = "raising"

    def altered(self, questions):
        return questions + [1 / 0]


@dataclass
class Listing(Quiz):
    name: str = "listing"

    def load(self, data_dir):
        return list(super().load(data_dir).questions)


@dataclass
class PromptRaises(Quiz):
    name: str = "promptraises"

    def prompt(self, question, timestamps=None):
        if question.id.endswith("q2"):
            raise KeyError("subject")
        return super().prompt(question, timestamps)


@dataclass
class ClozeRaises(Quiz):
    name: str = "clozeraises"

    def cloze_prompt(self, question, timestamps=None):
        raise ValueError("cloze boom")
"""
ROWS = [
    ("q1", "Which organ pumps blood?", ["Heart", "Liver"], 0, "biology"),
    ("q2", "Which is a plant?", ["Fern", "Cat", "Rock"], 0, "biology"),
    ("q3", "Largest ocean?", ["Atlantic", "Pacific"], 1, "geography"),
    ("q4", "Which is a bird?", ["Owl", "Eel"], 0, "biology"),
    ("q5", "Which is a desert?", ["Sahara", "Amazon"], 0, "geography"),
]


@pytest.fixture()
def quiz_site(tmp_path):
    points = {n: f"quiz:{c}" for n, c in [("repeats", "Repeats"), ("malformed", "Malformed"), ("raising", "Raising")]}
    points.update(listing="quiz:Listing", promptraises="quiz:PromptRaises", clozeraises="quiz:ClozeRaises")
    site = write_distribution(tmp_path / "site", "quiz-plugins", {"fvlm_eval.benchmarks": points}, {"quiz.py": QUIZ})
    with plugins_on_path(site, ("quiz",)):
        yield site


@pytest.fixture()
def data(tmp_path):
    folder = tmp_path / "data" / "quiz"
    folder.mkdir(parents=True)
    rows = []
    for seed, (name, text, options, answer, subject) in enumerate(ROWS):
        (folder / f"{name}.png").write_bytes(png_bytes(seed))
        rows.append({"id": name, "image": f"{name}.png", "question": text, "options": options, "answer": answer})
        rows[-1]["subject"] = subject
    (folder / "questions.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_scienceqa(tmp_path / "data")
    return tmp_path / "data"


def ran(model_dir, data, output, *benchmarks):
    settings = RunSettings(benchmarks, ("coarse_only",), data, output, workers=0)
    return run(settings, load_model(str(model_dir), device="cpu"), progress=False)


def test_two_questions_under_one_id_are_recorded_apart_whichever_benchmark_gives_them(
    quiz_site, data, model_dir, tmp_path
):
    """Only the built-in benchmarks made repeated ids distinct: a plugin's two questions under one id were two
    records of one id, and the summary counted the later one twice (75% where the records said 50%)."""
    outcome = ran(model_dir, data, tmp_path / "out", "repeats")
    records = read_records(tmp_path / "out/repeats/coarse_only/samples.jsonl")
    assert [r.id for r in records] == ["repeats/q1", "repeats/q1#2", "repeats/q3", "repeats/q4", "repeats/q5"]
    assert len({r.question_sha256 for r in records}) == 5  # each record carries its own question's hash
    summary = outcome.summaries[("repeats", "coarse_only")].to_json()
    headline = summary["accuracy"][summary["headline_protocol"]]
    assert headline["n"] == 5 and headline["correct"] == sum(r.correct[summary["headline_protocol"]] for r in records)
    notes = " ".join(summary["notes"])
    assert "another question under it is recorded as repeats/q1#2" in notes
    assert "duplicate question id repeats/q3" in notes and "counted once" in notes
    assert summary["manifest"]["benchmark_plugin"] == "quiz-plugins 0.1.0"  # a report can name it once uninstalled


def test_a_question_that_cannot_be_asked_as_given_is_a_recorded_failure_saying_what_is_wrong(
    quiz_site, data, model_dir, tmp_path
):
    """A plugin's questions were trusted: a gold that is no option letter was silently wrong, two options under
    one letter always right, a question with no options a bare KeyError that ended the run, a field that is a
    number a TypeError; and the run said `failed 0`."""
    outcome = ran(model_dir, data, tmp_path / "out", "malformed")
    records = {r.id: r for r in read_records(tmp_path / "out/malformed/coarse_only/samples.jsonl")}
    assert records["malformed/q1"].error == "its gold 'Z' is not one of its option letters (A, B)"
    assert records["malformed/q2"].error == "it has no options; its gold is None"
    assert records["malformed/q3"].error == "its options are lettered A, A, not A, B in order"
    assert records["malformed/q4"].error == "its field subject=5 is not text"
    assert records["malformed/q4"].fields == {"subject": "5"} and records["malformed/q5"].error is None
    assert not any(records[f"malformed/q{i}"].correct[p] for i in range(1, 5) for p in records["malformed/q1"].correct)
    summary = outcome.summaries[("malformed", "coarse_only")].to_json()
    assert summary["coverage"]["failed"] == 4 and summary["accuracy"][summary["headline_protocol"]]["n"] == 5
    assert (
        "malformed (plugin quiz-plugins 0.1.0): 4 questions it gave cannot be asked as given: failed (recorded, "
        "counted wrong), e.g. malformed/q1: its gold 'Z' is not one of its option letters (A, B)" in outcome.messages
    )


def test_a_benchmark_whose_load_raises_is_one_line_naming_it_and_the_others_go_on(quiz_site, data, model_dir, tmp_path):
    """A plugin's load that raised ended the whole run as "an unexpected error ... report it", naming neither the
    benchmark nor its plugin; the benchmarks after it were never run and no table was shown."""
    outcome = ran(model_dir, data, tmp_path / "out", "raising", "listing", "scienceqa")
    assert outcome.exit_code == ExitCode.FAILED
    assert set(outcome.summaries) == {("scienceqa", "coarse_only")}
    raising, listing = outcome.messages[:2]
    assert raising.startswith(
        f"raising (plugin quiz-plugins 0.1.0): its load() failed reading {data / 'raising'}: ZeroDivisionError: "
        "division by zero (at quiz.py:"
    ) and raising.endswith(", in altered); it is not scored (the run's other benchmarks go on)")
    assert listing == (
        "listing (plugin quiz-plugins 0.1.0): load() gave a list, not a fvlm_eval.tasks.base.Loaded; it is not "
        "scored (the run's other benchmarks go on)"
    )
    assert not (tmp_path / "out/raising").exists()


def test_a_prompt_that_raises_fails_that_question_alone(quiz_site, data, model_dir, tmp_path):
    """A plugin's prompt raising on one question ended the run as an unexpected `KeyError: 'subject'`."""
    outcome = ran(model_dir, data, tmp_path / "out", "promptraises")
    records = {r.id: r for r in read_records(tmp_path / "out/promptraises/coarse_only/samples.jsonl")}
    assert records["promptraises/q2"].error == "writing its prompt failed: KeyError: 'subject'"
    assert all(r.error is None for i, r in records.items() if i != "promptraises/q2") and len(records) == 5
    assert outcome.exit_code == ExitCode.OK and outcome.messages == [
        "promptraises (plugin quiz-plugins 0.1.0): 1 question failed (recorded, counted wrong), e.g. "
        "promptraises/q2: writing its prompt failed: KeyError: 'subject'"
    ]


def test_a_prompt_that_raises_on_every_question_is_said_once_as_what_it_is(quiz_site, data, model_dir, tmp_path):
    """Three lines for one cause, the first saying every question "failed when its data was read" (it was read
    well: the benchmark's own prompt code raised)."""
    outcome = ran(model_dir, data, tmp_path / "out", "clozeraises")
    first = [m for m in outcome.messages if "clozeraises/q1" in m]
    assert first == [
        "clozeraises: every question failed before it could be asked (reading its data, or writing its prompt), "
        "e.g. clozeraises/q1: writing its prompt failed: ValueError: cloze boom"
    ]
    assert not any("when its data was read" in m for m in outcome.messages)


@pytest.mark.parametrize(
    "method, said",
    [
        ("def expected(self):\n        raise KeyError('biology')", "its expected() failed: KeyError: 'biology' (at "),
        ("def settings(self):\n        raise RuntimeError('no settings')", "its settings() failed: RuntimeError: no "),
        ("def expected(self):\n        return None", "expected() gave None, not a dict of category to a whole number"),
    ],
)
def test_a_benchmark_whose_expected_or_settings_fails_is_one_line_and_the_others_go_on(
    tmp_path, model_dir, data, method, said
):
    """A plugin's expected() or settings() that raised ended the run as "an unexpected error" once its questions
    were scored (expected() is asked for the summary), no summary written, the later benchmarks never run."""
    source = QUIZ + f"\n\n@dataclass\nclass Counting(Quiz):\n    name: str = 'counting'\n\n    {method}\n"
    site = write_distribution(
        tmp_path / "site2",
        "counting-plugins",
        {"fvlm_eval.benchmarks": {"counting": "quiz:Counting"}},
        {"quiz.py": source},
    )
    with plugins_on_path(site, ("quiz",)):
        outcome = ran(model_dir, data, tmp_path / "out", "counting", "scienceqa")
    assert outcome.exit_code == ExitCode.FAILED
    assert set(outcome.summaries) == {("scienceqa", "coarse_only")}
    (line,) = [m for m in outcome.messages if m.startswith("counting (plugin counting-plugins 0.1.0): ")]
    assert said in line and line.endswith("it is not scored (the run's other benchmarks go on)")
