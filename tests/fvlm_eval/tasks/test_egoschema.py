"""EgoSchema (the 500-question subset with public answers): the hub's Subset parquet, lettered options taken
apart without cutting an option at its full stop, a row with no answer (as the full set's) a recorded
failure, malformed rows named by file and row, frames, prompts, the hub and the ``benchmarks`` line."""

from __future__ import annotations

import pytest

from fvlm_eval.tasks import get_benchmark
from fvlm_eval.tasks.egoschema import unlettered
from fvlm_eval.tasks.fixtures.egoschema import write_egoschema
from fvlm_eval.tasks.prepare import status, verify
from fvlm_eval.types import Sampling
from tests.fvlm_eval.tasks.edits import rewrite_parquet, sampled_numbers, set_row, uniform

PARQUET = "egoschema/Subset/test-00000-of-00001.parquet"
WHERE = "test-00000-of-00001.parquet"
FIRST = "egoschema/001d2d1b-d2f9-4c39-810e-6e2087ff9d5a"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    write_egoschema(root, faults=True)
    return root


def by_id(root):
    return {q.id: q for q in get_benchmark("egoschema").load(root).questions}


def test_the_subset_layout_keys_questions_by_video_and_strips_letters_only_once(data):
    questions = by_id(data)
    q = questions[FIRST]
    assert q.gold == "A" and q.letters == ("A", "B", "C", "D", "E") and q.field_dict() == {"split": "subset"}
    assert q.options[1].text == "C browsed aimlessly. Then c left without buying anything."  # not cut at its "."
    assert q.options[0].answer == "A. C shopped carefully, comparing prices before choosing."
    assert q.media.path.endswith("egoschema/videos/001d2d1b-d2f9-4c39-810e-6e2087ff9d5a.mp4")
    assert questions["egoschema/01ad1b2f-8b4e-4c3b-9a63-4b3f5cbd6d2a"].gold == "E"


def test_fixture_faults_are_recorded_failures(data):
    questions = by_id(data)
    assert questions["egoschema/0200e1f2-2a53-4f8b-bc16-fb7a9b3e7a11"].error == (
        f"malformed row {WHERE}[5]: answer '5' is out of range for 5 options"
    )
    assert "escapes the data folder" in questions["egoschema/../../outside"].error
    assert questions["egoschema/05e3f607-8b92-4ca3-b4d5-e6f708192031"].error == (
        f"malformed row {WHERE}[9]: the row has no answer (as the full set's rows, whose answers are not public)"
    )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"answer": "B"}, "answer must be an index, not 'B'"),
        ({"option": ["A. a", "B. b", "C. c", "D. d"]}, "option holds 4 options: 5 to 10 are supported"),
        ({"option": ["A. a", "C. b", "C. c", "D. d", "E. e"]}, "option 1 'C. b' is lettered C, not B"),
        ({"option": ["A. a", " ", "C. c", "D. d", "E. e"]}, "option[1] must be a non-empty string, not ' '"),
        ({"option": ["A. a", "B.", "C. c", "D. d", "E. e"]}, "option 1 'B.' has no text after its letter"),
        ({"video_idx": ""}, "video_idx must be a non-empty string"),
        ({"question": None}, "question must be a non-empty string"),
    ],
)
def test_malformed_rows_are_named_by_file_and_row(tmp_path, values, message):
    write_egoschema(tmp_path)
    set_row(tmp_path / PARQUET, 3, **values)
    (bad,) = [q for q in get_benchmark("egoschema").load(tmp_path).questions if q.error]
    assert bad.error.startswith(f"malformed row {WHERE}[3]: ") and message in bad.error


def test_an_answer_column_of_ints_is_read_as_the_strings_are(tmp_path):
    """The spec gives ``answer`` as an int: such a copy had 0/500 questions usable ("must be a string")."""
    write_egoschema(tmp_path)
    as_strings = {q.id: q.gold for q in get_benchmark("egoschema").load(tmp_path).questions if not q.error}

    def as_ints(rows):
        for row in rows:
            row["answer"] = int(row["answer"]) if row["answer"] is not None else None

    rewrite_parquet(tmp_path / PARQUET, as_ints)
    questions = get_benchmark("egoschema").load(tmp_path).questions
    assert {q.id: q.gold for q in questions if not q.error} == as_strings and len(as_strings) == 5
    set_row(tmp_path / PARQUET, 3, answer=-1)
    (bad,) = [q for q in get_benchmark("egoschema").load(tmp_path).questions if q.error and "-1" in q.error]
    assert bad.error == f"malformed row {WHERE}[3]: answer -1 is out of range for 5 options"


def test_an_option_without_its_letter_keeps_its_whole_text():
    options = unlettered(["A. one. two", "B) three", "four", "D.five", "E. six"])
    assert [o.text for o in options] == ["one. two", "three", "four", "five", "six"]


@pytest.mark.parametrize("video", ["/etc/passwd", "../../../../etc/passwd", "a/../../../b"])
def test_paths_leaving_the_data_folder_are_refused(tmp_path, video):
    write_egoschema(tmp_path)
    set_row(tmp_path / PARQUET, 0, video_idx=video)
    bad = get_benchmark("egoschema").load(tmp_path).questions[0]
    assert "escapes the data folder" in bad.error and f"{WHERE}[0]" in bad.error


def test_an_unreadable_parquet_is_a_problem_with_its_expected_questions(tmp_path):
    write_egoschema(tmp_path)
    (tmp_path / PARQUET).write_bytes(b"not a parquet")
    (problem,) = get_benchmark("egoschema").load(tmp_path).problems
    assert problem["file"].endswith(WHERE) and problem["expected"] == 500


def test_frame_rule_is_lmms_evals_32_uniform_frames(data):
    task = get_benchmark("egoschema")
    assert task.sampling == Sampling("uniform", 32)
    assert sampled_numbers(by_id(data)[FIRST], task.sampling) == uniform(20)


def test_prompt_is_lmms_evals_and_the_cloze_asks_the_question_alone(data):
    task = get_benchmark("egoschema")
    q = by_id(data)["egoschema/0074f737-11cb-497d-8d07-77c3a8127391"]
    assert task.prompt(q) == (
        "What is the overarching goal of c's actions in the kitchen?\nA. To repair the sink.\n"
        "B. To bake a cake for a party.\nC. To prepare a simple meal.\nD. To paint the cupboards.\n"
        "E. To reorganise the drawers."
    )
    assert task.cloze_prompt(q) == "Question: What is the overarching goal of c's actions in the kitchen?"


def test_hub_source_fetches_the_subset_only_and_the_full_set_is_not_counted(tmp_path):
    task = get_benchmark("egoschema")
    source = task.hub()
    assert (source.repo, source.config, source.mirrors) == ("lmms-lab/egoschema", "Subset", ("lmms-eval/egoschema",))
    assert source.allow_patterns[0] == "Subset/*" and not any(
        p.startswith(("MC", "GENERATION")) for p in source.allow_patterns
    )
    assert task.expected() == {"subset": 500}
    assert status(task, tmp_path).endswith("full set's 5,031 answers are not public: not scored)")


def test_prepare_verifies_counts_and_names_unreadable_media(data):
    task = get_benchmark("egoschema")
    result = verify(task, data, workers=0)
    assert result.categories == {"subset": (10, 5, 500)}  # 3 failed to load, 2 with unreadable videos
    assert sorted(u.split(":")[0] for u in result.unreadable) == [
        "egoschema/03c1d4e5-6f70-4a81-92b3-c4d5e6f70819",
        "egoschema/04d2e5f6-7a81-4b92-a3c4-d5e6f7081920",
    ]
    # one video is missing (counted without decoding), the other is there but unreadable (found by the probe)
    assert status(task, data).startswith("6/500 questions usable; 1 media file(s) missing; the 500-question subset")
